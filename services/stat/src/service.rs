//! Hosting the statistics services: [`StatConfig`] (TOML) and [`StatService`], which opens
//! the rollup store, flushes and trims it in the background, answers queries, and is
//! [`Hosted`] on an adapter serving `tars.tarsstat.StatObj`, `tars.tarsproperty.PropertyObj`
//! and `tars.tarsstat.StatQueryObj` — alone or next to other services (`tarsd` puts them on
//! its registry adapter).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tars::protocol::tars::{
    PropertyF, PropertyFServant, StatF, StatFServant, StatMicMsgBody, StatMicMsgHead,
    StatPropMsgBody, StatPropMsgHead, StatSampleMsg,
};
use tars::server::{Current, ServantError, Servants};
use tars_bootstrap::{Hosted, Hosting};
use tars_protocols::tarsstat::{CallRow, PropRow, StatQuery, StatQueryServant};

use crate::query::{
    call_series, property_series, CallQuery, CallSeries, Catalog, PropertyQuery, PropertySeries,
};
use crate::store::{RowFilter, StatError, StatStore, Trimmed};

/// Object name of the call statistics interface (StatF), as TarsCpp and @tars/monitor name it
/// (`tars.application.client.stat`).
pub const STAT_OBJ: &str = "tars.tarsstat.StatObj";
/// Object name of the property interface (PropertyF), as TarsCpp and @tars/monitor name it
/// (`tars.application.client.property`).
pub const PROPERTY_OBJ: &str = "tars.tarsproperty.PropertyObj";
/// Object name of the rollup query interface (`tarsstat.StatQuery`).
pub const STAT_QUERY_OBJ: &str = "tars.tarsstat.StatQueryObj";
/// Adapter name when the services are hosted alone.
pub const ADAPTER: &str = "tars.tarsstat.StatAdapter";
/// Port when hosted alone.
pub const DEFAULT_PORT: u16 = 17892;

/// Statistics settings (TOML `[stat]`; every field optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatConfig {
    /// Serve the statistics objects (on by default).
    pub enable: bool,
    /// Directory of the rollup database (`stat.redb`).
    pub data_dir: PathBuf,
    /// Minutes of rollups kept (default 7 days); older minutes are removed by the trim.
    pub retention_minutes: u64,
    /// Rows (call and property rollups together) kept at most (default 2,000,000); past it
    /// the trim removes the oldest minutes first.
    pub max_rows: u64,
    /// Milliseconds between writes of the merged reports (default 1,000): a crash loses at
    /// most this much of them.
    pub flush_interval_ms: u64,
    /// Milliseconds between trims (default 60,000).
    pub trim_interval_ms: u64,
    /// Listening host when hosted alone.
    pub host: String,
    /// Listening port when hosted alone (0 picks a free one).
    pub port: u16,
    /// Business threads of the adapter when hosted alone.
    pub threads: usize,
}

impl Default for StatConfig {
    fn default() -> Self {
        StatConfig {
            enable: true,
            data_dir: PathBuf::from("tars-data/stat"),
            retention_minutes: 7 * 24 * 60,
            max_rows: 2_000_000,
            flush_interval_ms: 1_000,
            trim_interval_ms: 60_000,
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            threads: 2,
        }
    }
}

/// The current minute (minutes since the Unix epoch).
pub fn now_minute() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs / 60).unwrap_or(i64::MAX)
}

struct Background {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Inner {
    store: Arc<StatStore>,
    config: StatConfig,
    background: Mutex<Background>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut bg = self.background.lock();
        bg.stop.take();
        if let Some(t) = bg.thread.take() {
            let _ = t.join();
        }
    }
}

/// The opened statistics services: receive reports, keep rollups, answer queries. Clones
/// share the store; the background flush and trim stop (with a last flush) with the last
/// clone or [`StatService::shutdown`].
#[derive(Clone)]
pub struct StatService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatService")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl StatService {
    /// Opens (or creates) `<data_dir>/stat.redb` and starts the background flush and trim.
    pub fn open(config: StatConfig) -> Result<StatService, StatError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Arc::new(StatStore::open(&config.data_dir.join("stat.redb"))?);
        let (stop, stopped) = bounded::<()>(1);
        let thread = {
            let store = store.clone();
            let flush = Duration::from_millis(config.flush_interval_ms.max(10));
            let trim_every = Duration::from_millis(config.trim_interval_ms.max(10));
            let (retention, max_rows) = (config.retention_minutes, config.max_rows);
            std::thread::Builder::new()
                .name("tars-stat".into())
                .spawn(move || {
                    let mut last_trim = Instant::now();
                    loop {
                        let done =
                            !matches!(stopped.recv_timeout(flush), Err(RecvTimeoutError::Timeout));
                        if let Err(e) = store.flush() {
                            tracing::warn!(error = %e, "writing the statistics rollups");
                        }
                        if done {
                            return;
                        }
                        if last_trim.elapsed() >= trim_every {
                            last_trim = Instant::now();
                            if let Err(e) = trim(&store, retention, max_rows) {
                                tracing::warn!(error = %e, "trimming the statistics rollups");
                            }
                        }
                    }
                })?
        };
        let service = StatService {
            inner: Arc::new(Inner {
                store,
                config,
                background: Mutex::new(Background {
                    stop: Some(stop),
                    thread: Some(thread),
                }),
            }),
        };
        // Whatever outlived the retention while the node was down goes now.
        service.trim_now()?;
        Ok(service)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &StatConfig {
        &self.inner.config
    }

    /// The rollup store.
    pub fn store(&self) -> &Arc<StatStore> {
        &self.inner.store
    }

    /// Adds a `reportMicMsg` as if received in `minute` (the servant uses the current one).
    pub fn report_calls(
        &self,
        minute: i64,
        from_client: bool,
        msg: &BTreeMap<StatMicMsgHead, StatMicMsgBody>,
    ) -> Result<(), StatError> {
        self.inner.store.add_calls(minute, from_client, msg)
    }

    /// Adds a `reportPropMsg` as if received in `minute` (the servant uses the current one).
    pub fn report_properties(
        &self,
        minute: i64,
        msg: &BTreeMap<StatPropMsgHead, StatPropMsgBody>,
    ) -> Result<(), StatError> {
        self.inner.store.add_props(minute, msg)
    }

    /// This node's call rollups of minutes `[from_minute, to_minute)`, unmerged (one row per
    /// minute, side and reported head); empty names match every name.
    pub fn call_rows(
        &self,
        from_minute: i64,
        to_minute: i64,
        slave_name: &str,
        interface_name: &str,
    ) -> Result<Vec<CallRow>, StatError> {
        self.inner.store.call_rows(&RowFilter {
            from_minute,
            to_minute,
            name: slave_name.into(),
            item: interface_name.into(),
        })
    }

    /// This node's property rollups of minutes `[from_minute, to_minute)`, unmerged (one row
    /// per minute, head and policy); empty names match every name.
    pub fn prop_rows(
        &self,
        from_minute: i64,
        to_minute: i64,
        module_name: &str,
        property_name: &str,
    ) -> Result<Vec<PropRow>, StatError> {
        self.inner.store.prop_rows(&RowFilter {
            from_minute,
            to_minute,
            name: module_name.into(),
            item: property_name.into(),
        })
    }

    /// Calls per callee function and reporting side, minute by minute: counts, timeouts,
    /// exceptions, mean / max / min and estimated p50 / p99 response times.
    pub fn calls(&self, query: &CallQuery) -> Result<Vec<CallSeries>, StatError> {
        let rows = self.call_rows(
            query.from_minute,
            query.to_minute,
            &query.slave_name,
            &query.interface_name,
        )?;
        Ok(call_series(query, &rows))
    }

    /// Properties per module, name and policy, minute by minute.
    pub fn properties(&self, query: &PropertyQuery) -> Result<Vec<PropertySeries>, StatError> {
        let rows = self.prop_rows(
            query.from_minute,
            query.to_minute,
            &query.module_name,
            &query.property_name,
        )?;
        Ok(property_series(query, &rows))
    }

    /// The callees, functions, modules, properties and policies reported in minutes
    /// `[from_minute, to_minute)`.
    pub fn catalog(&self, from_minute: i64, to_minute: i64) -> Result<Catalog, StatError> {
        Ok(Catalog::of(
            &self.call_rows(from_minute, to_minute, "", "")?,
            &self.prop_rows(from_minute, to_minute, "", "")?,
        ))
    }

    /// Writes the pending rollups now.
    pub fn flush(&self) -> Result<usize, StatError> {
        self.inner.store.flush()
    }

    /// Applies the retention and the row bound now (the background trim does it every
    /// `trim_interval_ms`).
    pub fn trim_now(&self) -> Result<Trimmed, StatError> {
        trim(
            &self.inner.store,
            self.inner.config.retention_minutes,
            self.inner.config.max_rows,
        )
    }

    /// Stops the background thread after a last flush (the store stays readable).
    pub fn shutdown(&self) {
        let mut bg = self.inner.background.lock();
        bg.stop.take();
        if let Some(t) = bg.thread.take() {
            let _ = t.join();
        }
    }

    /// The three servants under their object names ([`STAT_OBJ`], [`PROPERTY_OBJ`],
    /// [`STAT_QUERY_OBJ`]).
    pub fn add_to(&self, servants: &mut Servants) {
        servants.add(STAT_OBJ, Arc::new(StatFServant::new(self.clone())));
        servants.add(PROPERTY_OBJ, Arc::new(PropertyFServant::new(self.clone())));
        servants.add(
            STAT_QUERY_OBJ,
            Arc::new(StatQueryServant::new(self.clone())),
        );
    }
}

fn trim(store: &StatStore, retention_minutes: u64, max_rows: u64) -> Result<Trimmed, StatError> {
    store.flush()?;
    let keep_from =
        now_minute().saturating_sub(i64::try_from(retention_minutes).unwrap_or(i64::MAX));
    let trimmed = store.trim(keep_from, max_rows)?;
    if trimmed != Trimmed::default() {
        tracing::info!(
            expired = trimmed.expired,
            over_bound = trimmed.over_bound,
            "trimmed statistics rollups"
        );
    }
    Ok(trimmed)
}

impl StatF for StatService {
    fn report_mic_msg(
        &self,
        _current: &mut Current,
        msg: BTreeMap<StatMicMsgHead, StatMicMsgBody>,
        b_from_client: bool,
    ) -> Result<i32, ServantError> {
        match self.report_calls(now_minute(), b_from_client, &msg) {
            Ok(()) => Ok(0),
            Err(e) => {
                tracing::warn!(error = %e, "storing a reportMicMsg");
                Ok(-1)
            }
        }
    }

    /// Samples (call chains) are not kept; the report is acknowledged.
    fn report_sample_msg(
        &self,
        _current: &mut Current,
        _msg: Vec<StatSampleMsg>,
    ) -> Result<i32, ServantError> {
        Ok(0)
    }
}

impl PropertyF for StatService {
    fn report_prop_msg(
        &self,
        _current: &mut Current,
        statmsg: BTreeMap<StatPropMsgHead, StatPropMsgBody>,
    ) -> Result<i32, ServantError> {
        match self.report_properties(now_minute(), &statmsg) {
            Ok(()) => Ok(0),
            Err(e) => {
                tracing::warn!(error = %e, "storing a reportPropMsg");
                Ok(-1)
            }
        }
    }
}

impl StatQuery for StatService {
    fn query_calls(
        &self,
        _current: &mut Current,
        from_minute: i64,
        to_minute: i64,
        slave_name: tars::TarsString,
        interface_name: tars::TarsString,
    ) -> Result<(i32, Vec<CallRow>), ServantError> {
        match self.call_rows(
            from_minute,
            to_minute,
            slave_name.as_str(),
            interface_name.as_str(),
        ) {
            Ok(rows) => Ok((0, rows)),
            Err(e) => Err(ServantError::new(-1, e.to_string())),
        }
    }

    fn query_properties(
        &self,
        _current: &mut Current,
        from_minute: i64,
        to_minute: i64,
        module_name: tars::TarsString,
        property_name: tars::TarsString,
    ) -> Result<(i32, Vec<PropRow>), ServantError> {
        match self.prop_rows(
            from_minute,
            to_minute,
            module_name.as_str(),
            property_name.as_str(),
        ) {
            Ok(rows) => Ok((0, rows)),
            Err(e) => Err(ServantError::new(-1, e.to_string())),
        }
    }
}

impl Hosted for StatService {
    /// [`ADAPTER`] on the configured host, port and threads.
    fn hosting(&self) -> Hosting {
        Hosting::new(
            ADAPTER,
            self.inner.config.host.clone(),
            self.inner.config.port,
        )
        .with_threads(self.inner.config.threads)
    }

    fn add_servants(&self, servants: &mut Servants) {
        self.add_to(servants)
    }
}
