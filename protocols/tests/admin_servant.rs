//! The runtime's AdminServant, hosted on a real server and called over TCP through the
//! proxy generated from AdminF.tars: the hand-written dispatch matches the IDL on the wire.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use tars::client::Communicator;
use tars::server::{AdapterConfig, AdminServant, Endpoint, Servants, Server, ServerConfig};
use tars_protocols::tars::AdminFProxy;

#[test]
fn admin_commands_over_tcp() {
    let admin = Arc::new(AdminServant::new("Test.AdminServer"));
    admin.register_command("app.echo", |args| format!("echo [{args}]"));
    let mut servants = Servants::new();
    servants.add("Test.AdminServer.AdminObj", admin.clone());
    let adapter = AdapterConfig::new(
        "AdminAdapter",
        Endpoint::tcp("127.0.0.1", 0),
        Arc::new(servants),
    );
    let server = Server::start(ServerConfig::default(), vec![adapter]).unwrap();
    let port = server.local_addr("AdminAdapter").unwrap().port();
    let stats = server.connection_stats();
    admin.register_command("tars.connection", move |_| stats.report());
    let (tx, rx) = mpsc::channel();
    admin.on_shutdown(move || {
        let _ = tx.send(());
    });

    let proxy = AdminFProxy::new(
        Communicator::new()
            .string_to_proxy(&format!(
                "Test.AdminServer.AdminObj@tcp -h 127.0.0.1 -p {port} -t 3000"
            ))
            .unwrap(),
    );
    assert_eq!(proxy.get_pid().unwrap(), std::process::id() as i64);
    let status = proxy.notify("tars.viewstatus").unwrap();
    assert!(
        status.contains("server: Test.AdminServer") && status.contains("log level: INFO"),
        "{status}"
    );
    assert!(
        status.contains("app.echo"),
        "user commands are listed: {status}"
    );
    assert_eq!(
        proxy.notify("tars.setloglevel debug").unwrap(),
        "set log level [DEBUG] ok"
    );
    assert_eq!(admin.log_level(), "DEBUG");
    assert!(proxy
        .notify("tars.setloglevel LOUD")
        .unwrap()
        .starts_with("invalid log level"));
    assert_eq!(
        proxy.notify("tars.connection").unwrap(),
        "AdminAdapter: 1 connection(s)"
    );
    assert_eq!(proxy.notify("app.echo  a b ").unwrap(), "echo [a b]");
    assert_eq!(proxy.notify("nope").unwrap(), "unknown command [nope]");
    proxy.shutdown().unwrap();
    rx.recv_timeout(Duration::from_secs(3))
        .expect("shutdown callback ran");
    server.shutdown();
}
