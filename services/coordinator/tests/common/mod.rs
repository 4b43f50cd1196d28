//! Test fixtures: a coordinator on 127.0.0.1 and participants that record their phase-two
//! calls and answer as scripted.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tars::TarsString;

use parking_lot::Mutex;
use tars::client::Communicator;
use tars::server::{Current, ServantError, Servants, Server, ServerConfig};
use tars_coordinator::service::{CoordinatorConfig, CoordinatorService, ADAPTER, COORDINATOR_OBJ};
use tars_protocols::tarstx::{
    BranchStatus, BranchType, CoordinatorProxy, Participant, ParticipantServant,
};
use tars_test_support::{serve_on, wait_until};

/// One phase-two call a participant received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub object: String,
    pub func: &'static str,
    pub xid: String,
    pub branch_id: i64,
    pub application_data: String,
}

/// Participants' shared log and scripted answers (per object and call, `"commit"` or
/// `"rollback"`: answers to use first, then the success status).
/// Answers still to give, per (object, call).
type Answers = HashMap<(String, &'static str), VecDeque<BranchStatus>>;

#[derive(Debug, Default, Clone)]
pub struct Script {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub answers: Arc<Mutex<Answers>>,
}

impl Script {
    pub fn answer(&self, object: &str, func: &'static str, answers: &[BranchStatus]) {
        self.answers
            .lock()
            .entry((object.to_owned(), func))
            .or_default()
            .extend(answers.iter().copied());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    pub fn calls_of(&self, xid: &str) -> Vec<(String, &'static str)> {
        self.calls
            .lock()
            .iter()
            .filter(|c| c.xid == xid)
            .map(|c| (c.object.clone(), c.func))
            .collect()
    }

    fn record(
        &self,
        current: &Current,
        func: &'static str,
        xid: String,
        branch_id: i64,
        data: String,
        ok: BranchStatus,
    ) -> BranchStatus {
        let object = current.servant_name().to_owned();
        let answer = self
            .answers
            .lock()
            .get_mut(&(object.clone(), func))
            .and_then(VecDeque::pop_front)
            .unwrap_or(ok);
        self.calls.lock().push(Call {
            object,
            func,
            xid,
            branch_id,
            application_data: data,
        });
        answer
    }
}

struct Recorder(Script);

impl Participant for Recorder {
    fn branch_commit(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        _branch_type: BranchType,
        _resource_id: TarsString,
        application_data: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        Ok(self.0.record(
            current,
            "commit",
            xid.to_string(),
            branch_id,
            application_data.to_string(),
            BranchStatus::PhaseTwo_Committed,
        ))
    }

    fn branch_rollback(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        _branch_type: BranchType,
        _resource_id: TarsString,
        application_data: TarsString,
    ) -> Result<BranchStatus, ServantError> {
        Ok(self.0.record(
            current,
            "rollback",
            xid.to_string(),
            branch_id,
            application_data.to_string(),
            BranchStatus::PhaseTwo_Rollbacked,
        ))
    }
}

/// A server hosting participant objects `objects` on `port` (0: any).
pub struct Participants {
    pub server: Server,
    pub port: u16,
    pub script: Script,
}

impl Participants {
    pub fn start(objects: &[&str], port: u16, script: Script) -> Participants {
        let mut servants = Servants::new();
        for o in objects {
            servants.add(
                *o,
                Arc::new(ParticipantServant::new(Recorder(script.clone()))),
            );
        }
        let (server, port) = serve_on(port, servants, 1, ServerConfig::default());
        Participants {
            server,
            port,
            script,
        }
    }

    /// The resource id of `object` (a direct proxy string).
    pub fn resource(&self, object: &str) -> String {
        resource(object, self.port)
    }
}

pub fn resource(object: &str, port: u16) -> String {
    format!("{object}@tcp -h 127.0.0.1 -p {port} -t 1000")
}

/// A coordinator with fast background periods.
pub struct Coordinator {
    pub service: CoordinatorService,
    pub server: Option<Server>,
    pub proxy: CoordinatorProxy,
}

pub fn fast_config(data_dir: Option<&Path>) -> CoordinatorConfig {
    CoordinatorConfig {
        data_dir: data_dir.map(Path::to_path_buf).unwrap_or_default(),
        in_memory: data_dir.is_none(),
        port: 0,
        fragment: 7,
        phase_two_timeout_ms: 500,
        retry_period_ms: 50,
        max_backoff_ms: 200,
        timeout_check_ms: 50,
        async_commit_ms: 50,
        ..CoordinatorConfig::default()
    }
}

impl Coordinator {
    pub fn start(config: CoordinatorConfig) -> Coordinator {
        let service = CoordinatorService::open(config).expect("open coordinator");
        let server = service.start().expect("start coordinator");
        let port = server.local_addr(ADAPTER).expect("bound").port();
        let proxy = CoordinatorProxy::new(
            Communicator::new()
                .string_to_proxy(&format!(
                    "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {port} -t 5000"
                ))
                .expect("proxy"),
        );
        Coordinator {
            service,
            server: Some(server),
            proxy,
        }
    }

    /// Stops the server and the service (as a clean shutdown).
    pub fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        self.service.shutdown();
    }
}

/// Waits until `cond` holds (at most 10 s).
pub fn eventually(what: &str, cond: impl FnMut() -> bool) {
    wait_until(what, Duration::from_secs(10), cond)
}
