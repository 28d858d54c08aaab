//! Two clusters, each a Ferry reflector with two GoBGP clients, joined by
//! iBGP between the reflectors.

use ferry_tests::{require_root, Ferry, GoBgp, Lan, Netns};

use super::{gobgp_rib, gobgp_rib_with, type5, RMAC};

fn cluster_config(id: &str, allow: &str, other_rr: &str) -> String {
    format!(
        r#"
router-id = "{id}"
local-as = 64512
cluster-id = "{id}"
[[group]]
name = "workers"
local-address = "{id}"
route-reflector-client = true
allow = ["{allow}"]
[[group]]
name = "inter-cluster"
local-address = "{id}"
neighbors = ["{other_rr}"]
"#
    )
}

pub(crate) fn two_clusters_exchange_routes_through_their_reflectors() {
    require_root("two_clusters_exchange_routes_through_their_reflectors");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let nodes: Vec<(Netns, &str)> = [
        "10.10.25.42",
        "10.10.93.12",
        "10.10.29.243",
        "10.20.63.45",
        "10.20.9.206",
        "10.20.68.97",
    ]
    .into_iter()
    .map(|a| (Netns::new("fc"), a))
    .collect();
    for (ns, a) in &nodes {
        lan.attach(ns, "eth0", &format!("{a}/8"));
    }
    let rr1 = Ferry::start(
        &nodes[0].0,
        dir.path(),
        "rr1",
        &cluster_config("10.10.25.42", "10.10.0.0/16", "10.20.63.45"),
    );
    let rr2 = Ferry::start(
        &nodes[3].0,
        dir.path(),
        "rr2",
        &cluster_config("10.20.63.45", "10.20.0.0/16", "10.10.25.42"),
    );
    let clients: Vec<GoBgp> = [1, 2, 4, 5]
        .into_iter()
        .map(|i| {
            let rr = if i < 3 { "10.10.25.42" } else { "10.20.63.45" };
            GoBgp::start(&nodes[i].0, dir.path(), nodes[i].1, &[rr])
        })
        .collect();
    rr1.wait_established(&["10.10.93.12", "10.10.29.243", "10.20.63.45"]);
    rr2.wait_established(&["10.20.9.206", "10.20.68.97", "10.10.25.42"]);

    // alpine-cluster-1's prefix from a worker of cluster 1, and
    // alpine-cluster-2's from a worker of cluster 2.
    gobgp_rib(
        &clients[0],
        &type5("10.10.93.12", "1.1.1.0/30", "0.0.0.0", RMAC),
    );
    gobgp_rib(
        &clients[2],
        &type5("10.20.9.206", "1.2.2.0/30", "0.0.0.0", "aa:bb:cc:dd:02:02"),
    );

    for (c, want) in [
        (&clients[2], "1.1.1.0"),
        (&clients[3], "1.1.1.0"),
        (&clients[0], "1.2.2.0"),
        (&clients[1], "1.2.2.0"),
    ] {
        let rib = gobgp_rib_with(c, "evpn", want, 30, "the other cluster's route");
        // Two reflections: both cluster ids in CLUSTER_LIST.
        assert!(
            rib.contains("10.10.25.42") && rib.contains("10.20.63.45"),
            "{rib}"
        );
    }
    // The client that sent a route in cluster 2 sees it back neither from
    // its own reflector nor through the other cluster (no loop).
    let own: serde_json::Value = serde_json::from_str(&clients[2].rib("evpn")).unwrap();
    let paths = own["[type:Prefix][rd:10.20.9.206:1][etag:0][prefix:1.2.2.0/30]"]
        .as_array()
        .unwrap();
    assert_eq!(paths.len(), 1, "{own}");
    assert!(
        paths[0].get("neighbor-ip").is_none(),
        "its own route came back: {own}"
    );
    // Each reflector holds exactly one path per route: the loop check
    // (cluster id in CLUSTER_LIST) keeps the returning copy out of use.
    let r1 = rr1.routes(&["--family", "evpn"]);
    let best: Vec<&serde_json::Value> = r1.iter().filter(|r| r["best"] == true).collect();
    assert_eq!(best.len(), 2, "{r1:?}");
    drop(clients);
}
