//! [`StatReporter`]: the thread that sends the collected statistics and properties every
//! period.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::collector::{StatCollector, StatTarget};
use super::{trim_and_limit, StatConfig, MAX_NAME_LEN, SERVER_MASTER_NAME};
use crate::property::{Policy, Property};
use crate::protocol::tars::{
    StatMicMsgBody, StatMicMsgHead, StatPropInfo, StatPropMsgBody, StatPropMsgHead,
};
use crate::TarsString;

/// Where reports go: the stat and property services (the communicator's sender calls them
/// with proxies). Errors are logged by the reporter and the period's data is dropped, as
/// TarsCpp does.
pub trait StatSender: Send + 'static {
    /// `StatF.reportMicMsg(msg, bFromClient)`.
    fn report_mic_msg(
        &mut self,
        msg: &BTreeMap<StatMicMsgHead, StatMicMsgBody>,
        from_client: bool,
    ) -> Result<(), String>;

    /// `PropertyF.reportPropMsg(msg)`.
    fn report_prop_msg(
        &mut self,
        msg: &BTreeMap<StatPropMsgHead, StatPropMsgBody>,
    ) -> Result<(), String>;
}

struct Shared {
    config: StatConfig,
    client: Arc<StatCollector>,
    server: Arc<StatCollector>,
    server_target: Arc<StatTarget>,
    properties: Mutex<BTreeMap<String, Arc<Property>>>,
}

/// Collects the client and server statistics and properties of a program and sends them every
/// [`StatConfig::report_interval_ms`] from its own thread (`tars-stat`). The thread sends a
/// last report and ends when the reporter is dropped.
pub struct StatReporter {
    shared: Arc<Shared>,
    /// Dropped with the reporter: the thread's cue to flush and stop.
    _stop: Sender<()>,
}

impl std::fmt::Debug for StatReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatReporter")
            .field("module", &self.shared.config.module_name)
            .finish_non_exhaustive()
    }
}

impl StatReporter {
    /// Starts the reporting thread, which sends through `sender`.
    pub fn start(
        config: StatConfig,
        sender: impl StatSender,
    ) -> Result<StatReporter, std::io::Error> {
        let server_target = Arc::new(server_target(&config));
        let shared = Arc::new(Shared {
            config,
            client: Arc::new(StatCollector::new()),
            server: Arc::new(StatCollector::new()),
            server_target,
            properties: Mutex::new(BTreeMap::new()),
        });
        let (stop, stopped) = bounded(0);
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("tars-stat".into())
            .spawn(move || run(thread_shared, stopped, sender))?;
        Ok(StatReporter {
            shared,
            _stop: stop,
        })
    }

    /// The settings.
    pub fn config(&self) -> &StatConfig {
        &self.shared.config
    }

    /// Where client calls are recorded (sent with `bFromClient = true`).
    pub fn client(&self) -> &Arc<StatCollector> {
        &self.shared.client
    }

    /// Where served requests are recorded (sent with `bFromClient = false`).
    pub fn server(&self) -> &Arc<StatCollector> {
        &self.shared.server
    }

    /// The head of served requests (this module as the callee).
    pub fn server_target(&self) -> &Arc<StatTarget> {
        &self.shared.server_target
    }

    /// The head of calls to `object` at `host:port` (this module as the caller), as TarsCpp's
    /// `AdapterProxy::initStatHead` makes it; `set_division` is the endpoint's SET, if any.
    pub fn client_target(
        &self,
        object: &str,
        host: &str,
        port: u16,
        set_division: Option<&str>,
    ) -> StatTarget {
        client_target(&self.shared.config, object, host, port, set_division)
    }

    /// The property `name` with `policies`, created on first use (later calls with the same
    /// name return the same property, whatever their policies).
    pub fn property(&self, name: &str, policies: &[Policy]) -> Arc<Property> {
        self.shared
            .properties
            .lock()
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Property::new(name, policies)))
            .clone()
    }

    /// Registers `property` (e.g. one with its own master name); replaces one of the same name.
    pub fn add_property(&self, property: Arc<Property>) {
        self.shared
            .properties
            .lock()
            .insert(property.name().to_owned(), property);
    }
}

/// `module.NameAreaID`-style suffix of a SET, empty without one.
fn set_suffix(config: &StatConfig) -> String {
    match config.set() {
        Some((n, a, i)) => format!(".{n}{a}{i}"),
        None => String::new(),
    }
}

fn client_target(
    config: &StatConfig,
    object: &str,
    host: &str,
    port: u16,
    set_division: Option<&str>,
) -> StatTarget {
    let master = format!(
        "{}{}@{}",
        config.module_name,
        set_suffix(config),
        config.tars_version
    );
    let slave = super::slave_name_of(object);
    let mut target = StatTarget {
        master_name: trim_and_limit(&master, MAX_NAME_LEN).into(),
        slave_name: trim_and_limit(slave, MAX_NAME_LEN).into(),
        slave_ip: trim_and_limit(host, MAX_NAME_LEN).into(),
        slave_port: i32::from(port),
        tars_version: config.tars_version.as_str().into(),
        ..StatTarget::default()
    };
    if let Some((n, a, i)) = set_division.and_then(super::parse_set) {
        target.slave_name = trim_and_limit(&format!("{slave}.{n}{a}{i}"), MAX_NAME_LEN).into();
        target.slave_set_name = n.into();
        target.slave_set_area = a.into();
        target.slave_set_id = i.into();
    }
    target
}

fn server_target(config: &StatConfig) -> StatTarget {
    let module = trim_and_limit(&config.module_name, MAX_NAME_LEN);
    let mut target = StatTarget {
        master_name: SERVER_MASTER_NAME.into(),
        slave_name: format!("{module}{}", set_suffix(config)).into(),
        tars_version: config.tars_version.as_str().into(),
        ..StatTarget::default()
    };
    if let Some((n, a, i)) = config.set() {
        target.slave_set_name = n.into();
        target.slave_set_area = a.into();
        target.slave_set_id = i.into();
    }
    target
}

fn run(shared: Arc<Shared>, stopped: Receiver<()>, mut sender: impl StatSender) {
    let interval = shared.config.interval();
    loop {
        let last = match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => false,
            // The reporter is gone (or, never, a message): send what is left and stop.
            _ => true,
        };
        flush(&shared, &mut sender);
        if last {
            tracing::debug!(module = %shared.config.module_name, "stat reporter stopped");
            return;
        }
    }
}

fn flush(shared: &Shared, sender: &mut impl StatSender) {
    for (collector, from_client) in [(&shared.client, true), (&shared.server, false)] {
        let msg = collector.take();
        if msg.is_empty() {
            continue;
        }
        if let Err(e) = sender.report_mic_msg(&msg, from_client) {
            tracing::warn!(error = %e, heads = msg.len(), from_client, "stat report failed");
        }
    }
    let props = property_msg(shared);
    if !props.is_empty() {
        if let Err(e) = sender.report_prop_msg(&props) {
            tracing::warn!(error = %e, properties = props.len(), "property report failed");
        }
    }
}

fn property_msg(shared: &Shared) -> BTreeMap<StatPropMsgHead, StatPropMsgBody> {
    let config = &shared.config;
    let set = config.set();
    let properties: Vec<Arc<Property>> = shared.properties.lock().values().cloned().collect();
    let mut out = BTreeMap::new();
    for p in properties {
        let module = p.master_name().unwrap_or(&config.module_name);
        let head = StatPropMsgHead {
            module_name: format!("{module}{}", set_suffix(config)).into(),
            ip: TarsString::default(),
            property_name: p.name().into(),
            set_name: set.as_ref().map(|s| s.0.as_str()).unwrap_or("").into(),
            set_area: set.as_ref().map(|s| s.1.as_str()).unwrap_or("").into(),
            set_id: set.as_ref().map(|s| s.2.as_str()).unwrap_or("").into(),
            i_property_ver: 2,
            ..StatPropMsgHead::default()
        };
        let v_info = p
            .take()
            .into_iter()
            // TarsCpp leaves out a Min of "0" (no non-zero value).
            .filter(|(policy, value)| !(policy == "Min" && value == "0"))
            .map(|(policy, value)| StatPropInfo {
                policy: policy.into(),
                value: value.into(),
            })
            .collect();
        out.insert(head, StatPropMsgBody { v_info });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_as_tarscpp() {
        let mut c = StatConfig::new("App.Client");
        c.tars_version = "v1".into();
        let t = client_target(&c, "App.Server.Obj", "10.0.0.1", 9000, Some("gz.sz.1"));
        assert_eq!(t.master_name, "App.Client@v1");
        assert_eq!(t.slave_name, "App.Server.gzsz1");
        assert_eq!(
            (t.slave_set_name.as_str(), t.slave_set_area.as_str()),
            ("gz", "sz")
        );
        assert_eq!((t.slave_ip.as_str(), t.slave_port), ("10.0.0.1", 9000));
        c.set_division = Some("a.b.c".into());
        assert_eq!(
            client_target(&c, "X.Y.Z", "h", 1, None).master_name,
            "App.Client.abc@v1"
        );
        let s = server_target(&c);
        assert_eq!(s.master_name, SERVER_MASTER_NAME);
        assert_eq!(s.slave_name, "App.Client.abc");
        assert_eq!(s.slave_set_id, "c");
        assert_eq!((s.slave_ip.as_str(), s.slave_port), ("", 0));
    }
}
