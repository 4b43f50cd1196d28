//! The web console of a live node, in a real browser (headless Chromium through chromedriver,
//! driven with fantoccini): every page loads and shows what the JSON API answers; an admin
//! stops the retries of a stuck transaction through the page's confirmation dialog and sees it
//! end as CommitRetryTimeout; read-only tokens cannot act; without a token nothing is served.
//! Screenshots of every page go to `<target>/console-screenshots/` (the path is printed).
//!
//! Skipped (a `skipped:` line) without `chromium` and `chromedriver` on the PATH, unless
//! `TARS_BROWSER_REQUIRED=1` (CI), which makes their absence a failure. The API's
//! authentication test needs no browser and always runs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use tars::client::Communicator;
use tars::protocol::tars::StatMicMsgBody;
use tars::protocol::tars::StatMicMsgHead;
use tars_protocols::tars::EndpointF;
use tars_protocols::tarsrs::{DynamicMeta, HealthStatus, Instance, RegistryProxy, StaticMeta};
use tars_protocols::tarstx::{BranchType, CoordinatorProxy, GlobalStatus, ResultCode};
use tarsd::{Node, NodeConfig};

const ADMIN_TOKEN: &str = "ops-admin-token-1";
const READ_TOKEN: &str = "viewer-read-token-1";

fn node(dir: &Path) -> Node {
    let mut config = NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.registry.heartbeat_timeout_ms = 2_000;
    config.console = NodeConfig::from_toml(&format!(
        r#"
        [console]
        port = 0
        [[console.tokens]]
        name = "ops"
        token = "{ADMIN_TOKEN}"
        role = "admin"
        [[console.tokens]]
        name = "viewer"
        token = "{READ_TOKEN}"
        role = "read"
        "#
    ))
    .expect("console section")
    .console;
    Node::start(&config).expect("node")
}

/// What the test put in the node.
struct Seed {
    /// Committed, its TCC participant unreachable: CommitRetrying.
    retrying: String,
    /// Undecided, with an AT branch holding row locks.
    with_locks: String,
    /// Keeps the active instances' heartbeats going.
    stop_heartbeats: Arc<AtomicBool>,
    heartbeats: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Seed {
    fn drop(&mut self) {
        self.stop_heartbeats.store(true, Ordering::Relaxed);
        if let Some(h) = self.heartbeats.take() {
            let _ = h.join();
        }
    }
}

fn instance(obj: &str, port: i32, region: &str, version: &str, env: &str) -> Instance {
    Instance {
        obj_name: obj.into(),
        endpoint: EndpointF {
            host: "127.0.0.1".into(),
            port,
            timeout: 3000,
            istcp: 1,
            ..EndpointF::default()
        },
        meta: StaticMeta {
            weight: 100 + port % 7,
            region: region.into(),
            version: version.into(),
            features: [("tcc".into(), true), ("beta".into(), port % 2 == 0)]
                .into_iter()
                .collect(),
            capacity: 64,
            environment: env.into(),
            business_type: "payments".into(),
            start_time: 1_700_000_000_000,
        },
        ..Instance::default()
    }
}

fn seed(node: &Node) -> Seed {
    let communicator = Communicator::new();
    let registry_port = node.registry_addr().expect("registry").port();
    let registry = RegistryProxy::new(
        communicator
            .string_to_proxy(&format!(
                "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {registry_port} -t 3000"
            ))
            .expect("proxy"),
    );
    // One instance that stops heartbeating: inactive after the 2 s timeout.
    let stale = instance("Legacy.Batch.JobObj", 20001, "sh", "0.9", "staging");
    assert_eq!(registry.register_instance(&stale).expect("register"), 0);
    let live = vec![
        instance("Bank.Account.AccountObj", 21001, "sz", "1.4.2", "prod"),
        instance("Bank.Account.AccountObj", 21002, "sz", "1.4.2", "prod"),
        instance("Bank.Account.AccountObj", 21003, "sh", "1.5.0", "prod"),
        instance("Shop.Order.OrderObj", 22001, "sh", "2.0.1", "prod"),
    ];
    for i in &live {
        assert_eq!(registry.register_instance(i).expect("register"), 0);
    }
    let loads: Vec<DynamicMeta> = live
        .iter()
        .enumerate()
        .map(|(n, _)| DynamicMeta {
            cpu_load: 0.1 + n as f64 * 0.2,
            mem_load: 0.3,
            health: if n == 2 {
                HealthStatus::DEGRADED
            } else {
                HealthStatus::HEALTHY
            },
            active_transactions: n as i32,
            avg_transaction_ms: 12.5,
        })
        .collect();
    let stop_heartbeats = Arc::new(AtomicBool::new(false));
    let stop = stop_heartbeats.clone();
    let beat = registry.clone();
    let heartbeats = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            for (i, load) in live.iter().zip(&loads) {
                let _ = beat.heartbeat(&i.obj_name, &i.endpoint.host, i.endpoint.port, load);
            }
            std::thread::sleep(Duration::from_millis(400));
        }
    });

    let coordinator_port = node.coordinator_addr().expect("coordinator").port();
    let tc = CoordinatorProxy::new(
        communicator
            .string_to_proxy(&format!(
                "tars.tarscoordinator.CoordinatorObj@tcp -h 127.0.0.1 -p {coordinator_port} -t 5000"
            ))
            .expect("proxy"),
    );
    let begin = |app: &str, name: &str| {
        let (r, xid) = tc.begin(app, name, 600_000).expect("begin");
        assert_eq!(r.code, ResultCode::Success, "{r:?}");
        xid.to_string()
    };
    begin("orders", "create-order");
    begin("orders", "cancel-order");
    begin("payments", "refund");
    let with_locks = begin("inventory", "reserve-stock");
    let (r, _) = tc
        .branch_register(
            &with_locks,
            BranchType::AT,
            "jdbc:mysql://db/stock",
            "stock-client-1",
            "stock:1001,1002;warehouse:7",
            "",
        )
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let retrying = begin("billing", "charge-card");
    let (r, _) = tc
        .branch_register(
            &retrying,
            BranchType::TCC,
            "Gone.Rm.ParticipantObj@tcp -h 127.0.0.1 -p 1 -t 500",
            "billing-client-1",
            "",
            "{\"amount\":42}",
        )
        .expect("register");
    assert_eq!(r.code, ResultCode::Success, "{r:?}");
    let (_, status) = tc.commit(&retrying).expect("commit");
    assert_eq!(status, GlobalStatus::CommitRetrying);
    // The stale instance goes inactive.
    std::thread::sleep(Duration::from_millis(2_500));
    Seed {
        retrying,
        with_locks,
        stop_heartbeats,
        heartbeats: Some(heartbeats),
    }
}

/// A minimal HTTP/1.1 call: (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn api(addr: SocketAddr, path: &str) -> Value {
    let auth = format!("Bearer {READ_TOKEN}");
    let (status, body) = http(addr, "GET", path, &[("Authorization", &auth)], "");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

#[test]
fn the_api_needs_a_token_and_actions_need_an_admin() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let seed = seed(&node);
    let addr = node.console_addr().expect("console");
    let xid_path = format!("/api/transactions/{}/stop-retrying", seed.retrying);

    // No token: refused (API 401, pages to the login form).
    assert_eq!(http(addr, "GET", "/api/overview", &[], "").0, 401);
    assert_eq!(http(addr, "GET", "/transactions", &[], "").0, 303);
    let bad = [("Authorization", "Bearer not-a-token-at-all")];
    assert_eq!(http(addr, "GET", "/api/overview", &bad, "").0, 401);
    assert_eq!(http(addr, "POST", &xid_path, &[], "").0, 401);
    // The login page and assets are served to everyone.
    assert_eq!(http(addr, "GET", "/login", &[], "").0, 200);
    assert_eq!(http(addr, "GET", "/assets/app.js", &[], "").0, 200);

    // A read-only token reads, and may not act.
    let read = format!("Bearer {READ_TOKEN}");
    let who = api(addr, "/api/whoami");
    assert_eq!(who["role"], "read");
    let (status, body) = http(addr, "POST", &xid_path, &[("Authorization", &read)], "");
    assert_eq!(status, 403, "{body}");
    let detail = api(addr, &format!("/api/transactions/{}", seed.retrying));
    assert_eq!(detail["status"], "CommitRetrying", "unchanged: {detail}");

    // The login form sets a cookie; with it, actions need the console's header too.
    let form = format!("token={ADMIN_TOKEN}");
    let (status, _) = http(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(status, 303);
    let (status, _) = http(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "token=wrong-token-123",
    );
    assert_eq!(status, 401);
    let cookie = format!("tars_console_token={ADMIN_TOKEN}");
    let (status, body) = http(addr, "POST", &xid_path, &[("Cookie", &cookie)], "");
    assert_eq!(status, 403, "no header: {body}");
    // An admin acts.
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let (status, body) = http(addr, "POST", &xid_path, &[("Authorization", &admin)], "");
    assert_eq!(status, 200, "{body}");
    let outcome: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(outcome["status"], "CommitRetryTimeout", "{outcome}");
    // Rolling back is for undecided transactions only.
    let (status, _) = http(
        addr,
        "POST",
        &format!("/api/transactions/{}/rollback", seed.retrying),
        &[("Authorization", &admin)],
        "",
    );
    assert_eq!(status, 409);
    // An undecided transaction without branches rolls back at once, and is gone.
    let list = api(addr, "/api/transactions?application=payments&status=Begin");
    let refund = list["transactions"][0]["xid"]
        .as_str()
        .expect("the payments transaction")
        .to_owned();
    let (status, body) = http(
        addr,
        "POST",
        &format!("/api/transactions/{refund}/rollback"),
        &[("Authorization", &admin)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let outcome: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(outcome["status"], "Rollbacked", "{outcome}");
    let list = api(addr, "/api/transactions?application=payments");
    assert_eq!(
        list["transactions"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );
    let (status, _) = http(
        addr,
        "GET",
        &format!("/api/transactions/{refund}"),
        &[("Authorization", &admin)],
        "",
    );
    assert_eq!(status, 404, "ended");
    drop(seed);
    node.shutdown();
}

#[test]
fn a_console_off_loopback_needs_tokens() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.console.port = Some(0);
    config.console.host = "0.0.0.0".into();
    let err = Node::start(&config).expect_err("refused").to_string();
    assert!(err.contains("not loopback"), "{err}");
}

// ---- The browser ----

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// chromium and chromedriver, or `None` (skip) — a failure when `TARS_BROWSER_REQUIRED=1`.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
    let driver = on_path("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            assert!(
                std::env::var("TARS_BROWSER_REQUIRED").as_deref() != Ok("1"),
                "TARS_BROWSER_REQUIRED=1 but chromium / chromedriver are not on the PATH \
                 (Debian: apt-get install chromium chromium-driver)"
            );
            println!(
                "skipped: the console browser test needs chromium and chromedriver \
                 (Debian: apt-get install chromium chromium-driver)"
            );
            None
        }
    }
}

/// A chromedriver process on a free loopback port, killed (by its pid) when dropped.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start(path: &Path) -> Chromedriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("console-screenshots"))
        .expect("target dir");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn shot(c: &Client, dir: &Path, name: &str) -> Res<()> {
    let png = c.screenshot().await?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png)?;
    println!("screenshot: {}", path.display());
    Ok(())
}

/// Navigates to `path` and waits for the page's script to have rendered it.
async fn open(c: &Client, base: &str, path: &str) -> Res<()> {
    c.goto(&format!("{base}{path}")).await?;
    wait_for(c, "return document.body.dataset.loaded === '1'").await
}

async fn wait_for(c: &Client, script: &str) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if c.execute(script, vec![]).await? == Value::Bool(true) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for: {script}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(c: &Client, css: &str) -> Res<String> {
    Ok(c.find(Locator::Css(css))
        .await?
        .text()
        .await?
        .trim()
        .to_owned())
}

async fn login(c: &Client, base: &str, token: &str) -> Res<()> {
    c.goto(&format!("{base}/logout")).await?;
    c.find(Locator::Id("token")).await?.send_keys(token).await?;
    c.find(Locator::Id("login-submit")).await?.click().await?;
    wait_for(c, "return document.body.dataset.loaded === '1'").await
}

async fn browse(
    addr: SocketAddr,
    driver_port: u16,
    seed: &Seed,
    stats: &StatSeed,
    node: &Node,
    shots: &Path,
) -> Res<()> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1400,1000"] }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await?;
    let mut result = pages(&c, addr, seed, shots).await;
    if result.is_ok() {
        result = stat_pages(&c, addr, stats, shots).await;
    }
    if result.is_ok() {
        let dead = dead_stat_node(node);
        result = stat_failed_node(&c, addr, stats, shots).await;
        drop(dead);
    }
    let _ = c.close().await;
    result
}

async fn pages(c: &Client, addr: SocketAddr, seed: &Seed, shots: &Path) -> Res<()> {
    let base = format!("http://{addr}");
    // Without a token, the pages send to the login form.
    c.goto(&format!("{base}/transactions")).await?;
    assert!(c.current_url().await?.path().ends_with("/login"));
    shot(c, shots, "login").await?;
    login(c, &base, ADMIN_TOKEN).await?;

    // Overview.
    open(c, &base, "/").await?;
    let o = api(addr, "/api/overview");
    assert_eq!(text(c, "#node-mode").await?, "embedded");
    assert_eq!(
        text(c, "#registry-instances").await?,
        o["registry"]["instances"].to_string()
    );
    assert_eq!(
        text(c, "#registry-active").await?,
        o["registry"]["active"].to_string()
    );
    assert_eq!(
        text(c, "#tx-open").await?,
        o["transactions"]["open"].to_string()
    );
    let by_status: BTreeMap<String, Value> =
        serde_json::from_value(o["transactions"]["by_status"].clone())?;
    assert_eq!(by_status.get("CommitRetrying"), Some(&Value::from(1)));
    for (status, n) in &by_status {
        let row = format!("tr.status-count[data-status='{status}'] [data-field=count]");
        assert_eq!(text(c, &row).await?, n.to_string(), "{status}");
    }
    assert_eq!(
        text(c, "#node-coordinator").await?,
        o["node"]["coordinator"].as_str().unwrap_or_default()
    );
    // Calls per second come from the server's counter: let a few samples pass.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    open(c, &base, "/").await?;
    let total: u64 = text(c, "#calls-total").await?.parse()?;
    assert!(total > 0, "the seeding's requests are counted");
    assert!(c.find(Locator::Css("svg.spark polyline")).await.is_ok());
    shot(c, shots, "overview").await?;

    // Registry: every instance the API lists, with its fields.
    open(c, &base, "/registry").await?;
    let r = api(addr, "/api/registry");
    let rows = c.find_all(Locator::Css("tr.instance")).await?;
    assert_eq!(rows.len() as u64, r["total"].as_u64().unwrap_or(0));
    let mut inactive = 0;
    for o in r["objects"].as_array().into_iter().flatten() {
        for i in o["instances"].as_array().into_iter().flatten() {
            let row = format!(
                "tr.instance[data-obj='{}'][data-endpoint='{}']",
                o["obj"].as_str().unwrap_or_default(),
                i["endpoint"].as_str().unwrap_or_default()
            );
            let field = |f: &str| format!("{row} [data-field='{f}']");
            let active = if i["active"] == Value::Bool(true) {
                "active"
            } else {
                "inactive"
            };
            inactive += usize::from(active == "inactive");
            assert_eq!(text(c, &field("active")).await?, active);
            assert_eq!(
                text(c, &field("health")).await?,
                i["health"].as_str().unwrap_or_default()
            );
            // The page shows an empty field as a dash.
            let shown = |v: &Value| match v.as_str().unwrap_or_default() {
                "" => "—".to_owned(),
                s => s.to_owned(),
            };
            assert_eq!(
                text(c, &field("meta.region")).await?,
                shown(&i["meta"]["region"])
            );
            assert_eq!(
                text(c, &field("meta.version")).await?,
                shown(&i["meta"]["version"])
            );
        }
    }
    assert!(inactive >= 1, "the stale instance is inactive: {r}");
    shot(c, shots, "registry").await?;
    // Filters: region and active only, as the API filters them.
    c.find(Locator::Id("filter-region"))
        .await?
        .send_keys("sz")
        .await?;
    c.find(Locator::Id("filter-active")).await?.click().await?;
    c.execute("document.body.dataset.loaded = '0'", vec![])
        .await?;
    c.find(Locator::Id("registry-filters-apply"))
        .await?
        .click()
        .await?;
    wait_for(
        c,
        "return document.getElementById('filter-region').value === 'sz' && \
         location.search.includes('region=sz')",
    )
    .await?;
    let filtered = api(addr, "/api/registry?region=sz&active=true");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = c.find_all(Locator::Css("tr.instance")).await?.len() as u64;
        if n == filtered["total"].as_u64().unwrap_or(0) {
            break;
        }
        assert!(Instant::now() < deadline, "filtered rows {n}: {filtered}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shot(c, shots, "registry-filtered").await?;

    // Transactions: the list, and one application's.
    open(c, &base, "/transactions").await?;
    let list = api(addr, "/api/transactions");
    let txs = list["transactions"].as_array().cloned().unwrap_or_default();
    assert_eq!(c.find_all(Locator::Css("tr.tx")).await?.len(), txs.len());
    for t in &txs {
        let row = format!(
            "tr.tx[data-xid='{}']",
            t["xid"].as_str().unwrap_or_default()
        );
        for (field, want) in [
            (
                "status",
                t["status"].as_str().unwrap_or_default().to_owned(),
            ),
            (
                "application",
                t["application"].as_str().unwrap_or_default().to_owned(),
            ),
            ("branches", t["branches"].to_string()),
        ] {
            assert_eq!(
                text(c, &format!("{row} [data-field='{field}']")).await?,
                want
            );
        }
    }
    shot(c, shots, "transactions").await?;
    open(c, &base, "/transactions?application=orders&status=Begin").await?;
    let orders = api(addr, "/api/transactions?application=orders&status=Begin");
    let n = orders["transactions"].as_array().map_or(0, Vec::len);
    assert_eq!(n, 2, "{orders}");
    assert_eq!(c.find_all(Locator::Css("tr.tx")).await?.len(), n);
    shot(c, shots, "transactions-filtered").await?;

    // The AT transaction's detail: branches and the rows it locks.
    open(c, &base, &format!("/transactions/{}", seed.with_locks)).await?;
    let d = api(addr, &format!("/api/transactions/{}", seed.with_locks));
    let locks = c.find_all(Locator::Css("li.lock")).await?;
    assert_eq!(locks.len(), d["locks"].as_array().map_or(0, Vec::len));
    assert_eq!(locks.len(), 3, "{d}");

    // The retrying transaction: stop its retries through the confirmation dialog.
    open(c, &base, &format!("/transactions/{}", seed.retrying)).await?;
    let d = api(addr, &format!("/api/transactions/{}", seed.retrying));
    assert_eq!(
        text(c, "#tx-fields [data-field=status]").await?,
        "CommitRetrying"
    );
    for b in d["branch_list"].as_array().into_iter().flatten() {
        let row = format!("tr.branch[data-branch-id='{}']", b["id"]);
        assert_eq!(
            text(c, &format!("{row} [data-field=resource]")).await?,
            b["resource"].as_str().unwrap_or_default()
        );
        assert_eq!(text(c, &format!("{row} [data-field=type]")).await?, "TCC");
        assert_eq!(
            text(c, &format!("{row} [data-field=status]")).await?,
            b["status"].as_str().unwrap_or_default()
        );
    }
    shot(c, shots, "transaction-retrying").await?;
    c.find(Locator::Css("button[data-action='stop-retrying']"))
        .await?
        .click()
        .await?;
    wait_for(c, "return !document.getElementById('confirm').hidden").await?;
    shot(c, shots, "transaction-confirm").await?;
    c.find(Locator::Id("confirm-yes")).await?.click().await?;
    wait_for(
        c,
        "const s = document.querySelector('#tx-fields [data-field=status]'); \
         return !!s && s.textContent === 'CommitRetryTimeout'",
    )
    .await?;
    let d = api(addr, &format!("/api/transactions/{}", seed.retrying));
    assert_eq!(d["status"], "CommitRetryTimeout");
    assert!(text(c, "#action-result").await?.contains("done"));
    shot(c, shots, "transaction-stopped").await?;

    // A read-only token sees the actions disabled, and the API refuses them anyway.
    login(c, &base, READ_TOKEN).await?;
    open(c, &base, &format!("/transactions/{}", seed.retrying)).await?;
    let retry = c.find(Locator::Css("button[data-action='retry']")).await?;
    assert!(
        retry.attr("disabled").await?.is_some(),
        "disabled for read-only"
    );
    assert!(text(c, "#who").await?.contains("viewer (read)"));
    shot(c, shots, "transaction-read-only").await?;
    Ok(())
}

#[test]
fn the_console_pages_in_a_browser() {
    let Some((_chromium, chromedriver)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let seed = seed(&node);
    let addr = node.console_addr().expect("console");
    let stats = seed_stats(&node);
    wait_for_reports(addr, &stats);
    let driver = Chromedriver::start(&chromedriver);
    let shots = screenshots_dir();
    println!("screenshots in {}", shots.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(240),
            browse(addr, driver.port, &seed, &stats, &node, &shots),
        )
        .await
    });
    drop(driver);
    drop(seed);
    drop(stats);
    node.shutdown();
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("browser test: {e}"),
        Err(_) => panic!("browser test: timed out after 240 s"),
    }
}

// ---- Statistics ----

/// The callee of the hand-made past minutes' reports.
const ORDER_SERVER: &str = "Shop.OrderServer";
/// The module of the hand-made past minutes' property.
const ORDER_MODULE: &str = "Shop.Order";

/// Statistics put in the node: real calls between a tars-rs client and server reporting to
/// the node's StatObj / PropertyObj (this minute), and reports of earlier minutes added
/// through the node's stat service (the servants stamp a report with its minute of arrival).
struct StatSeed {
    /// The range the checks read (minutes since the Unix epoch), fixed so that pages and API
    /// answers cover the same minutes.
    from: i64,
    to: i64,
    /// The callee of the real calls (`App.Server`, as reporters name it).
    echo_server: String,
    /// The client's module (properties).
    client_module: String,
    /// Per function of the real calls: successes, timeouts, exceptions the client saw.
    workload: BTreeMap<&'static str, (u64, u64, u64)>,
    /// The `queue` property values the client reported (Sum, Max policies).
    queue: Vec<i32>,
    /// Hand-made server-side reports: (function, minute) -> body.
    past: BTreeMap<(String, i64), StatMicMsgBody>,
    /// Hand-made `pending` property (Sum) per minute.
    pending: BTreeMap<i64, i64>,
    _echo: tars::server::Server,
    _clients: (Communicator, Communicator),
}

fn order_body(k: i64, create: bool) -> StatMicMsgBody {
    // Counts and times vary by minute and function; 5 and 50 ms buckets, one slow call.
    let fast = i32::try_from(10 + 3 * k).unwrap_or(10) * if create { 2 } else { 1 };
    let slow = i32::try_from(k % 3 + 1).unwrap_or(1);
    let mut interval_count = BTreeMap::new();
    interval_count.insert(5, fast);
    interval_count.insert(50, slow);
    interval_count.insert(200, 1);
    StatMicMsgBody {
        count: fast + slow + 1,
        timeout_count: i32::from(k % 2 == 0),
        exec_count: if create {
            0
        } else {
            i32::try_from(k).unwrap_or(0)
        },
        interval_count,
        total_rsp_time: i64::from(fast) * 4 + i64::from(slow) * 40 + 180,
        max_rsp_time: 180,
        min_rsp_time: 2,
    }
}

fn seed_stats(node: &Node) -> StatSeed {
    use tars::client::CallOptions;
    use tars::property::Policy;
    use tars::protocol::tars::{StatPropInfo, StatPropMsgBody, StatPropMsgHead};
    use tars::server::{Servants, ServerConfig};
    use tars_test_support::servants::Echo;
    use tars_test_support::{proxy_string, serve_adapter};

    let stats = node.stats().expect("[stat] is on by default");
    let now = tars_stat::now_minute();
    let port = node.registry_addr().expect("registry").port();
    let report = |module: &str| tars::stat::StatConfig {
        stat_obj: proxy_string(tars_stat::STAT_OBJ, port),
        property_obj: proxy_string(tars_stat::PROPERTY_OBJ, port),
        report_interval_ms: 200,
        ..tars::stat::StatConfig::new(module)
    };
    // A tars-rs server reporting what it serves, and a client reporting what it calls.
    let server_comm = Communicator::new().with_stat_report(report("Test.EchoServer"));
    let server_stats = server_comm
        .stat_reporter()
        .expect("reporter")
        .expect("configured");
    let mut servants = Servants::new();
    servants.add("Test.EchoServer.EchoObj", Arc::new(Echo::default()));
    let (echo, echo_port) = serve_adapter(
        0,
        servants,
        ServerConfig {
            stats: Some(server_stats),
            ..ServerConfig::default()
        },
        |a| a.threads = 2,
    );
    let client = Communicator::new().with_stat_report(report("Test.Client"));
    let proxy = client
        .string_to_proxy(&proxy_string("Test.EchoServer.EchoObj", echo_port))
        .expect("proxy");
    let opts = CallOptions::default();
    let mut workload: BTreeMap<&'static str, (u64, u64, u64)> = BTreeMap::new();
    for ms in [2, 2, 2, 2, 2, 25, 25, 25] {
        let mut w = proxy.param_writer();
        w.write(1, "ms", &ms);
        proxy.invoke_sync("sleep", w, &opts).expect("sleep");
        workload.entry("sleep").or_default().0 += 1;
    }
    for s in ["a", "bb", "ccc", "dddd"] {
        let mut w = proxy.param_writer();
        w.write(1, "s", &s.to_owned());
        proxy.invoke_sync("echo", w, &opts).expect("echo");
        workload.entry("echo").or_default().0 += 1;
    }
    for _ in 0..3 {
        assert!(proxy
            .invoke_sync("fail", proxy.param_writer(), &opts)
            .is_err());
        workload.entry("fail").or_default().2 += 1;
    }
    for _ in 0..2 {
        let err = proxy
            .invoke_sync(
                "park",
                proxy.param_writer(),
                &CallOptions::new().timeout(Duration::from_millis(150)),
            )
            .expect_err("parked");
        assert!(
            matches!(err, tars::client::CallError::Timeout(_)),
            "{err:?}"
        );
        workload.entry("park").or_default().1 += 1;
    }
    let reporter = client
        .stat_reporter()
        .expect("reporter")
        .expect("configured");
    let queue_property = reporter.property("queue", &[Policy::Sum, Policy::Max]);
    let queue = vec![3, 9, 4];
    for v in &queue {
        queue_property.report(*v);
    }

    // Earlier minutes, server side, as if reported then.
    let mut past = BTreeMap::new();
    let mut pending = BTreeMap::new();
    for k in 1..=5i64 {
        let minute = now - k;
        let mut msg = BTreeMap::new();
        for (interface, create) in [("create", true), ("cancel", false)] {
            if !create && k == 3 {
                continue; // a minute without cancels
            }
            let head = StatMicMsgHead {
                master_name: "Shop.Gateway@1.0".into(),
                slave_name: ORDER_SERVER.into(),
                interface_name: interface.into(),
                master_ip: "127.0.0.1".into(),
                slave_ip: "127.0.0.1".into(),
                slave_port: 9100,
                ..StatMicMsgHead::default()
            };
            let body = order_body(k, create);
            past.insert((interface.to_owned(), minute), body.clone());
            msg.insert(head, body);
        }
        stats
            .service()
            .report_calls(minute, false, &msg)
            .expect("report calls");
        let value = 100 + 17 * k;
        pending.insert(minute, value);
        let mut props = BTreeMap::new();
        props.insert(
            StatPropMsgHead {
                module_name: ORDER_MODULE.into(),
                ip: "127.0.0.1".into(),
                property_name: "pending".into(),
                ..StatPropMsgHead::default()
            },
            StatPropMsgBody {
                v_info: vec![StatPropInfo {
                    policy: "Sum".into(),
                    value: value.to_string().into(),
                }],
            },
        );
        stats
            .service()
            .report_properties(minute, &props)
            .expect("report properties");
    }
    StatSeed {
        from: now - 10,
        to: now + 5,
        echo_server: "Test.EchoServer".into(),
        client_module: "Test.Client".into(),
        workload,
        queue,
        past,
        pending,
        _echo: echo,
        _clients: (client, server_comm),
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

/// Waits until the node has every real report: the client's calls of each function and
/// the property, and the server's calls.
fn wait_for_reports(addr: SocketAddr, s: &StatSeed) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let client = api(
            addr,
            &format!(
                "/api/stat?from={}&to={}&servant={}&side=client",
                s.from, s.to, s.echo_server
            ),
        );
        let server = api(
            addr,
            &format!(
                "/api/stat?from={}&to={}&servant={}&side=server",
                s.from, s.to, s.echo_server
            ),
        );
        let props = api(
            addr,
            &format!(
                "/api/stat/properties?from={}&to={}&module={}&property=queue",
                s.from, s.to, s.client_module
            ),
        );
        let seen = |v: &Value| -> BTreeMap<String, (u64, u64, u64)> {
            v["series"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    let t = &x["totals"];
                    (
                        x["interface"].as_str().unwrap_or_default().to_owned(),
                        (u(&t["successes"]), u(&t["timeouts"]), u(&t["exceptions"])),
                    )
                })
                .collect()
        };
        let client_seen = seen(&client);
        let want: BTreeMap<String, (u64, u64, u64)> = s
            .workload
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        let server_calls: u64 = seen(&server).values().map(|(a, b, c)| a + b + c).sum();
        let sums: BTreeMap<String, f64> = props["series"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                let total = x["points"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["value"].as_f64())
                    .fold(0.0, |a, b| {
                        if x["policy"] == "Max" {
                            f64::max(a, b)
                        } else {
                            a + b
                        }
                    });
                (x["policy"].as_str().unwrap_or_default().to_owned(), total)
            })
            .collect();
        let queue_sum: i32 = s.queue.iter().sum();
        let queue_max = s.queue.iter().copied().max().unwrap_or(0);
        // The server answered every call but the parked ones.
        let answered: u64 = want
            .iter()
            .filter(|(f, _)| f.as_str() != "park")
            .map(|(_, (a, b, c))| a + b + c)
            .sum();
        if client_seen == want
            && server_calls >= answered
            && sums.get("Sum") == Some(&f64::from(queue_sum))
            && sums.get("Max") == Some(&f64::from(queue_max))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the reports did not arrive: client {client_seen:?} (want {want:?}), server \
             {server_calls} calls (want >= {answered}), queue {sums:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The API answers what was reported: the client's workload per function, the hand-made
/// minutes exactly (counts, max, p50 / p99 from their histograms), zeros for empty minutes,
/// the properties; bad ranges are refused; a node that does not answer is named.
#[test]
fn the_stat_api_answers_what_was_reported() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let s = seed_stats(&node);
    let addr = node.console_addr().expect("console");
    assert_eq!(http(addr, "GET", "/api/stat", &[], "").0, 401);
    wait_for_reports(addr, &s);

    // The hand-made minutes of one function, minute by minute.
    let create = api(
        addr,
        &format!(
            "/api/stat?from={}&to={}&servant={ORDER_SERVER}&interface=create",
            s.from, s.to
        ),
    );
    assert_eq!(create["side"], "server", "{create}");
    let total = create["total"].as_array().expect("total");
    assert_eq!(total.len() as i64, s.to - s.from, "a point per minute");
    for m in total {
        let minute = m["minute"].as_i64().expect("minute");
        match s.past.get(&("create".to_owned(), minute)) {
            Some(b) => {
                assert_eq!(u(&m["successes"]), b.count as u64, "{m}");
                assert_eq!(u(&m["timeouts"]), b.timeout_count as u64, "{m}");
                assert_eq!(u(&m["exceptions"]), b.exec_count as u64, "{m}");
                assert_eq!(m["max_ms"], b.max_rsp_time, "{m}");
                let hist: BTreeMap<i32, i64> = b
                    .interval_count
                    .iter()
                    .map(|(k, v)| (*k, i64::from(*v)))
                    .collect();
                for (field, q) in [("p50_ms", 0.5), ("p99_ms", 0.99)] {
                    // (JSON numbers parse back within an ulp or two.)
                    let want = tars_stat::rollup::quantile(&hist, q, b.max_rsp_time);
                    let got = m[field].as_f64();
                    assert!(
                        matches!((got, want), (Some(g), Some(w)) if (g - w).abs() < 1e-9),
                        "{field}: {got:?} != {want:?}, {m}"
                    );
                }
                let avg = b.total_rsp_time as f64 / f64::from(b.count);
                assert!((m["avg_ms"].as_f64().unwrap_or(-1.0) - avg).abs() < 1e-9);
            }
            None => {
                assert_eq!(u(&m["calls"]), 0, "nothing reported in {minute}: {m}");
                assert!(m["p50_ms"].is_null() && m["max_ms"].is_null(), "{m}");
            }
        }
    }
    // The catalog lists both callees and their functions, and the properties.
    let servants = &create["servants"];
    assert!(servants[ORDER_SERVER]
        .as_array()
        .is_some_and(|f| f.len() == 2));
    let echo_functions = servants[&s.echo_server].as_array().expect("echo");
    for f in s.workload.keys() {
        assert!(echo_functions.iter().any(|x| x == f), "{f}: {servants}");
    }
    assert_eq!(create["properties"][ORDER_MODULE]["pending"][0], "Sum");
    // Both functions of the hand-made callee: their sums per minute.
    let order = api(
        addr,
        &format!(
            "/api/stat?from={}&to={}&servant={ORDER_SERVER}",
            s.from, s.to
        ),
    );
    for m in order["total"].as_array().expect("total") {
        let minute = m["minute"].as_i64().expect("minute");
        let want: u64 = s
            .past
            .iter()
            .filter(|((_, at), _)| *at == minute)
            .map(|(_, b)| (b.count + b.timeout_count + b.exec_count) as u64)
            .sum();
        assert_eq!(u(&m["calls"]), want, "{minute}: {m}");
    }
    // The properties, minute by minute.
    let pending = api(
        addr,
        &format!(
            "/api/stat/properties?from={}&to={}&module={ORDER_MODULE}&property=pending",
            s.from, s.to
        ),
    );
    let points = pending["series"][0]["points"].as_array().expect("points");
    assert_eq!(points.len() as i64, s.to - s.from);
    for p in points {
        let minute = p["minute"].as_i64().expect("minute");
        match s.pending.get(&minute) {
            Some(v) => assert_eq!(p["value"].as_f64(), Some(*v as f64), "{p}"),
            None => assert!(p["value"].is_null(), "{p}"),
        }
    }
    // Bad ranges.
    let read = format!("Bearer {READ_TOKEN}");
    for bad in [
        "/api/stat?from=10&to=5",
        "/api/stat?from=10",
        "/api/stat?minutes=0",
        "/api/stat?from=0&to=99999999",
        "/api/stat?side=both",
        "/api/stat?from=x&to=y",
    ] {
        let (status, body) = http(addr, "GET", bad, &[("Authorization", &read)], "");
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // The default range: the last 15 minutes, up to the current one.
    let recent = api(addr, "/api/stat");
    let now = recent["now_minute"].as_i64().expect("now");
    assert_eq!(recent["to_minute"].as_i64(), Some(now + 1));
    assert_eq!(recent["from_minute"].as_i64(), Some(now + 1 - 15));
    assert_eq!(recent["failed"].as_array().map(Vec::len), Some(0));

    // A StatQueryObj the registry lists that does not answer: named, the rest still shown.
    let dead = dead_stat_node(&node);
    let answer = api(
        addr,
        &format!(
            "/api/stat?from={}&to={}&servant={ORDER_SERVER}",
            s.from, s.to
        ),
    );
    assert_eq!(answer["failed"][0]["node"], "127.0.0.1:1", "{answer}");
    assert_eq!(answer["series"].as_array().map(Vec::len), Some(2));
    drop(dead);
    drop(s);
    node.shutdown();
}

/// A `tars.tarsstat.StatQueryObj` instance at 127.0.0.1:1 (nothing listens), kept active by
/// heartbeats until dropped.
struct DeadStatNode {
    stop: Arc<AtomicBool>,
    beats: Option<std::thread::JoinHandle<()>>,
}

impl Drop for DeadStatNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.beats.take() {
            let _ = h.join();
        }
    }
}

fn dead_stat_node(node: &Node) -> DeadStatNode {
    let communicator = Communicator::new();
    let port = node.registry_addr().expect("registry").port();
    let registry = RegistryProxy::new(
        communicator
            .string_to_proxy(&format!(
                "tars.tarsregistry.RegistryObj@tcp -h 127.0.0.1 -p {port} -t 3000"
            ))
            .expect("proxy"),
    );
    let dead = instance(tars_stat::STAT_QUERY_OBJ, 1, "sz", "0", "prod");
    assert_eq!(registry.register_instance(&dead).expect("register"), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let beats = std::thread::spawn(move || {
        let _keep = communicator;
        while !flag.load(Ordering::Relaxed) {
            let _ = registry.heartbeat(
                &dead.obj_name,
                &dead.endpoint.host,
                dead.endpoint.port,
                &DynamicMeta::default(),
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    DeadStatNode {
        stop,
        beats: Some(beats),
    }
}

/// Parses a number the page shows (`—` for none).
fn shown_number(text: &str) -> Option<f64> {
    text.trim().parse().ok()
}

/// The statistics page shows what `/api/stat?{query}` answers: every minute with calls, the
/// totals, each series, the latency of each minute; and the side selected.
async fn check_calls_page(c: &Client, addr: SocketAddr, query: &str) -> Res<Value> {
    let s = api(addr, &format!("/api/stat?{query}"));
    let total = s["total"].as_array().cloned().unwrap_or_default();
    let active: Vec<&Value> = total.iter().filter(|m| u(&m["calls"]) > 0).collect();
    assert_eq!(
        c.find_all(Locator::Css("tr.stat-minute")).await?.len(),
        active.len(),
        "{query}"
    );
    for m in &active {
        let row = format!("tr.stat-minute[data-minute='{}']", m["minute"]);
        for f in ["calls", "successes", "timeouts", "exceptions"] {
            assert_eq!(
                text(c, &format!("{row} [data-field={f}]")).await?,
                m[f].to_string(),
                "{f} of {row} ({query})"
            );
        }
        if u(&m["successes"]) > 0 {
            let row = format!("tr.stat-latency[data-minute='{}']", m["minute"]);
            for f in ["p50_ms", "p99_ms", "avg_ms"] {
                let shown = shown_number(&text(c, &format!("{row} [data-field={f}]")).await?);
                let want = m[f].as_f64();
                assert!(
                    matches!((shown, want), (Some(a), Some(b)) if (a - b).abs() <= 0.051),
                    "{f} of {row}: page {shown:?}, API {want:?} ({query})"
                );
            }
            assert_eq!(
                text(c, &format!("{row} [data-field=max_ms]")).await?,
                m["max_ms"].to_string()
            );
        }
    }
    for f in ["calls", "successes", "timeouts", "exceptions"] {
        let sum: u64 = total.iter().map(|m| u(&m[f])).sum();
        assert_eq!(
            text(c, &format!("tr.stat-total [data-field={f}]")).await?,
            sum.to_string(),
            "total {f} ({query})"
        );
    }
    let series = s["series"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        c.find_all(Locator::Css("tr.stat-series")).await?.len(),
        series.len()
    );
    for x in &series {
        let row = format!(
            "tr.stat-series[data-servant='{}'][data-interface='{}']",
            x["servant"].as_str().unwrap_or_default(),
            x["interface"].as_str().unwrap_or_default()
        );
        for f in ["calls", "successes", "timeouts", "exceptions"] {
            assert_eq!(
                text(c, &format!("{row} [data-field={f}]")).await?,
                x["totals"][f].to_string(),
                "{f} of {row}"
            );
        }
        for f in ["p50_ms", "p99_ms"] {
            let shown = shown_number(&text(c, &format!("{row} [data-field={f}]")).await?);
            match x["totals"][f].as_f64() {
                Some(want) => assert!(
                    shown.is_some_and(|a| (a - want).abs() <= 0.051),
                    "{f} of {row}: page {shown:?}, API {want}"
                ),
                None => assert_eq!(shown, None, "{f} of {row}"),
            }
        }
    }
    // The chart has a bar per (minute, kind) with calls of that kind.
    let bars = c
        .find_all(Locator::Css("#chart-calls rect[data-series]"))
        .await?
        .len();
    let kinds: usize = active
        .iter()
        .map(|m| {
            ["successes", "timeouts", "exceptions"]
                .iter()
                .filter(|f| u(&m[**f]) > 0)
                .count()
        })
        .sum();
    assert_eq!(bars, kinds, "bars of {query}");
    let side = c
        .find(Locator::Id("stat-side"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    assert_eq!(side, s["side"].as_str().unwrap_or_default());
    Ok(s)
}

/// The property charts show what `/api/stat/properties?{query}` answers.
async fn check_properties_page(c: &Client, addr: SocketAddr, query: &str) -> Res<Value> {
    let p = api(addr, &format!("/api/stat/properties?{query}"));
    let series = p["series"].as_array().cloned().unwrap_or_default();
    assert!(!series.is_empty(), "{p}");
    assert_eq!(
        c.find_all(Locator::Css("section.property")).await?.len(),
        series.len()
    );
    for x in &series {
        let section = format!(
            "section.property[data-module='{}'][data-property='{}'][data-policy='{}']",
            x["module"].as_str().unwrap_or_default(),
            x["property"].as_str().unwrap_or_default(),
            x["policy"].as_str().unwrap_or_default()
        );
        let reported: Vec<&Value> = x["points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|pt| !pt["value"].is_null())
            .collect();
        assert_eq!(
            c.find_all(Locator::Css(&format!("{section} tr.prop-minute")))
                .await?
                .len(),
            reported.len()
        );
        assert_eq!(
            c.find_all(Locator::Css(&format!("{section} svg circle")))
                .await?
                .len(),
            reported.len(),
            "a dot per reported minute"
        );
        for pt in reported {
            let row = format!("{section} tr.prop-minute[data-minute='{}']", pt["minute"]);
            let shown = shown_number(&text(c, &format!("{row} [data-field=value]")).await?);
            let want = pt["value"].as_f64();
            assert!(
                matches!((shown, want), (Some(a), Some(b)) if (a - b).abs() <= 0.0051),
                "{row}: page {shown:?}, API {want:?}"
            );
            assert_eq!(
                text(c, &format!("{row} [data-field=raw]")).await?,
                pt["raw"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(p)
}

/// Picks `value` in the select `id` and waits for the page to have rendered the query that
/// includes `expect`.
async fn choose(c: &Client, id: &str, value: &str, expect: &str) -> Res<()> {
    c.find(Locator::Id(id))
        .await?
        .select_by_value(value)
        .await?;
    wait_for(
        c,
        &format!("return (document.body.dataset.statQuery || '').includes('{expect}')"),
    )
    .await
}

async fn stat_pages(c: &Client, addr: SocketAddr, s: &StatSeed, shots: &Path) -> Res<()> {
    let base = format!("http://{addr}");
    let range = format!("from={}&to={}", s.from, s.to);
    // The default view: the last 15 minutes, every callee, the servers' reports.
    open(c, &base, "/stat").await?;
    check_calls_page(c, addr, "minutes=15").await?;
    assert!(c
        .find(Locator::Css("a.current[href='/stat']"))
        .await
        .is_ok());

    // A fixed range (so the page and the API read the same minutes).
    open(c, &base, &format!("/stat?{range}")).await?;
    let all = check_calls_page(c, addr, &range).await?;
    assert_eq!(all["side"], "server");
    let servants: Vec<String> = all["series"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["servant"].as_str().map(str::to_owned))
        .collect();
    assert!(servants.iter().any(|x| x == ORDER_SERVER), "{all}");
    assert!(servants.contains(&s.echo_server), "{all}");
    // Property charts: the first module reported (alphabetically) and its first property.
    let first_module = all["properties"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default();
    assert_eq!(first_module, ORDER_MODULE);
    check_properties_page(
        c,
        addr,
        &format!("{range}&module={ORDER_MODULE}&property=pending"),
    )
    .await?;
    shot(c, shots, "stat").await?;
    c.execute(
        "document.getElementById('stat-properties').scrollIntoView()",
        vec![],
    )
    .await?;
    shot(c, shots, "stat-properties-history").await?;

    // Select the hand-made callee, then one function: the page follows, and shows what was
    // reported for it minute by minute.
    choose(
        c,
        "stat-servant",
        ORDER_SERVER,
        &format!("servant={ORDER_SERVER}"),
    )
    .await?;
    check_calls_page(c, addr, &format!("{range}&servant={ORDER_SERVER}")).await?;
    choose(c, "stat-interface", "cancel", "interface=cancel").await?;
    let cancel = check_calls_page(
        c,
        addr,
        &format!("{range}&servant={ORDER_SERVER}&interface=cancel"),
    )
    .await?;
    for ((interface, minute), b) in &s.past {
        if interface != "cancel" {
            continue;
        }
        let row = format!("tr.stat-minute[data-minute='{minute}']");
        assert_eq!(
            text(c, &format!("{row} [data-field=exceptions]")).await?,
            b.exec_count.to_string()
        );
        assert_eq!(
            text(c, &format!("{row} [data-field=timeouts]")).await?,
            b.timeout_count.to_string()
        );
        assert_eq!(
            text(c, &format!("{row} [data-field=successes]")).await?,
            b.count.to_string()
        );
    }
    assert_eq!(
        cancel["series"].as_array().map(Vec::len),
        Some(1),
        "{cancel}"
    );
    shot(c, shots, "stat-servant-interface").await?;

    // The real calls as their client saw them: timeouts and exceptions of the workload.
    choose(
        c,
        "stat-servant",
        &s.echo_server,
        &format!("servant={}", s.echo_server),
    )
    .await?;
    choose(c, "stat-side", "client", "side=client").await?;
    check_calls_page(
        c,
        addr,
        &format!("{range}&servant={}&side=client", s.echo_server),
    )
    .await?;
    for (f, (successes, timeouts, exceptions)) in &s.workload {
        let row = format!(
            "tr.stat-series[data-servant='{}'][data-interface='{f}']",
            s.echo_server
        );
        for (field, want) in [
            ("successes", successes),
            ("timeouts", timeouts),
            ("exceptions", exceptions),
        ] {
            assert_eq!(
                text(c, &format!("{row} [data-field={field}]")).await?,
                want.to_string(),
                "{field} of {f}"
            );
        }
    }
    // The client's property, with its two policies.
    choose(
        c,
        "stat-module",
        &s.client_module,
        &format!("module={}", s.client_module),
    )
    .await?;
    let queue = check_properties_page(
        c,
        addr,
        &format!("{range}&module={}&property=queue", s.client_module),
    )
    .await?;
    assert_eq!(queue["series"].as_array().map(Vec::len), Some(2), "{queue}");
    shot(c, shots, "stat-client-side").await?;
    c.execute(
        "document.getElementById('stat-properties').scrollIntoView()",
        vec![],
    )
    .await?;
    shot(c, shots, "stat-properties").await?;

    // The range selector: the last 60 minutes.
    choose(c, "stat-range", "60", "minutes=60").await?;
    let last_hour = check_calls_page(
        c,
        addr,
        &format!("minutes=60&servant={}&side=client", s.echo_server),
    )
    .await?;
    assert_eq!(last_hour["total"].as_array().map(Vec::len), Some(60));
    assert!(text(c, "#stat-selection").await?.contains("60 minutes"));
    Ok(())
}

/// A node that does not answer is named on the page.
async fn stat_failed_node(c: &Client, addr: SocketAddr, s: &StatSeed, shots: &Path) -> Res<()> {
    let base = format!("http://{addr}");
    let range = format!("from={}&to={}", s.from, s.to);
    open(c, &base, &format!("/stat?{range}")).await?;
    let answer = api(addr, &format!("/api/stat?{range}"));
    let failed = answer["failed"].as_array().cloned().unwrap_or_default();
    assert!(!failed.is_empty(), "{answer}");
    for f in &failed {
        let node = f["node"].as_str().unwrap_or_default();
        let shown = text(c, &format!("#stat-failed li[data-node='{node}']")).await?;
        assert!(shown.starts_with(node), "{shown}");
    }
    check_calls_page(c, addr, &range).await?;
    shot(c, shots, "stat-failed-node").await?;
    Ok(())
}
