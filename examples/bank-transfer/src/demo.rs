//! Everything in one process, for CI: a `tarsd` node (registry + coordinator, durable in a
//! temporary directory, free ports on 127.0.0.1), both account services registered with it,
//! and the TM running a [`Plan`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tarsd::{Node, NodeConfig};

use crate::account::{AccountConfig, AccountServer};
use crate::transfer::{self, BankClient, Plan, Summary};

/// The registry's object name.
pub const REGISTRY_OBJ: &str = "tars.tarsregistry.RegistryObj";
/// The coordinator's object name.
pub const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";

/// What the in-process demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The transfers and their faults.
    pub plan: Plan,
    /// The money each account starts with.
    pub initial_balance: i64,
    /// Where the node keeps its data (default: a temporary directory, removed afterwards).
    pub data_dir: Option<PathBuf>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            plan: Plan {
                transfers: 200,
                fail_credit_every: 7,
                crash_tm_every: 11,
                fail_confirm_every: 5,
                late_try_every: 100,
                late_try_delay: Duration::from_millis(1000),
                ..Plan::default()
            },
            initial_balance: 1_000_000,
            data_dir: None,
        }
    }
}

/// The node configuration of the demo: data in `data_dir`, free ports on 127.0.0.1, and fast
/// background periods (retries every 50 ms, timeouts checked every 50 ms).
pub fn node_config(data_dir: PathBuf) -> NodeConfig {
    let mut config = NodeConfig {
        data_dir: Some(data_dir),
        host: Some("127.0.0.1".into()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.coordinator.phase_two_timeout_ms = 1000;
    config.coordinator.retry_period_ms = 50;
    config.coordinator.max_backoff_ms = 200;
    config.coordinator.timeout_check_ms = 50;
    config.coordinator.async_commit_ms = 50;
    config
}

/// Starts a node and both accounts, runs the plan, checks the invariants and shuts
/// everything down. The summary says whether the invariants held.
pub fn run_demo(config: &DemoConfig) -> anyhow::Result<Summary> {
    let temp = tempfile::tempdir().context("temporary directory")?;
    let data_dir = config
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("tars-data"));
    let node = Node::start(&node_config(data_dir)).context("starting the tarsd node")?;
    let registry_port = node.registry_addr().context("registry address")?.port();
    let coordinator_port = node
        .coordinator_addr()
        .context("coordinator address")?
        .port();
    let registry = format!("{REGISTRY_OBJ}@tcp -h 127.0.0.1 -p {registry_port}");
    let coordinator = format!("{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {coordinator_port}");

    let accounts = ["A", "B"]
        .into_iter()
        .map(|name| {
            AccountServer::start(&AccountConfig::new(
                name,
                config.initial_balance,
                registry.clone(),
                coordinator.clone(),
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = BankClient::connect(&registry, &coordinator)?;
    let outcome = client
        .wait_ready(Duration::from_secs(10))
        .and_then(|()| transfer::run(&client, &config.plan));
    for account in accounts {
        account.shutdown();
    }
    node.shutdown();
    outcome
}
