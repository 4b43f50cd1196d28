//! `RegistryConfig` from TOML (as the binary reads it, through tars-bootstrap): defaults, the
//! example file, unknown fields.

use tars_registry::{GroupRule, RegistryConfig, DEFAULT_PORT};

#[test]
fn empty_toml_gives_the_defaults() {
    let config: RegistryConfig = tars_bootstrap::parse_config("").expect("empty config");
    assert_eq!(config, RegistryConfig::default());
    assert_eq!(config.port, DEFAULT_PORT);
    assert_eq!(DEFAULT_PORT, 17890);
    assert_eq!(config.net_threads, 1);
    assert!(config.groups.is_empty());
}

#[test]
fn example_config_parses() {
    let text = include_str!("../registry.example.toml");
    let config: RegistryConfig = tars_bootstrap::parse_config(text).expect("example config");
    assert_eq!(config.port, DEFAULT_PORT);
    assert_eq!(config.heartbeat_timeout_ms, 30_000);
    assert_eq!(
        config.watch_max_held,
        RegistryConfig::default().watch_max_held
    );
    assert_eq!(config.watch_max_wait_ms, 20_000);
    assert_eq!(
        config.groups,
        [GroupRule {
            group: "sz".into(),
            ip_prefixes: vec!["10.1.".into(), "10.2.".into()],
        }]
    );
}

#[test]
fn unknown_fields_are_rejected() {
    assert!(tars_bootstrap::parse_config::<RegistryConfig>("prot = 1").is_err());
}
