//! The `[cluster]` section of the example configuration, uncommented, is a valid cluster
//! configuration with the documented values; unknown keys are refused.
#![cfg(feature = "cluster")]

use tarsd::NodeConfig;

fn example_with_cluster() -> String {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tarsd.example.toml"))
            .expect("example config");
    let start = example
        .find("# [cluster]")
        .expect("a [cluster] section in the example");
    let (head, cluster) = example.split_at(start);
    let uncommented: Vec<&str> = cluster
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect();
    format!("{head}{}\n", uncommented.join("\n"))
}

#[test]
fn the_example_cluster_section_parses_with_its_documented_values() {
    let config = NodeConfig::from_toml(&example_with_cluster()).expect("valid");
    let cluster = config.cluster.expect("cluster mode");
    assert_eq!(cluster.node_id, "n1");
    assert_eq!(cluster.etcd.len(), 3);
    assert_eq!(cluster.lease_ttl_ms, 1000);
    assert_eq!(cluster.manager.period_ms, 250);
    assert_eq!(cluster.scheduler.initial_fragments, 6);
    assert_eq!(cluster.scheduler.autogrow_window_ms, 60_000);
}

#[test]
fn unknown_cluster_keys_are_refused() {
    let text = example_with_cluster().replace("node_id = \"n1\"", "node_idd = \"n1\"");
    assert!(NodeConfig::from_toml(&text).is_err());
}
