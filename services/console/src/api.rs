//! The console's routes: pages, the JSON API they read, login.
//!
//! | Route | What |
//! |---|---|
//! | `GET /`, `/registry`, `/transactions`, `/transactions/{xid}` | pages |
//! | `GET /login`, `POST /login` (form `token`), `GET /logout` | the cookie login |
//! | `GET /assets/{app.js,style.css}` | embedded assets (no authentication) |
//! | `GET /api/whoami` | the caller's name and role |
//! | `GET /api/overview` | [`Overview`] |
//! | `GET /api/registry?obj=&region=&active=` | [`RegistryView`] (`active=true`: active only) |
//! | `GET /api/transactions?status=&min_age_ms=&application=` | [`TransactionList`] (`status`: names, comma separated) |
//! | `GET /api/transactions/{xid}` | [`TransactionDetail`] |
//! | `POST /api/transactions/{xid}/{retry,stop-retrying,rollback}` | [`ActionOutcome`] (admin) |
//! | `GET /stat` | the statistics page |
//! | `GET /api/stat?minutes=&from=&to=&servant=&interface=&side=` | [`crate::stat::CallsView`] |
//! | `GET /api/stat/properties?minutes=&from=&to=&module=&property=` | [`crate::stat::PropertiesView`] |
//!
//! Every route but the login and the assets needs an authenticated caller (unless the console
//! is open): API calls without one are answered 401, pages redirect to the login form.
//! Actions need the `admin` role (403 otherwise); with the cookie they also need the header
//! `X-Tars-Console: 1` (the pages' script sends it), so other sites cannot post them.
//!
//! Transactions are read and driven through the embedded coordinator's servant, or in cluster
//! mode through [`crate::TransactionSource`] (every node's leaders; see
//! [`crate::transactions`]).
//!
//! The statistics routes are read-only ([`crate::stat`] describes them); without a
//! [`crate::StatsSource`] (`[stat]` off) they answer 503.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, Query, Request, State as Extract};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tars_coordinator::servant::direct;
use tars_coordinator::session::wall_clock_ms;
use tars_protocols::tarsrs::{Instance, InstanceFilter};
use tars_protocols::tarstx::{
    GlobalStatus, ResultCode, TransactionExceptionCode as Code, TxBranch, TxDetail, TxFilter,
    TxResult, TxSummary,
};

use crate::auth::{Auth, Caller, Role, COOKIE};
use crate::rate::{CallRate, Rate};
use crate::{assets, Sources, TxAction};

/// How long an action waits for the coordinator's answer.
const ACTION_TIMEOUT: Duration = Duration::from_secs(15);

/// The routes' shared state.
#[derive(Clone)]
pub(crate) struct State {
    sources: Arc<Sources>,
    auth: Arc<Auth>,
    rate: Rate,
}

impl State {
    pub(crate) fn new(sources: Arc<Sources>, auth: Auth, rate: Rate) -> State {
        State {
            sources,
            auth: Arc::new(auth),
            rate,
        }
    }

    /// The node's statistics, when it keeps them.
    pub(crate) fn stats(&self) -> Option<Arc<dyn crate::StatsSource>> {
        self.sources.stats.clone()
    }
}

/// All routes.
pub(crate) fn router(state: State) -> Router {
    let protected = Router::new()
        .route("/", get(|| async { page("overview", "Overview") }))
        .route("/registry", get(|| async { page("registry", "Registry") }))
        .route(
            "/transactions",
            get(|| async { page("transactions", "Transactions") }),
        )
        .route(
            "/transactions/{xid}",
            get(|| async { page("transaction", "Transaction") }),
        )
        .route("/stat", get(|| async { page("stat", "Statistics") }))
        .route("/api/whoami", get(whoami))
        .route("/api/overview", get(overview))
        .route("/api/registry", get(registry))
        .route("/api/transactions", get(transactions))
        .route("/api/transactions/{xid}", get(transaction))
        .route("/api/transactions/{xid}/{action}", post(act))
        .route("/api/stat", get(crate::stat::calls))
        .route("/api/stat/properties", get(crate::stat::properties))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", get(logout))
        .route(
            "/assets/app.js",
            get(|| async { asset(assets::APP_JS, "text/javascript") }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset(assets::STYLE_CSS, "text/css") }),
        )
        .merge(protected)
        .with_state(state)
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn page(name: &str, title: &str) -> Html<String> {
    Html(
        assets::LAYOUT_HTML
            .replace("{{PAGE}}", name)
            .replace("{{TITLE}}", title),
    )
}

/// A JSON error answer.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn authenticate(Extract(state): Extract<State>, mut req: Request, next: Next) -> Response {
    match state.auth.caller(req.headers()) {
        Some(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None if req.uri().path().starts_with("/api/") => {
            error(StatusCode::UNAUTHORIZED, "authentication required")
        }
        None => Redirect::to("/login").into_response(),
    }
}

async fn login_page() -> Html<String> {
    Html(assets::LOGIN_HTML.replace("{{ERROR}}", ""))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(Extract(state): Extract<State>, Form(form): Form<LoginForm>) -> Response {
    match state.auth.check(form.token.trim()) {
        Some(t) => {
            tracing::info!(target: "tars_console::audit", who = %t.name, "console login");
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                form.token.trim()
            );
            let mut response = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        None => {
            tracing::warn!(target: "tars_console::audit", "console login refused: unknown token");
            (
                StatusCode::UNAUTHORIZED,
                Html(assets::LOGIN_HTML.replace(
                    "{{ERROR}}",
                    "<p class=\"error\" id=\"login-error\">Unknown token.</p>",
                )),
            )
                .into_response()
        }
    }
}

async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tars_console_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
        ),
    );
    response
}

/// `GET /api/whoami`.
#[derive(Debug, Clone, Serialize)]
pub struct WhoAmI {
    /// The token's name (`open` without tokens).
    pub name: String,
    /// `read` or `admin`.
    pub role: Role,
    /// The principal actions run as.
    pub principal: String,
}

async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(WhoAmI {
        principal: caller.principal(),
        name: caller.name,
        role: caller.role,
    })
}

/// `GET /api/overview`.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The node.
    pub node: crate::NodeInfo,
    /// The registry's totals.
    pub registry: RegistryTotals,
    /// Open transactions (`None` in cluster mode, where fragments' leaders hold them; the
    /// cluster's fragments show their load).
    pub transactions: Option<TransactionTotals>,
    /// The cluster as etcd sees it (`tars_cluster::status::ClusterStatus` as JSON), in
    /// cluster mode; `{"error": ...}` when it could not be read.
    pub cluster: Option<serde_json::Value>,
    /// Calls per second on the node's server.
    pub calls: Option<CallRate>,
    /// When this was read (ms since the Unix epoch).
    pub now_ms: i64,
}

/// Registry totals of the overview.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryTotals {
    /// Registered instances.
    pub instances: usize,
    /// Of which active (heartbeat recent enough).
    pub active: usize,
    /// Distinct objects.
    pub objects: usize,
}

/// Open transactions of the overview.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionTotals {
    /// All open transactions.
    pub open: usize,
    /// Open transactions per status name.
    pub by_status: BTreeMap<String, usize>,
    /// Open transactions per application id.
    pub by_application: BTreeMap<String, usize>,
    /// Transactions being driven by phase two right now.
    pub in_flight: usize,
}

async fn overview(Extract(state): Extract<State>) -> Json<Overview> {
    let instances = state.sources.registry.list(&InstanceFilter {
        include_inactive: true,
        ..InstanceFilter::default()
    });
    let objects: std::collections::BTreeSet<&str> =
        instances.iter().map(|i| i.obj_name.as_str()).collect();
    let registry = RegistryTotals {
        instances: instances.len(),
        active: instances.iter().filter(|i| i.active).count(),
        objects: objects.len(),
    };
    let transactions = state.sources.coordinator.as_ref().map(|c| {
        let sessions = c.core.sessions_snapshot(|_| true);
        let mut by_status = BTreeMap::new();
        let mut by_application = BTreeMap::new();
        for s in &sessions {
            *by_status.entry(status_name(s.status)).or_insert(0) += 1;
            *by_application.entry(s.application_id.clone()).or_insert(0) += 1;
        }
        TransactionTotals {
            open: sessions.len(),
            by_status,
            by_application,
            in_flight: c.driver.in_flight(),
        }
    });
    let cluster = match state.sources.cluster.clone() {
        Some(read) => Some(
            tokio::task::spawn_blocking(move || read())
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r)
                .unwrap_or_else(|e| serde_json::json!({ "error": e })),
        ),
        None => None,
    };
    Json(Overview {
        node: state.sources.node.clone(),
        registry,
        transactions,
        cluster,
        calls: state.rate.now(),
        now_ms: wall_clock_ms(),
    })
}

/// Query of `GET /api/registry`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegistryQuery {
    /// One object's name (empty: all).
    pub obj: String,
    /// One region (empty: all).
    pub region: String,
    /// `true`: active instances only.
    pub active: Option<String>,
}

/// `GET /api/registry`: objects and their instances.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryView {
    /// Objects by name, with their instances.
    pub objects: Vec<ObjectView>,
    /// Instances listed.
    pub total: usize,
    /// The registry's heartbeat timeout: an instance is inactive past it (ms).
    pub heartbeat_timeout_ms: u64,
    /// When this was read (ms since the Unix epoch).
    pub now_ms: i64,
}

/// One object of [`RegistryView`].
#[derive(Debug, Clone, Serialize)]
pub struct ObjectView {
    /// `App.Server.Obj`.
    pub obj: String,
    /// Active instances listed.
    pub active: usize,
    /// Inactive instances listed.
    pub inactive: usize,
    /// The instances, by host and port.
    pub instances: Vec<InstanceView>,
}

/// One instance, every field of `tars_protocols::tarsrs::Instance`.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// Its object.
    pub obj: String,
    /// The endpoint as a Tars endpoint string (`tcp -h .. -p .. -t ..`).
    pub endpoint: String,
    /// The endpoint's fields (`tars::EndpointF`).
    pub endpoint_fields: serde_json::Value,
    /// StaticMeta.
    pub meta: serde_json::Value,
    /// DynamicMeta (from the last heartbeat).
    pub load: serde_json::Value,
    /// The health the instance reports (`HEALTHY`, `DEGRADED`, `UNHEALTHY`).
    pub health: String,
    /// Whether its last heartbeat is recent enough.
    pub active: bool,
    /// Its last heartbeat (ms since the Unix epoch; 0: none).
    pub last_heartbeat_ms: i64,
    /// How long ago that was (ms; `None` without a heartbeat).
    pub heartbeat_age_ms: Option<i64>,
}

fn protocol(istcp: i32) -> &'static str {
    match istcp {
        0 => "udp",
        2 => "ssl",
        _ => "tcp",
    }
}

fn instance_view(i: &Instance, now_ms: i64) -> InstanceView {
    let e = &i.endpoint;
    let mut endpoint = format!(
        "{} -h {} -p {} -t {}",
        protocol(e.istcp),
        e.host,
        e.port,
        e.timeout
    );
    if e.auth_type != 0 {
        endpoint.push_str(&format!(" -e {}", e.auth_type));
    }
    let m = &i.meta;
    let l = &i.load;
    let features: BTreeMap<String, bool> = m
        .features
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    InstanceView {
        obj: i.obj_name.to_string(),
        endpoint,
        endpoint_fields: serde_json::json!({
            "host": e.host.as_str(), "port": e.port, "timeout": e.timeout,
            "protocol": protocol(e.istcp), "istcp": e.istcp, "grid": e.grid,
            "groupworkid": e.groupworkid, "grouprealid": e.grouprealid,
            "set_id": e.set_id.as_str(), "qos": e.qos, "bak_flag": e.bak_flag,
            "weight": e.weight, "weight_type": e.weight_type, "auth_type": e.auth_type,
            "node_name": e.node_name.as_str(),
        }),
        meta: serde_json::json!({
            "weight": m.weight, "region": m.region.as_str(), "version": m.version.as_str(),
            "features": features, "capacity": m.capacity,
            "environment": m.environment.as_str(), "business_type": m.business_type.as_str(),
            "start_time_ms": m.start_time,
        }),
        load: serde_json::json!({
            "cpu_load": l.cpu_load, "mem_load": l.mem_load,
            "health": format!("{:?}", l.health),
            "active_transactions": l.active_transactions,
            "avg_transaction_ms": l.avg_transaction_ms,
        }),
        health: format!("{:?}", l.health),
        active: i.active,
        last_heartbeat_ms: i.last_heartbeat_ms,
        heartbeat_age_ms: (i.last_heartbeat_ms > 0)
            .then(|| now_ms.saturating_sub(i.last_heartbeat_ms)),
    }
}

async fn registry(
    Extract(state): Extract<State>,
    Query(q): Query<RegistryQuery>,
) -> Json<RegistryView> {
    let active_only = matches!(q.active.as_deref(), Some("true" | "1" | "on"));
    let filter = InstanceFilter {
        obj_name: q.obj.trim().into(),
        region: q.region.trim().into(),
        include_inactive: !active_only,
        ..InstanceFilter::default()
    };
    let registry = &state.sources.registry;
    let now_ms = wall_clock_ms();
    let mut objects: Vec<ObjectView> = Vec::new();
    let listed = registry.list(&filter);
    let total = listed.len();
    for i in &listed {
        let view = instance_view(i, now_ms);
        match objects.last_mut() {
            Some(o) if o.obj == view.obj => o.instances.push(view),
            _ => objects.push(ObjectView {
                obj: view.obj.clone(),
                active: 0,
                inactive: 0,
                instances: vec![view],
            }),
        }
    }
    for o in &mut objects {
        o.instances.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        o.active = o.instances.iter().filter(|i| i.active).count();
        o.inactive = o.instances.len() - o.active;
    }
    objects.sort_by(|a, b| a.obj.cmp(&b.obj));
    Json(RegistryView {
        objects,
        total,
        heartbeat_timeout_ms: registry.heartbeat_timeout().as_millis() as u64,
        now_ms,
    })
}

/// Query of `GET /api/transactions`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransactionQuery {
    /// Status names, comma separated (empty: all).
    pub status: String,
    /// Only transactions begun at least this long ago.
    pub min_age_ms: Option<i64>,
    /// One application id (empty: all).
    pub application: String,
}

/// `GET /api/transactions`.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionList {
    /// The matching open transactions, oldest first.
    pub transactions: Vec<TransactionSummary>,
    /// Cluster mode: the nodes that did not answer (their fragments' transactions are
    /// missing from the list).
    pub failed: Vec<crate::stat::FailedNode>,
    /// When this was read (ms since the Unix epoch).
    pub now_ms: i64,
}

/// One transaction of a list.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionSummary {
    /// Its XID.
    pub xid: String,
    /// The application that began it.
    pub application: String,
    /// Its name.
    pub name: String,
    /// The principal that began it (empty: anonymous).
    pub owner: String,
    /// Its status (`Begin`, `CommitRetrying`, ...).
    pub status: String,
    /// Whether branches may still register.
    pub active: bool,
    /// When it began (ms since the Unix epoch).
    pub begin_time_ms: i64,
    /// How long ago that was (ms).
    pub age_ms: i64,
    /// Its timeout (ms).
    pub timeout_ms: u64,
    /// How many branches it has.
    pub branches: usize,
    /// Failed phase-two runs the retry task counts (`None`: none since this start).
    pub retry_attempts: Option<u32>,
    /// When the retry task drives it next (ms from now).
    pub next_retry_in_ms: Option<u64>,
    /// Whether phase two runs right now.
    pub driving: bool,
    /// Cluster mode, in lists: the node whose fragment holds it (its leader) — its id and
    /// coordinator address.
    pub node: Option<String>,
}

/// `GET /api/transactions/{xid}`.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionDetail {
    /// The list's fields.
    #[serde(flatten)]
    pub summary: TransactionSummary,
    /// The branches in registration order.
    pub branch_list: Vec<BranchView>,
    /// The AT row locks it holds (`resource^^^table^^^pk`).
    pub locks: Vec<String>,
    /// When an operator last retried it (ms since the Unix epoch), since this start.
    pub retried_at_ms: Option<i64>,
    /// The actions its status allows: `retry`, `stop-retrying`, `rollback`.
    pub actions: Vec<&'static str>,
}

/// One branch of [`TransactionDetail`].
#[derive(Debug, Clone, Serialize)]
pub struct BranchView {
    /// Branch id.
    pub id: i64,
    /// `AT`, `TCC`, `SAGA`, `XA`.
    pub branch_type: String,
    /// The resource (for TCC: the participant object).
    pub resource: String,
    /// The registering client.
    pub client: String,
    /// Its status.
    pub status: String,
    /// AT lock keys it registered.
    pub lock_keys: String,
    /// Data handed to the participant in phase two.
    pub application_data: String,
}

fn status_name(s: GlobalStatus) -> String {
    format!("{s:?}")
}

fn summary_view(t: &TxSummary, node: Option<String>, now_ms: i64) -> TransactionSummary {
    TransactionSummary {
        xid: t.xid.to_string(),
        application: t.application_id.to_string(),
        name: t.transaction_name.to_string(),
        owner: t.owner.to_string(),
        status: status_name(t.status),
        active: t.active,
        begin_time_ms: t.begin_time_ms,
        age_ms: now_ms.saturating_sub(t.begin_time_ms),
        timeout_ms: u64::try_from(t.timeout_ms).unwrap_or(0),
        branches: usize::try_from(t.branch_count).unwrap_or(0),
        retry_attempts: u32::try_from(t.retry_attempts).ok(),
        next_retry_in_ms: u64::try_from(t.next_retry_in_ms).ok(),
        driving: t.driving,
        node,
    }
}

fn branch_view(b: &TxBranch) -> BranchView {
    BranchView {
        id: b.branch_id,
        branch_type: format!("{:?}", b.branch_type),
        resource: b.resource_id.to_string(),
        client: b.client_id.to_string(),
        status: format!("{:?}", b.status),
        lock_keys: b.lock_keys.to_string(),
        application_data: b.application_data.to_string(),
    }
}

fn detail_view(d: &TxDetail, now_ms: i64) -> TransactionDetail {
    TransactionDetail {
        summary: summary_view(&d.summary, None, now_ms),
        branch_list: d.branches.iter().map(branch_view).collect(),
        locks: d.locks.iter().map(ToString::to_string).collect(),
        retried_at_ms: (d.retried_at_ms > 0).then_some(d.retried_at_ms),
        actions: actions_for(d.summary.status),
    }
}

fn actions_for(status: GlobalStatus) -> Vec<&'static str> {
    use GlobalStatus::*;
    match status {
        CommitRetryTimeout | RollbackRetryTimeout => vec!["retry"],
        CommitRetrying | RollbackRetrying | TimeoutRollbackRetrying => vec!["stop-retrying"],
        Begin => vec!["rollback"],
        _ => Vec::new(),
    }
}

fn no_coordinator() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "this node neither runs a coordinator nor reaches the cluster's",
    )
}

/// The HTTP status of a coordinator's refusal.
fn refused(r: &TxResult) -> Response {
    let status = match r.error {
        Code::AccessDenied => StatusCode::FORBIDDEN,
        Code::GlobalTransactionNotExist => StatusCode::NOT_FOUND,
        // Retryable: a fragment changing leader, or a node starting.
        Code::NotRaftLeader => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    error(status, r.message.to_string())
}

/// Runs a [`crate::TransactionSource`] call on a blocking thread, bounded by
/// [`ACTION_TIMEOUT`] (the source bounds its own calls too): `Err` when it got no answer.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match tokio::time::timeout(ACTION_TIMEOUT, tokio::task::spawn_blocking(call)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => Err(format!("the call failed: {e}")),
        Err(_) => Err(format!("no answer within {ACTION_TIMEOUT:?}")),
    }
}

fn filter_of(q: &TransactionQuery) -> TxFilter {
    TxFilter {
        statuses: q
            .status
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Into::into)
            .collect(),
        min_age_ms: q.min_age_ms.unwrap_or(0),
        application_id: q.application.trim().into(),
        limit: 0,
    }
}

async fn transactions(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<TransactionQuery>,
) -> Response {
    let filter = filter_of(&q);
    let principal = caller.principal();
    if let Some(c) = &state.sources.coordinator {
        let (r, listed) = c.servant.list_transactions_with(Some(&principal), &filter);
        if r.code != ResultCode::Success {
            return refused(&r);
        }
        let now_ms = wall_clock_ms();
        return Json(TransactionList {
            transactions: listed
                .iter()
                .map(|t| summary_view(t, None, now_ms))
                .collect(),
            failed: Vec::new(),
            now_ms,
        })
        .into_response();
    }
    let Some(source) = state.sources.transactions.clone() else {
        return no_coordinator();
    };
    match blocking(move || source.list(&principal, &filter)).await {
        Ok(answer) => {
            let now_ms = wall_clock_ms();
            Json(TransactionList {
                transactions: answer
                    .value
                    .into_iter()
                    .map(|t| summary_view(&t.summary, Some(t.node), now_ms))
                    .collect(),
                failed: crate::stat::failed(answer.failed),
                now_ms,
            })
            .into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, e),
    }
}

/// `describeTransaction` of `xid` as `principal`, embedded or through the cluster: `Err`
/// with the answer to send when it could not be read.
async fn describe(
    state: &State,
    principal: &str,
    xid: &str,
) -> Result<(TxResult, TxDetail), Response> {
    if let Some(c) = &state.sources.coordinator {
        return Ok(c.servant.describe_transaction_with(Some(principal), xid));
    }
    let Some(source) = state.sources.transactions.clone() else {
        return Err(no_coordinator());
    };
    let (p, x) = (principal.to_owned(), xid.to_owned());
    blocking(move || source.describe(&p, &x))
        .await
        .map_err(|e| error(StatusCode::BAD_GATEWAY, e))
}

async fn transaction(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    Path(xid): Path<String>,
) -> Response {
    match describe(&state, &caller.principal(), &xid).await {
        Ok((r, detail)) if r.code == ResultCode::Success => {
            Json(detail_view(&detail, wall_clock_ms())).into_response()
        }
        Ok((r, _)) => refused(&r),
        Err(response) => response,
    }
}

/// `POST /api/transactions/{xid}/{action}`.
#[derive(Debug, Clone, Serialize)]
pub struct ActionOutcome {
    /// The transaction.
    pub xid: String,
    /// `retry`, `stop-retrying` or `rollback`.
    pub action: String,
    /// Whether the coordinator accepted it.
    pub ok: bool,
    /// The transaction's status after it.
    pub status: String,
    /// The coordinator's message when refused.
    pub message: String,
}

async fn act(
    Extract(state): Extract<State>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((xid, action)): Path<(String, String)>,
) -> Response {
    let principal = caller.principal();
    let audit_refused = |why: &str| {
        tracing::warn!(target: "tars_console::audit", who = %principal, action = %action, xid = %xid, outcome = "refused", "console action refused: {why}");
    };
    if caller.role != Role::Admin {
        audit_refused("not an admin token");
        return error(StatusCode::FORBIDDEN, "this action needs an admin token");
    }
    if caller.by_cookie && headers.get("x-tars-console").is_none() {
        audit_refused("no X-Tars-Console header");
        return error(StatusCode::FORBIDDEN, "missing X-Tars-Console header");
    }
    let what = match action.as_str() {
        "retry" => TxAction::Retry,
        "stop-retrying" => TxAction::StopRetrying,
        "rollback" => TxAction::Rollback,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "unknown action (retry, stop-retrying, rollback)",
            )
        }
    };
    if what == TxAction::Rollback {
        // Forcing a rollback is for undecided transactions only: a decided one is the
        // phase-two driver's, and the others' actions apply to it.
        let status = match describe(&state, &principal, &xid).await {
            Ok((r, d))
                if r.code == ResultCode::Success || r.error == Code::GlobalTransactionNotExist =>
            {
                d.summary.status
            }
            Ok((r, _)) => {
                audit_refused("its status could not be read");
                return refused(&r);
            }
            Err(response) => {
                audit_refused("its status could not be read");
                return response;
            }
        };
        if status != GlobalStatus::Begin {
            audit_refused("not undecided");
            return error(
                StatusCode::CONFLICT,
                format!(
                    "{xid} is not an undecided transaction ({})",
                    status_name(status)
                ),
            );
        }
    }
    let p = principal.clone();
    let x = xid.clone();
    let answer: Option<(TxResult, GlobalStatus)> = if let Some(c) = &state.sources.coordinator {
        let servant = c.servant.clone();
        match what {
            TxAction::Retry => Some(servant.retry_with(Some(&p), &x)),
            TxAction::StopRetrying => {
                let fut = direct(|defer| servant.stop_retrying_with(defer, Some(&p), &x));
                tokio::time::timeout(ACTION_TIMEOUT, fut)
                    .await
                    .ok()
                    .flatten()
            }
            TxAction::Rollback => {
                let fut = direct(|defer| servant.rollback_with(defer, Some(&p), &x));
                tokio::time::timeout(ACTION_TIMEOUT, fut)
                    .await
                    .ok()
                    .flatten()
            }
        }
    } else if let Some(source) = state.sources.transactions.clone() {
        match blocking(move || source.act(&p, &x, what)).await {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::warn!(target: "tars_console::audit", who = %principal, action = %action, xid = %xid, error = %e, "console action: no answer from the cluster");
                None
            }
        }
    } else {
        return no_coordinator();
    };
    let Some((result, status)) = answer else {
        tracing::error!(target: "tars_console::audit", who = %principal, action = %action, xid = %xid, outcome = "no answer", "console action: no answer in time");
        return error(
            StatusCode::GATEWAY_TIMEOUT,
            "the coordinator did not answer in time; the action may still complete",
        );
    };
    let ok = result.code == ResultCode::Success;
    let outcome = ActionOutcome {
        xid: xid.clone(),
        action: action.clone(),
        ok,
        status: status_name(status),
        message: result.message.to_string(),
    };
    if ok {
        tracing::warn!(target: "tars_console::audit", who = %principal, action = %action, xid = %xid, outcome = "done", status = %outcome.status, "console action");
    } else {
        tracing::warn!(target: "tars_console::audit", who = %principal, action = %action, xid = %xid, outcome = "refused", status = %outcome.status, error = ?result.error, message = %outcome.message, "console action refused by the coordinator");
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    (code, Json(outcome)).into_response()
}
