//! The attacks on a node's registry and coordinator, turned around: with `[security]
//! auth_keys` and enforced access rules, a caller can change only what its principal is
//! allowed to — no fake or removed registrations of someone else's object, no heartbeats as
//! another instance, no ending, reporting or joining another party's transaction — and an
//! anonymous caller is not served at all.

use std::time::Duration;

use tars::client::{CallOptions, Communicator};
use tars_coordinator::access::BranchRule;
use tars_protocols::tarsrs::{DynamicMeta, HealthStatus, InstanceFilter, RegistryProxy};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, CoordinatorProxy, GlobalStatus, ResultCode,
    TransactionExceptionCode as Code,
};
use tars_registry::servant::ACCESS_DENIED;
use tars_registry::WriteRule;
use tarsd::{Node, NodeConfig};

const COORDINATOR_OBJ: &str = "tars.tarscoordinator.CoordinatorObj";
const REGISTRY_OBJ: &str = "tars.tarsregistry.RegistryObj";

fn secured_node(dir: &std::path::Path) -> Node {
    let mut config = NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    for (ak, sk) in [
        ("bank", "bank-secret"),
        ("orders", "orders-secret"),
        ("stock", "stock-secret"),
        ("mallory", "mallory-secret"),
        ("ops", "ops-secret"),
    ] {
        config.security.auth_keys.insert(ak.into(), sk.into());
    }
    config.registry.access.enforce = true;
    config.registry.access.admins = vec!["ops".into()];
    for (principal, prefix) in [("bank", "Bank."), ("mallory", "Mallory.")] {
        config.registry.access.writers.push(WriteRule {
            principal: principal.into(),
            prefix: prefix.into(),
        });
    }
    config.coordinator.access.enforce = true;
    config.coordinator.access.admins = vec!["ops".into()];
    config.coordinator.access.branch_rules.push(BranchRule {
        principal: "stock".into(),
        joins: vec!["orders".into()],
    });
    Node::start(&config).expect("node")
}

/// A proxy to `obj` on `port` that authenticates as `key` (anonymous when `None`).
fn proxy_as(key: Option<&str>, obj: &str, port: u16) -> tars::client::ServantProxy {
    let communicator = match key {
        Some(ak) => Communicator::new().with_auth_key(ak, format!("{ak}-secret")),
        None => Communicator::new(),
    };
    communicator
        .string_to_proxy(&format!("{obj}@tcp -h 127.0.0.1 -p {port} -t 3000 -e 1"))
        .expect("proxy")
}

fn registry_as(key: Option<&str>, node: &Node) -> RegistryProxy {
    let port = node.registry_addr().expect("registry").port();
    RegistryProxy::new(proxy_as(key, REGISTRY_OBJ, port))
}

fn coordinator_as(key: &str, node: &Node) -> CoordinatorProxy {
    let port = node.coordinator_addr().expect("coordinator").port();
    CoordinatorProxy::new(proxy_as(Some(key), COORDINATOR_OBJ, port))
}

fn listed(registry: &RegistryProxy, obj: &str) -> Vec<(String, i32, HealthStatus)> {
    let filter = InstanceFilter {
        obj_name: obj.into(),
        include_inactive: true,
        ..InstanceFilter::default()
    };
    let (code, instances) = registry.list(&filter).expect("list");
    assert_eq!(code, 0);
    instances
        .into_iter()
        .map(|i| (i.endpoint.host.to_string(), i.endpoint.port, i.load.health))
        .collect()
}

#[test]
fn registry_writes_need_a_principal_allowed_for_the_object() {
    let dir = tempfile::tempdir().expect("dir");
    let node = secured_node(dir.path());
    let bank = registry_as(Some("bank"), &node);
    let mallory = registry_as(Some("mallory"), &node);
    let ops = registry_as(Some("ops"), &node);

    // The node registered its coordinator itself; nobody but an admin may touch it.
    let real = listed(&bank, COORDINATOR_OBJ);
    assert_eq!(real.len(), 1, "{real:?}");
    let (host, port, _) = real[0].clone();
    let fake = tars_test_support::instance(COORDINATOR_OBJ, "10.66.66.66", 6666);
    assert_eq!(
        mallory.register_instance(&fake).expect("call"),
        ACCESS_DENIED
    );
    assert_eq!(
        mallory
            .deregister(COORDINATOR_OBJ, &host, port)
            .expect("call"),
        ACCESS_DENIED
    );
    let sick = DynamicMeta {
        health: HealthStatus::UNHEALTHY,
        ..DynamicMeta::default()
    };
    assert_eq!(
        mallory
            .heartbeat(COORDINATOR_OBJ, &host, port, &sick)
            .expect("call"),
        ACCESS_DENIED
    );
    assert_eq!(
        listed(&bank, COORDINATOR_OBJ),
        real,
        "no fake, nothing removed, health unchanged"
    );

    // Each writes what its rule allows.
    let account = tars_test_support::instance("Bank.Account.AccountObj", "127.0.0.1", 7001);
    assert_eq!(bank.register_instance(&account).expect("call"), 0);
    assert_eq!(
        mallory.register_instance(&account).expect("call"),
        ACCESS_DENIED,
        "Mallory. is not a prefix of Bank.Account.AccountObj"
    );
    assert_eq!(
        mallory
            .heartbeat("Bank.Account.AccountObj", "127.0.0.1", 7001, &sick)
            .expect("call"),
        ACCESS_DENIED
    );
    let own = tars_test_support::instance("Mallory.Shop.ShopObj", "127.0.0.1", 7002);
    assert_eq!(mallory.register_instance(&own).expect("call"), 0);
    assert_eq!(
        ops.deregister("Bank.Account.AccountObj", "127.0.0.1", 7001)
            .expect("call"),
        0,
        "an admin may"
    );

    // An anonymous caller is not served at all (its connection fails local authentication),
    // and a wrong secret is the same.
    let port = node.registry_addr().expect("registry").port();
    let opts = CallOptions::new().timeout(Duration::from_secs(2));
    assert!(proxy_as(None, REGISTRY_OBJ, port)
        .invoke_sync("list", tars::packet::ParamWriter::tars(), &opts)
        .is_err());
    let forged = RegistryProxy::new(
        Communicator::new()
            .with_auth_key("ops", "guessed")
            .string_to_proxy(&format!(
                "{REGISTRY_OBJ}@tcp -h 127.0.0.1 -p {port} -t 3000 -e 1"
            ))
            .expect("proxy"),
    );
    assert!(forged.register_instance(&fake).is_err());
    assert_eq!(listed(&bank, COORDINATOR_OBJ), real);
    node.shutdown();
}

#[test]
fn only_the_owner_or_an_admin_ends_a_transaction_and_only_allowed_principals_join_it() {
    let dir = tempfile::tempdir().expect("dir");
    let node = secured_node(dir.path());
    let orders = coordinator_as("orders", &node);
    let mallory = coordinator_as("mallory", &node);
    let stock = coordinator_as("stock", &node);
    let ops = coordinator_as("ops", &node);

    let (r, xid) = orders.begin("orders", "place", 60_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");

    let denied = |r: &tars_protocols::tarstx::TxResult| {
        assert_eq!(r.code, ResultCode::Failed, "{r:?}");
        assert_eq!(r.error, Code::AccessDenied, "{r:?}");
    };
    let (r, _) = mallory.rollback(&xid).expect("call");
    denied(&r);
    assert!(r.message.contains("mallory") && r.message.contains("orders"));
    let (r, _) = mallory.commit(&xid).expect("call");
    denied(&r);
    let (r, _) = mallory
        .global_report(&xid, GlobalStatus::Rollbacked)
        .expect("call");
    denied(&r);
    let (r, _) = mallory
        .branch_register(
            &xid,
            BranchType::TCC,
            "Mallory.Rm.ParticipantObj",
            "m",
            "",
            "",
        )
        .expect("call");
    denied(&r);
    // Reads stay open.
    let (r, status) = mallory.get_status(&xid).expect("call");
    assert_eq!((r.code, status), (ResultCode::Success, GlobalStatus::Begin));

    // A branch rule lets stock join orders' transactions (and report its branch).
    let (r, branch) = stock
        .branch_register(&xid, BranchType::AT, "jdbc:stock", "s", "t:1", "")
        .expect("call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let r = stock
        .branch_report(&xid, branch, BranchStatus::PhaseOne_Done, "")
        .expect("call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let r = mallory
        .branch_report(&xid, branch, BranchStatus::PhaseOne_Failed, "")
        .expect("call");
    denied(&r);

    // Orders' own transactions are orders' to end; ops (admin) may end anyone's.
    let (r, second) = orders.begin("orders", "second", 60_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    let (r, status) = ops.rollback(&second).expect("call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    assert_eq!(status, GlobalStatus::Rollbacked);
    let (r, status) = orders.commit(&xid).expect("call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    assert_eq!(status, GlobalStatus::Committed);
    node.shutdown();
}

#[test]
fn the_owner_is_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let node = secured_node(dir.path());
    let (r, xid) = coordinator_as("orders", &node)
        .begin("orders", "kept", 60_000)
        .expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    let (r, _) = coordinator_as("stock", &node)
        .branch_register(
            &xid,
            BranchType::TCC,
            "Stock.Rm.ParticipantObj",
            "s",
            "",
            "",
        )
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    node.shutdown();
    // The restart rolls the undecided transaction back, and keeps retrying: its participant
    // does not exist. It stays orders' all the while.
    let node = secured_node(dir.path());
    let core = node.coordinator().expect("embedded").core().clone();
    assert_eq!(core.owner_of(&xid).as_deref(), Some("orders"));
    let (r, _) = coordinator_as("mallory", &node)
        .global_report(&xid, GlobalStatus::Committed)
        .expect("call");
    assert_eq!(
        (r.code, r.error),
        (ResultCode::Failed, Code::AccessDenied),
        "{r:?}"
    );
    node.shutdown();
}

/// A node whose adapters speak TLS and name callers by their client certificates.
fn mutual_tls_node(dir: &std::path::Path, ca: &tars_test_support::pki::Ca) -> Node {
    use tars_test_support::pki::Role;
    let (cert, key) = ca.issue(
        "node",
        Role::Server,
        &["localhost", "127.0.0.1"],
        "node",
        false,
    );
    let mut config = NodeConfig {
        data_dir: Some(dir.join("data")),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.security.tls = Some(tars::tls::TlsSettings {
        cert,
        key,
        client_ca: Some(ca.pem()),
    });
    config.registry.access.enforce = true;
    config.registry.access.writers.push(WriteRule {
        principal: "bank.example".into(),
        prefix: "Bank.".into(),
    });
    config.coordinator.access.enforce = true;
    Node::start(&config).expect("node")
}

/// A communicator presenting a client certificate for `name` (none when `None`).
fn tls_client(ca: &tars_test_support::pki::Ca, name: Option<&str>) -> Communicator {
    use tars_test_support::pki::Role;
    let identity = name.map(|n| ca.issue(n, Role::Client, &[n], n, false));
    let tls = tars::tls::ClientTls::from_pem_files(
        &ca.pem(),
        identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    )
    .expect("client tls");
    Communicator::new().with_tls(tls)
}

#[test]
fn with_mutual_tls_the_certificate_names_the_principal_and_the_registry_hands_out_ssl_endpoints() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = tars_test_support::pki::Ca::new(dir.path(), "test-ca");
    let node = mutual_tls_node(dir.path(), &ca);
    let registry_port = node.registry_addr().expect("registry").port();
    let at = |obj: &str| format!("{obj}@ssl -h 127.0.0.1 -p {registry_port} -t 3000");
    let registry_as = |name: Option<&str>| {
        RegistryProxy::new(
            tls_client(&ca, name)
                .string_to_proxy(&at(REGISTRY_OBJ))
                .expect("proxy"),
        )
    };
    let account = tars_test_support::instance("Bank.Account.AccountObj", "127.0.0.1", 7001);
    assert_eq!(
        registry_as(Some("bank.example"))
            .register_instance(&account)
            .expect("call"),
        0
    );
    assert_eq!(
        registry_as(Some("mallory.example"))
            .deregister("Bank.Account.AccountObj", "127.0.0.1", 7001)
            .expect("call"),
        ACCESS_DENIED
    );
    // No certificate: the handshake fails, nothing is served. Plain TCP to the port neither.
    assert!(registry_as(None).list(&InstanceFilter::default()).is_err());
    let plain = RegistryProxy::new(
        Communicator::new()
            .string_to_proxy(&format!(
                "{REGISTRY_OBJ}@tcp -h 127.0.0.1 -p {registry_port} -t 2000"
            ))
            .expect("proxy"),
    );
    assert!(plain.list(&InstanceFilter::default()).is_err());

    // The node registered itself with ssl endpoints, so a client that knows only the
    // registry reaches the coordinator by name, over TLS, as its certificate's principal.
    let orders = tls_client(&ca, Some("orders.example"))
        .with_locator(&at("tars.tarsregistry.QueryObj"))
        .expect("locator");
    let coordinator =
        CoordinatorProxy::new(orders.string_to_proxy(COORDINATOR_OBJ).expect("proxy"));
    let (r, xid) = coordinator
        .begin("orders", "over tls", 60_000)
        .expect("begin");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let core = node.coordinator().expect("embedded").core().clone();
    assert_eq!(core.owner_of(&xid).as_deref(), Some("orders.example"));
    node.shutdown();
}

/// A participant that records the principal of every phase-two call.
#[derive(Clone, Default)]
struct Witness(std::sync::Arc<parking_lot::Mutex<Vec<String>>>);

impl tars_protocols::tarstx::Participant for Witness {
    fn branch_commit(
        &self,
        current: &mut tars::server::Current,
        _xid: tars::TarsString,
        _branch_id: i64,
        _branch_type: BranchType,
        _resource_id: tars::TarsString,
        _application_data: tars::TarsString,
    ) -> Result<BranchStatus, tars::server::ServantError> {
        self.0
            .lock()
            .push(current.principal().unwrap_or_default().to_owned());
        Ok(BranchStatus::PhaseTwo_Committed)
    }

    fn branch_rollback(
        &self,
        current: &mut tars::server::Current,
        xid: tars::TarsString,
        branch_id: i64,
        branch_type: BranchType,
        resource_id: tars::TarsString,
        application_data: tars::TarsString,
    ) -> Result<BranchStatus, tars::server::ServantError> {
        self.branch_commit(
            current,
            xid,
            branch_id,
            branch_type,
            resource_id,
            application_data,
        )?;
        Ok(BranchStatus::PhaseTwo_Rollbacked)
    }
}

#[test]
fn phase_two_authenticates_to_participants_with_the_node_key() {
    let witness = Witness::default();
    let servants = tars_test_support::one_servant(
        "Bank.Rm.ParticipantObj",
        std::sync::Arc::new(tars_protocols::tarstx::ParticipantServant::new(
            witness.clone(),
        )),
    );
    let (participant, port) =
        tars_test_support::serve_adapter(1, servants, tars::server::ServerConfig::default(), |a| {
            a.endpoint.auth_type = 1;
            a.auth_keys.insert("tc-node".into(), "tc-secret".into());
        });
    let dir = tempfile::tempdir().expect("dir");
    let mut config = NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.security.client_key = Some(tarsd::ClientKeySection {
        access_key: "tc-node".into(),
        secret_key: "tc-secret".into(),
    });
    let node = Node::start(&config).expect("node");
    let coordinator = CoordinatorProxy::new(
        Communicator::new()
            .string_to_proxy(&format!(
                "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {} -t 5000",
                node.coordinator_addr().expect("coordinator").port()
            ))
            .expect("proxy"),
    );
    let (_, xid) = coordinator.begin("bank", "pay", 60_000).expect("begin");
    let resource = format!("Bank.Rm.ParticipantObj@tcp -h 127.0.0.1 -p {port} -t 3000 -e 1");
    let (r, _) = coordinator
        .branch_register(&xid, BranchType::TCC, &resource, "c", "", "")
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let (r, status) = coordinator.commit(&xid).expect("commit");
    assert_eq!(
        (r.code, status),
        (ResultCode::Success, GlobalStatus::Committed),
        "{r:?}"
    );
    assert_eq!(*witness.0.lock(), ["tc-node"]);
    node.shutdown();
    participant.shutdown();
}

#[test]
fn only_an_admin_stops_or_restarts_the_retries_of_phase_two() {
    let dir = tempfile::tempdir().expect("dir");
    let node = secured_node(dir.path());
    let orders = coordinator_as("orders", &node);
    let ops = coordinator_as("ops", &node);
    let (_, xid) = orders.begin("orders", "stuck", 60_000).expect("begin");
    // A participant nobody serves: the commit keeps retrying.
    let (r, _) = orders
        .branch_register(
            &xid,
            BranchType::TCC,
            "Gone.Rm.ParticipantObj@tcp -h 127.0.0.1 -p 1 -t 500",
            "c",
            "",
            "",
        )
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let (_, status) = orders.commit(&xid).expect("commit");
    assert_eq!(status, GlobalStatus::CommitRetrying);

    for who in [&orders, &coordinator_as("mallory", &node)] {
        let (r, _) = who.stop_retrying(&xid).expect("call");
        assert_eq!(
            (r.code, r.error),
            (ResultCode::Failed, Code::AccessDenied),
            "{r:?}"
        );
    }
    let (r, status) = ops.stop_retrying(&xid).expect("call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    assert_eq!(status, GlobalStatus::CommitRetryTimeout);
    let (_, status) = orders.get_status(&xid).expect("status");
    assert_eq!(status, GlobalStatus::CommitRetryTimeout, "kept and visible");
    let (r, _) = ops.stop_retrying(&xid).expect("call");
    assert_eq!(
        r.error,
        Code::GlobalTransactionStatusInvalid,
        "no longer retrying: {r:?}"
    );

    let (r, _) = orders.retry(&xid).expect("call");
    assert_eq!(r.error, Code::AccessDenied, "{r:?}");
    let (r, _) = ops.retry(&xid).expect("call");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let (_, status) = orders.get_status(&xid).expect("status");
    assert!(
        matches!(
            status,
            GlobalStatus::CommitRetrying | GlobalStatus::Committing
        ),
        "{status:?}"
    );
    node.shutdown();
}
