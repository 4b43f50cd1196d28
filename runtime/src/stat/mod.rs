//! Call statistics as TarsCpp's `StatReport` keeps them: every completed call is counted per
//! reporting period under a [`StatMicMsgHead`](crate::protocol::tars::StatMicMsgHead) and sent to the stat service
//! (`tars.tarsstat.StatObj`, `StatF.reportMicMsg(msg, bFromClient)`), together with the
//! [`property`](crate::property) values (`PropertyF.reportPropMsg`).
//!
//! This module sits between the client and the server: both record into a [`StatCollector`]
//! (the client per endpoint, the server per answered request) and a [`StatReporter`] thread
//! flushes them every period through a [`StatSender`] (the communicator's, which calls the
//! stat and property objects with ordinary proxies:
//! [`Communicator::with_stat_report`](crate::client::Communicator::with_stat_report)).
//!
//! Facts from TarsCpp (`servant/libservant/StatReport.cpp`, `AdapterProxy.cpp`,
//! `TarsCurrent.cpp`) this module follows:
//!
//! - The body of one call: `count = 1` with `totalRspTime = minRspTime = maxRspTime =` the
//!   elapsed milliseconds when the response came back with `iRet == 0`; `timeoutCount = 1`
//!   for a timeout; `execCount = 1` for anything else (`AdapterProxy::stat`).
//! - Bodies merge by summing the counts and `totalRspTime`, keeping the largest
//!   `maxRspTime` and the smallest *non-zero* `minRspTime` (`StatReport::submit`).
//! - `intervalCount` buckets: bounds 5, 10, 50, 100, 200, 500, 1000, 2000, 3000 ms
//!   (`resetStatInterv`); a call falls in the first bucket whose bound is greater than its
//!   `maxRspTime` (none at 3000 ms and beyond), and every bucket is present (at 0) from the
//!   first call on (`getIntervCount`). A timeout or exception has `maxRspTime` 0, so it counts
//!   in the 5 ms bucket, as in TarsCpp.
//! - Client head (`AdapterProxy::initStatHead`): `masterName = module@tarsVersion` (with a
//!   SET `module.NameAreaID@tarsVersion`), `slaveName` = the first two parts of the object
//!   name (`App.Server`), `slaveIp`/`slavePort` = the endpoint called, `masterIp` empty (the
//!   stat server fills it), `returnValue` 0, `interfaceName` = the function.
//! - Server head (`StatReport::report` with `bFromClient = false`): `slaveName` = the
//!   server's module (with a SET, `module.NameAreaID`, and the slave SET fields), `masterIp`
//!   = the caller's address, `slaveIp` empty, `slavePort` 0, `returnValue` 0. TarsCpp sends
//!   server-side reports only for callers that do not report themselves; tars-rs reports every
//!   answered request, with `masterName` `stat_from_server` as TarsGo does.
//! - The report period is 60 s by default (`_reportInterval(60000)`; TarsCpp raises anything
//!   below 10 s to 10 s, tars-rs takes what it is given so tests can use short periods), and
//!   report calls have a 5 s timeout.
//! - `tarsVersion` is also written to the head's own `tarsVersion` field (TarsGo fills it;
//!   TarsCpp leaves it empty).

mod collector;
mod reporter;

pub use collector::{CallOutcome, StatCollector, StatTarget, INTERVAL_BOUNDS};
pub use reporter::{StatReporter, StatSender};

use serde::Deserialize;
use std::time::Duration;

/// The version written into `masterName` (`module@version`) and `tarsVersion`.
pub const TARS_VERSION: &str = concat!("tars-rs-", env!("CARGO_PKG_VERSION"));

/// TarsCpp's `MAX_MASTER_NAME_LEN`: names in heads are cut to this many bytes.
pub const MAX_NAME_LEN: usize = 127;

/// `masterName` of server-side reports (TarsGo's; TarsCpp names only special callers).
pub const SERVER_MASTER_NAME: &str = "stat_from_server";

/// Statistics reporting settings (TarsCpp's `tars.application.client` `stat`, `property`,
/// `report-interval`, `modulename` and the SET division). Reporting is off unless a
/// communicator or server is given one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatConfig {
    /// This program's module name (`App.Server`): `masterName` of client reports, `slaveName`
    /// of server reports, `moduleName` of properties.
    pub module_name: String,
    /// The stat object: a bare name resolved through the communicator's locator, or a full
    /// proxy string (`Obj@tcp -h ... -p ...`). Default `tars.tarsstat.StatObj`.
    pub stat_obj: String,
    /// The property object, likewise. Default `tars.tarsproperty.PropertyObj`.
    pub property_obj: String,
    /// How often the collected statistics are sent, in milliseconds (default 60,000).
    pub report_interval_ms: u64,
    /// Timeout of the report calls, in milliseconds (default 5,000).
    pub report_timeout_ms: u64,
    /// This program's SET (`name.area.id`), if it runs in one.
    pub set_division: Option<String>,
    /// The version written after `@` in `masterName` (default [`TARS_VERSION`]).
    pub tars_version: String,
}

impl Default for StatConfig {
    fn default() -> Self {
        StatConfig {
            module_name: String::new(),
            stat_obj: "tars.tarsstat.StatObj".into(),
            property_obj: "tars.tarsproperty.PropertyObj".into(),
            report_interval_ms: 60_000,
            report_timeout_ms: 5_000,
            set_division: None,
            tars_version: TARS_VERSION.into(),
        }
    }
}

impl StatConfig {
    /// Defaults with `module_name`.
    pub fn new(module_name: impl Into<String>) -> StatConfig {
        StatConfig {
            module_name: module_name.into(),
            ..StatConfig::default()
        }
    }

    /// The reporting period.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.report_interval_ms.max(1))
    }

    /// The timeout of report calls.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.report_timeout_ms.max(1))
    }

    /// The SET as (name, area, id) when `set_division` is a usable one: three parts, the
    /// first two not `*` (TarsCpp's `divison2SetInfo`).
    pub fn set(&self) -> Option<(String, String, String)> {
        self.set_division.as_deref().and_then(parse_set)
    }
}

/// A SET division `name.area.id` split in three, unless malformed or with a `*` name or area.
pub fn parse_set(division: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = division.trim().split('.').collect();
    match parts.as_slice() {
        [n, a, i] if *n != "*" && *a != "*" => Some((n.to_string(), a.to_string(), i.to_string())),
        _ => None,
    }
}

/// The `App.Server` part of an object name `App.Server.Obj` (TarsCpp's
/// `AdapterProxy::getSlaveName`): everything before the second dot, or the whole name.
pub fn slave_name_of(object: &str) -> &str {
    match object.match_indices('.').nth(1) {
        Some((pos, _)) => &object[..pos],
        None => object,
    }
}

/// `s` trimmed of `\r` and `\t` and cut to `max` bytes (TarsCpp's `trimAndLimitStr`), at a
/// character boundary.
pub fn trim_and_limit(s: &str, max: usize) -> String {
    let s = s.trim_matches(|c| c == '\r' || c == '\t');
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sets() {
        assert_eq!(
            slave_name_of("Test.HelloServer.HelloObj"),
            "Test.HelloServer"
        );
        assert_eq!(slave_name_of("Test.HelloServer"), "Test.HelloServer");
        assert_eq!(slave_name_of("Obj"), "Obj");
        assert_eq!(
            parse_set("gz.sz.1"),
            Some(("gz".into(), "sz".into(), "1".into()))
        );
        assert_eq!(parse_set("gz.*.1"), None);
        assert_eq!(parse_set("gz.sz"), None);
        assert_eq!(trim_and_limit("\tab\r", 1), "a");
    }

    #[test]
    fn config_from_json_with_defaults() {
        let c: StatConfig =
            serde_json::from_str(r#"{"module_name":"App.S","report_interval_ms":1000}"#)
                .expect("config");
        assert_eq!(c.module_name, "App.S");
        assert_eq!(c.stat_obj, "tars.tarsstat.StatObj");
        assert_eq!(c.property_obj, "tars.tarsproperty.PropertyObj");
        assert_eq!(c.interval(), Duration::from_secs(1));
    }
}
