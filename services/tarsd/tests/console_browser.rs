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

async fn browse(addr: SocketAddr, driver_port: u16, seed: &Seed, shots: &Path) -> Res<()> {
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
    let result = pages(&c, addr, seed, shots).await;
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
    let driver = Chromedriver::start(&chromedriver);
    let shots = screenshots_dir();
    println!("screenshots in {}", shots.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(180),
            browse(addr, driver.port, &seed, &shots),
        )
        .await
    });
    drop(driver);
    drop(seed);
    node.shutdown();
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("browser test: {e}"),
        Err(_) => panic!("browser test: timed out after 180 s"),
    }
}
