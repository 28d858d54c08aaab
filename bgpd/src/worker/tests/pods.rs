//! Pods: attaching one installs its objects and originates its prefixes,
//! a refused attachment changes nothing, detaching removes everything of
//! it.

use super::*;

#[tokio::test]
async fn attaching_a_pod_installs_its_objects_and_originates_its_prefixes() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let k = FakeKernel::new(backend);
        let fy = host("pod-one");
        k.add_veth(&fy);
        let (mut w, mut core) = start(&k, dir.path(), "").await;
        assert!(k.route(TABLE, "0.0.0.0/0").is_none(), "no VRF yet");
        let done = attach(&mut w, pod("pod-one", &["1.1.1.2/30", "abcd::1.1.1.2/126"]))
            .await
            .unwrap();
        assert!(format!("{done:?}").contains("(1.1.1.0/30, abcd::101:100/126)"));

        let m = k.model();
        let link = |n: &str| m.links.get(n).unwrap_or_else(|| panic!("no {n}"));
        let br = link("br-10002");
        assert_eq!(
            (&br.kind, br.mac, br.up),
            (&LinkKind::Bridge, router_mac(NODE), true)
        );
        let vx = link("vx-10002");
        let local = IpAddr::V4(NODE);
        let want = LinkKind::Vxlan {
            vni: 10002,
            local,
            port: 4789,
            learning: false,
        };
        assert_eq!((&vx.kind, vx.controller), (&want, Some(br.index)));
        assert!(link(&fy).up);
        for p in ["0.0.0.0/0", "::/0"] {
            assert_eq!(k.route(TABLE, p).unwrap().kind, "unreachable");
        }
        assert_eq!(hops(&k, "1.1.1.0/30"), vec![(None, fy.clone(), false)]);
        assert_eq!(
            hops(&k, "abcd::101:100/126"),
            vec![(None, fy.clone(), false)]
        );
        assert_eq!(k.neighbour(&fy, "1.1.1.2"), Some(POD_MAC));
        assert_eq!(k.neighbour(&fy, "abcd::1.1.1.2"), Some(POD_MAC));
        let both = vec![(false, TABLE), (true, TABLE)];
        match backend {
            Backend::RuleTable => {
                assert_eq!(k.rules_of(&fy), both);
                assert_eq!(k.rules_of("br-10002"), both);
                assert!(!m.links.contains_key("vrf-blue"));
            }
            Backend::VrfDevice => {
                assert!(m.rules.is_empty(), "{:?}", m.rules);
                let vrf = link("vrf-blue");
                assert_eq!(vrf.kind, LinkKind::Vrf { table: TABLE });
                assert_eq!(br.controller, Some(vrf.index));
                assert_eq!(link(&fy).controller, Some(vrf.index));
            }
        }

        // Each prefix goes to the core once, as a Type-5 route of blue.
        let mut seen = Vec::new();
        while let Ok(ev) = core.try_recv() {
            let CoreEvent::Originate {
                nlri,
                attrs,
                next_hop,
            } = ev
            else {
                panic!("{ev:?}");
            };
            let Nlri::Evpn(EvpnRoute::IpPrefix(r)) = nlri else {
                panic!("{nlri:?}");
            };
            assert_eq!(r.rd.to_string(), format!("{NODE}:1"));
            assert_eq!(r.label.as_vni(), 10002);
            assert!(next_hop == NextHop::from_addr(local));
            let ext = &attrs.extended_communities;
            assert!(ext.contains(&ExtendedCommunity::route_target("11:11".parse().unwrap())));
            assert!(ext.contains(&ExtendedCommunity::router_mac(router_mac(NODE))));
            seen.push(r.prefix.to_string());
        }
        assert_eq!(seen, ["1.1.1.0/30", "abcd::101:100/126"]);

        let v = vrfs(&mut w).await;
        assert_eq!((v[0].name.as_str(), v[0].source.as_str()), ("blue", "cni"));
        assert_eq!(v[0].pods, ["pod-one/net1"]);
        assert_eq!(v[0].backend, backend.name());
        let check = Request::CheckPod {
            container_id: "pod-one".into(),
            ifname: "net1".into(),
        };
        ask(&mut w, check).await.unwrap();
        let saved = std::fs::read_to_string(dir.path().join("worker.json")).unwrap();
        assert!(saved.contains("pod-one") && saved.contains(&fy), "{saved}");
    }
}

/// A request for container `x` in VRF blue, changed by `f`.
fn for_x(f: impl FnOnce(&mut PodAttach)) -> PodAttach {
    let mut a = pod("x", &["1.1.2.2/30"]);
    f(&mut a);
    a
}

/// The request is refused with an answer that says `needles`, and the
/// kernel is neither changed nor asked to change.
async fn refused(
    w: &mut Worker<FakeKernel>,
    k: &FakeKernel,
    core: &mut Events,
    a: PodAttach,
    needles: &[&str],
) {
    let before = k.model();
    k.clear_calls();
    let e = attach(w, a.clone()).await.unwrap_err();
    for n in needles {
        assert!(e.contains(n), "{a:?}: {e:?} should say {n:?}");
    }
    assert_eq!(k.model(), before, "{a:?}");
    assert_eq!(k.writes(), vec![], "{a:?}");
    assert!(originations(core).is_empty());
}

#[tokio::test]
async fn a_refused_attach_pod_leaves_the_kernel_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let k = FakeKernel::new(Backend::RuleTable);
    k.add_veth(&host("pod-one"));
    let (mut w, mut core) = start(&k, dir.path(), "").await;
    attach(&mut w, pod("pod-one", &["1.1.1.2/30"]))
        .await
        .unwrap();
    originations(&mut core);
    let (w, core) = (&mut w, &mut core);
    let x = host("x");

    // Only the veth Ferry's CNI plugin made for the container, its peer
    // in the pod's namespace.
    let veth = |peer_elsewhere| LinkKind::Veth { peer_elsewhere };
    let links = [
        (None, "does not exist"),
        (Some(LinkKind::Bridge), "not a veth"),
        (
            Some(veth(false)),
            "peer is not in a pod's network namespace",
        ),
        (Some(veth(true)), ""),
    ];
    for (link, needle) in links {
        if k.model().links.contains_key(&x) {
            k.ip_link_del(&x);
        }
        if let Some(kind) = link {
            k.add_link(&x, kind);
        }
        if !needle.is_empty() {
            refused(w, &k, core, for_x(|_| {}), &[&x, needle]).await;
        }
    }
    let other_names = [
        for_x(|a| a.host_ifname = "lo".into()),
        // pod-one's link under another container's name.
        for_x(|a| a.host_ifname = host("pod-one")),
    ];
    for a in other_names {
        let name = a.host_ifname.clone();
        refused(
            w,
            &k,
            core,
            a,
            &[
                "host-ifname",
                &name,
                "is not the link Ferry makes for x/net1",
            ],
        )
        .await;
    }

    // The right veth, and what the request says is wrong.
    for bad in [
        "0.0.0.0/0",
        "::/0",
        "127.0.0.1/8",
        "224.0.0.1/32",
        "1.0.0.1/8",
        "169.254.1.1/16",
        "fe80::1/64",
        "255.255.255.255/32",
    ] {
        let a = for_x(|a| a.addresses = vec![bad.parse().unwrap()]);
        refused(w, &k, core, a, &[bad, "addresses[0]"]).await;
    }
    let cases: Vec<(PodAttach, &[&str])> = vec![
        (for_x(|a| a.addresses.clear()), &["no address"]),
        (
            for_x(|a| a.addresses = vec!["1.1.1.1/30".parse().unwrap()]),
            &["overlaps 1.1.1.2/30"],
        ),
        (
            for_x(|a| a.mac = MacAddress([1, 0, 0x5e, 0, 0, 1])),
            &["not a unicast address"],
        ),
        (
            for_x(|a| a.ifname = "../x".into()),
            &["not an interface name"],
        ),
        // A VRF this node does not know, without its route target.
        (
            for_x(|a| {
                a.vrf = "green".into();
                a.vni = 30003;
                a.route_target = None;
            }),
            &["green", "vrfTarget is required"],
        ),
        // Blue as this node has it, or another VRF with its VNI.
        (for_x(|a| a.vni = 30003), &["blue", "10002", "30003"]),
        (
            for_x(|a| a.route_target = Some("22:22".into())),
            &["route targets", "22:22"],
        ),
        (
            for_x(|a| a.vrf = "red".into()),
            &["already the VNI of VRF \"blue\""],
        ),
    ];
    for (a, needles) in cases {
        refused(w, &k, core, a, needles).await;
    }
    assert_eq!(vrfs(w).await[0].pods, ["pod-one/net1"]);

    // The kernel refuses a pod entry of a new VRF: the pod's objects and
    // the VRF are taken back.
    let before = k.objects();
    k.fail_next(Fault::Neighbour);
    let red = PodAttach {
        vrf: "red".into(),
        vni: 20002,
        route_target: Some("22:22".into()),
        ..pod("x", &["1.1.1.2/30"])
    };
    let e = attach(w, red).await.unwrap_err();
    assert!(
        e.contains("neighbour 1.1.1.2") && e.contains("Invalid argument"),
        "{e}"
    );
    assert!(k.writes().contains(&Call::RemoveVrf("red".into())));
    assert_eq!(k.objects(), before);
    let v = vrfs(w).await;
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].pods, ["pod-one/net1"]);
    assert!(originations(core).is_empty());
    let saved = std::fs::read_to_string(dir.path().join("worker.json")).unwrap();
    assert!(!saved.contains("red") && !saved.contains(&x), "{saved}");
    // And the right request is accepted.
    attach(w, pod("x", &["1.1.2.2/30"])).await.unwrap();
}

#[tokio::test]
async fn detaching_a_pod_removes_everything_of_it() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let k = FakeKernel::new(backend);
        let (one, two) = (host("pod-one"), host("pod-two"));
        k.add_veth(&one);
        k.add_veth(&two);
        let (mut w, mut core) = start(&k, dir.path(), "").await;
        attach(&mut w, pod("pod-one", &["1.1.1.2/30"]))
            .await
            .unwrap();
        let without_two = |objects: Vec<String>| -> Vec<String> {
            objects.into_iter().filter(|l| !l.contains(&two)).collect()
        };
        let with_one = without_two(k.objects());
        attach(&mut w, pod("pod-two", &["1.1.1.6/30", "abcd::1.1.1.6/126"]))
            .await
            .unwrap();
        assert!(k.objects().iter().filter(|l| l.contains(&two)).count() > 3);
        originations(&mut core);

        detach(&mut w, "pod-two").await.unwrap();
        let left: Vec<String> = k
            .objects()
            .into_iter()
            .filter(|l| l.contains(&two))
            .collect();
        assert_eq!(left.len(), 1, "only its link: {left:?}");
        assert!(left[0].starts_with(&format!("link {two} ")), "{left:?}");
        assert_eq!(without_two(k.objects()), with_one);
        let rd = format!("{NODE}:1");
        assert_eq!(
            originations(&mut core),
            [
                format!("-{rd} 1.1.1.4/30"),
                format!("-{rd} abcd::101:104/126")
            ]
        );
        assert_eq!(vrfs(&mut w).await[0].pods, ["pod-one/net1"]);
        let saved = std::fs::read_to_string(dir.path().join("worker.json")).unwrap();
        assert!(!saved.contains("pod-two"), "{saved}");
        let again = detach(&mut w, "pod-two").await.unwrap();
        assert!(format!("{again:?}").contains("nothing attached"));

        // The last pod: its VRF stays, nothing of Ferry's names its link.
        detach(&mut w, "pod-one").await.unwrap();
        let named: Vec<String> = k
            .objects()
            .into_iter()
            .filter(|l| l.contains(&one))
            .collect();
        assert_eq!(named.len(), 1, "{named:?}");
        assert!(k.route(TABLE, "0.0.0.0/0").is_some());
        assert!(k.model().links.contains_key("br-10002"));
    }
}
