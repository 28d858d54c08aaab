//! The kernel kept in sync: remote best paths installed and withdrawn,
//! the repair pass, and a restart that keeps what it learned until
//! End-of-RIB.

use super::*;

#[tokio::test]
async fn a_remote_best_path_installs_route_neighbour_and_fdb_and_withdrawal_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let k = FakeKernel::new(Backend::RuleTable);
    let (mut w, _core) = start(&k, dir.path(), BLUE).await;
    let bare = k.objects();
    let changes = vec![
        remote(N2, "1.2.2.0/30", "11:11"),
        remote(N2, "abcd::102:200/126", "11:11"),
        // Another VRF's route target: not imported.
        remote(N3, "9.9.9.0/24", "22:22"),
    ];
    w.handle(WorkerEvent::Remote(changes)).await;
    let mapped = "::ffff:10.10.29.243";
    assert_eq!(
        hops(&k, "1.2.2.0/30"),
        vec![(ip(N2), "br-10002".into(), true)]
    );
    assert_eq!(
        hops(&k, "abcd::102:200/126"),
        vec![(ip(mapped), "br-10002".into(), true)]
    );
    assert!(k.route(TABLE, "9.9.9.0/24").is_none());
    assert_eq!(k.neighbour("br-10002", N2), Some(rmac(N2)));
    assert_eq!(k.neighbour("br-10002", mapped), Some(rmac(N2)));
    assert_eq!(k.fdb("vx-10002"), vec![(rmac(N2), N2.parse().unwrap())]);
    assert_eq!(vrfs(&mut w).await[0].installed, 2);

    // A second VTEP for the prefix: one ECMP route, its own entries.
    w.handle(WorkerEvent::Remote(vec![remote(N3, "1.2.2.0/30", "11:11")]))
        .await;
    assert_eq!(
        hops(&k, "1.2.2.0/30"),
        vec![
            (ip(N2), "br-10002".into(), true),
            (ip(N3), "br-10002".into(), true)
        ]
    );
    assert_eq!(k.neighbour("br-10002", N3), Some(rmac(N3)));
    assert_eq!(k.fdb("vx-10002").len(), 2);

    // Withdrawn: each next hop, then the route and what only it used.
    w.handle(WorkerEvent::Remote(vec![withdrawn(N2, "1.2.2.0/30")]))
        .await;
    assert_eq!(
        hops(&k, "1.2.2.0/30"),
        vec![(ip(N3), "br-10002".into(), true)]
    );
    // N2's IPv4 neighbour entry was that route's alone; its FDB entry is
    // shared with the IPv6 route (through the IPv4-mapped neighbour).
    assert!(k.neighbour("br-10002", N2).is_none());
    assert_eq!(k.neighbour("br-10002", mapped), Some(rmac(N2)));
    assert!(k.fdb("vx-10002").contains(&(rmac(N2), N2.parse().unwrap())));
    let gone = vec![
        withdrawn(N3, "1.2.2.0/30"),
        withdrawn(N2, "abcd::102:200/126"),
    ];
    w.handle(WorkerEvent::Remote(gone)).await;
    assert!(k.route(TABLE, "1.2.2.0/30").is_none());
    assert!(k.neighbour("br-10002", mapped).is_none());
    assert!(k.fdb("vx-10002").is_empty());
    assert_eq!(k.objects(), bare);
    assert_eq!(vrfs(&mut w).await[0].installed, 0);
}

#[tokio::test]
async fn a_repair_pass_restores_what_something_else_removed_and_counts_it() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let k = FakeKernel::new(backend);
        let fy = host("c1");
        k.add_veth(&fy);
        let (mut w, mut core) = start(&k, dir.path(), "").await;
        attach(&mut w, pod("c1", &["1.1.1.2/30", "abcd::1.1.1.2/126"]))
            .await
            .unwrap();
        w.handle(WorkerEvent::Remote(vec![remote(N2, "1.2.2.0/30", "11:11")]))
            .await;
        originations(&mut core);
        let repairs = |v: Vec<VrfInfo>| v[0].kernel_repairs;

        // Intact state is left alone.
        let intact = k.objects();
        k.clear_calls();
        w.repair().await;
        assert_eq!(k.writes(), vec![]);
        assert_eq!(repairs(vrfs(&mut w).await), 0);

        let rule_table = backend == Backend::RuleTable;
        if rule_table {
            k.ip_rule_del(false, &fy);
        }
        k.ip_route_del(TABLE, "1.1.1.0/30");
        k.ip_neigh_del(&fy, "1.1.1.2");
        k.ip_route_del(TABLE, "1.2.2.0/30");
        k.ip_neigh_del("br-10002", N2);
        k.bridge_fdb_del("vx-10002", rmac(N2), N2);
        assert_ne!(k.objects(), intact);
        let check = Request::CheckPod {
            container_id: "c1".into(),
            ifname: "net1".into(),
        };
        let e = ask(&mut w, check).await.unwrap_err();
        assert!(
            e.contains("route 1.1.1.0/30 dev") && e.contains("neighbour 1.1.1.2"),
            "{e}"
        );
        w.repair().await;
        assert_eq!(k.objects(), intact);
        let n = 5 + u64::from(rule_table);
        assert_eq!(repairs(vrfs(&mut w).await), n);

        // The bridge removed outright comes back with the routes through it.
        k.ip_link_del("br-10002");
        assert!(k.route(TABLE, "1.2.2.0/30").is_none());
        w.repair().await;
        assert_eq!(k.objects(), intact);
        // The bridge, the route and the neighbour entry.
        assert_eq!(repairs(vrfs(&mut w).await), n + 3);
        if !rule_table {
            k.ip_link_set_nomaster(&fy);
            w.repair().await;
            assert_eq!(k.objects(), intact);
            assert_eq!(repairs(vrfs(&mut w).await), n + 4);
        }
        assert!(
            originations(&mut core).is_empty(),
            "repairs originate nothing"
        );

        // The pod's link gone (no CNI DEL): the pod is detached.
        k.ip_link_del(&fy);
        let before = repairs(vrfs(&mut w).await);
        w.repair().await;
        let v = vrfs(&mut w).await;
        assert!(v[0].pods.is_empty(), "{:?}", v[0].pods);
        assert_eq!(v[0].kernel_repairs, before);
        assert!(k.rules_of(&fy).is_empty());
        let rd = format!("{NODE}:1");
        assert_eq!(
            originations(&mut core),
            [
                format!("-{rd} 1.1.1.0/30"),
                format!("-{rd} abcd::101:100/126")
            ]
        );
    }
}

#[tokio::test]
async fn a_restart_keeps_what_was_learned_until_end_of_rib_then_sweeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let k = FakeKernel::new(Backend::RuleTable);
    let (one, two) = (host("pod-one"), host("pod-two"));
    k.add_veth(&one);
    k.add_veth(&two);
    {
        let (mut w, _core) = start(&k, dir.path(), "").await;
        attach(&mut w, pod("pod-one", &["1.1.1.2/30"]))
            .await
            .unwrap();
        attach(&mut w, pod("pod-two", &["1.1.1.6/30"]))
            .await
            .unwrap();
        let routes = vec![
            remote(N2, "1.2.2.0/30", "11:11"),
            remote(N3, "1.3.3.0/30", "11:11"),
        ];
        w.handle(WorkerEvent::Remote(routes)).await;
        // The worker is killed here.
    }
    // While it is down: pod two goes away without a CNI DEL, a device of
    // a VRF that no longer exists, a route of a table no VRF has, and a
    // route that is not Ferry's in the VRF's table.
    k.ip_link_del(&two);
    k.add_link("br-777", LinkKind::Bridge);
    k.ip_route_add(4242, "7.7.7.0/24", "eth0", RTPROT_FERRY);
    k.ip_route_add(TABLE, "9.9.9.0/24", "lo", 3);
    let before = k.objects();

    let (mut w, mut core) = start(&k, dir.path(), "").await;
    let rd = format!("{NODE}:1");
    assert_eq!(originations(&mut core), [format!("+{rd} 1.1.1.0/30")]);
    assert_eq!(vrfs(&mut w).await[0].pods, ["pod-one/net1"]);
    let saved = std::fs::read_to_string(dir.path().join("worker.json")).unwrap();
    assert!(
        saved.contains("pod-one") && !saved.contains("pod-two"),
        "{saved}"
    );
    let m = k.model();
    assert!(!m.links.contains_key("br-777"), "stale device removed");
    let stale_table = "route table 4242 unicast 7.7.7.0/24 dev eth0 proto 199".to_string();
    let foreign = format!("route table {TABLE} unicast 9.9.9.0/24 dev lo proto 3");
    assert!(!k.objects().contains(&stale_table));
    assert!(k.objects().contains(&foreign), "foreign route kept");
    // The rest is as it was, remote routes and their entries included.
    let expected: Vec<String> = before
        .into_iter()
        .filter(|l| !l.contains("br-777") && !l.contains(&two) && *l != stale_table)
        .collect();
    assert_eq!(k.objects(), expected);
    assert!(k.rules_of(&two).is_empty());

    // Until End-of-RIB both remote routes stay, re-learned or not.
    w.handle(WorkerEvent::Remote(vec![remote(N2, "1.2.2.0/30", "11:11")]))
        .await;
    assert!(k.route(TABLE, "1.3.3.0/30").is_some());
    assert!(k.neighbour("br-10002", N3).is_some());
    w.handle(WorkerEvent::EndOfRib).await;
    assert!(k.route(TABLE, "1.3.3.0/30").is_none());
    assert!(k.neighbour("br-10002", N3).is_none());
    assert_eq!(k.fdb("vx-10002"), vec![(rmac(N2), N2.parse().unwrap())]);
    assert_eq!(
        hops(&k, "1.2.2.0/30"),
        vec![(ip(N2), "br-10002".into(), true)]
    );
    assert!(k.route(TABLE, "1.1.1.0/30").is_some());
    assert!(k.objects().contains(&foreign));
    // Swept once: what comes later is not the restart's.
    k.ip_route_add(TABLE, "5.5.5.0/24", "br-10002", RTPROT_FERRY);
    w.handle(WorkerEvent::EndOfRib).await;
    w.handle(WorkerEvent::StaleTimer).await;
    assert!(k.route(TABLE, "5.5.5.0/24").is_some());
}
