//! An account service: the `Bank::Account` servant (whose tries are TCC tries through
//! [`ResourceManager::tcc_try`]) and the `Participant` servant the coordinator confirms or
//! cancels them through, both over one [`Ledger`], in one server that registers both objects
//! with the registry.
//!
//! Fault injection (for the demo): a call may carry [`FAULT_KEY`] in its context, a
//! comma-separated list of
//! - `fail-try`: the try reserves, then fails (a partial effect the rollback must cancel);
//! - `confirm-retry-once`: the branch's confirm answers `RetryLater` once;
//! - `delay-try-ms=<n>`: the try waits `n` ms after registering its branch, before reserving
//!   (so that a timed-out transaction's cancel can come first: suspension).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tars::TarsString;

use anyhow::Context;
use tars::registration::RegistrationConfig;
use tars::server::{
    AdapterConfig, Current, Endpoint, ServantError, Servants, Server, ServerConfig,
};
use tars_coordinator::client::{CoordinatorProxy, ParticipantService, ResourceManager, TryError};

use crate::ledger::{application_data, Ledger};
use crate::Bank::{self, Balance, Entry, EntryKind};

/// The context key of the demo's fault injection.
pub const FAULT_KEY: &str = "bank.fault";

/// Servant error: the call is not part of a global transaction.
pub const ERR_NO_TRANSACTION: i32 = 1001;
/// Servant error: the branch could not be registered with the coordinator.
pub const ERR_REGISTER: i32 = 1002;
/// Servant error: the try failed (refused, or an injected failure).
pub const ERR_TRY_FAILED: i32 = 1003;

/// The `Bank::Account` object of account `name` (e.g. `Bank.AccountA.AccountObj`).
pub fn account_obj(name: &str) -> String {
    format!("Bank.Account{name}.AccountObj")
}

/// The `Participant` object of account `name` (e.g. `Bank.AccountA.ParticipantObj`): the
/// resource id of its TCC branches, which the coordinator resolves through the registry.
pub fn participant_obj(name: &str) -> String {
    format!("Bank.Account{name}.ParticipantObj")
}

/// The faults a call asks for (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Fail the try after reserving.
    pub fail_try: bool,
    /// Answer `RetryLater` to the first confirm.
    pub confirm_retry_once: bool,
    /// Wait this long between registering the branch and reserving.
    pub delay_try: Option<Duration>,
}

impl Faults {
    /// Parses a [`FAULT_KEY`] value; unknown items are ignored.
    pub fn parse(text: &str) -> Faults {
        let mut faults = Faults::default();
        for item in text.split(',').map(str::trim) {
            match item.split_once('=') {
                Some(("delay-try-ms", ms)) => {
                    faults.delay_try = ms.parse().ok().map(Duration::from_millis)
                }
                _ if item == "fail-try" => faults.fail_try = true,
                _ if item == "confirm-retry-once" => faults.confirm_retry_once = true,
                _ => {}
            }
        }
        faults
    }

    /// The [`FAULT_KEY`] value asking for these faults (empty for none).
    pub fn to_context(&self) -> String {
        let mut items = Vec::new();
        if self.fail_try {
            items.push("fail-try".to_owned());
        }
        if self.confirm_retry_once {
            items.push("confirm-retry-once".to_owned());
        }
        if let Some(d) = self.delay_try {
            items.push(format!("delay-try-ms={}", d.as_millis()));
        }
        items.join(",")
    }

    fn of(current: &Current) -> Faults {
        current
            .context()
            .get(FAULT_KEY)
            .map(|v| Faults::parse(v))
            .unwrap_or_default()
    }
}

/// The `Bank::Account` servant.
#[derive(Debug)]
pub struct AccountImpl {
    ledger: Arc<Ledger>,
    rm: ResourceManager,
    resource_id: String,
}

impl AccountImpl {
    /// The servant of `ledger`, registering its branches on `resource_id` through `rm`.
    pub fn new(ledger: Arc<Ledger>, rm: ResourceManager, resource_id: String) -> AccountImpl {
        AccountImpl {
            ledger,
            rm,
            resource_id,
        }
    }

    /// The TCC try of one side of a transfer.
    fn tcc_try(
        &self,
        current: &Current,
        transfer_id: &str,
        kind: EntryKind,
        amount: i64,
    ) -> Result<i64, ServantError> {
        let faults = Faults::of(current);
        let data = application_data(transfer_id, kind, amount);
        let tried = self
            .rm
            .tcc_try(current, &self.resource_id, &data, |branch| {
                if let Some(delay) = faults.delay_try {
                    std::thread::sleep(delay);
                }
                let failing_confirms = u32::from(faults.confirm_retry_once);
                if let Err(refused) =
                    self.ledger
                        .try_reserve(branch, transfer_id, kind, amount, failing_confirms)
                {
                    if refused.is_clean() {
                        // Nothing was reserved: the coordinator may forget the branch
                        // (opt-in; without it the rollback would cancel it, an empty rollback).
                        if let Err(e) = self.rm.report_phase_one_failed(branch) {
                            tracing::warn!(error = %e, "reporting PhaseOne_Failed");
                        }
                    }
                    return Err(refused.to_string());
                }
                if faults.fail_try {
                    // A partial effect: the reservation stays until the rollback cancels it.
                    return Err("injected failure after reserving".to_owned());
                }
                Ok(branch.branch_id)
            });
        match tried {
            Ok(branch_id) => Ok(branch_id),
            Err(TryError::NoTransaction) => Err(ServantError::new(
                ERR_NO_TRANSACTION,
                "not in a global transaction",
            )),
            Err(TryError::Register(e)) => Err(ServantError::new(ERR_REGISTER, e.to_string())),
            Err(TryError::Body { branch_id, error }) => Err(ServantError::new(
                ERR_TRY_FAILED,
                format!("{} try of branch {branch_id}: {error}", self.ledger.name()),
            )),
        }
    }
}

impl Bank::Account for AccountImpl {
    fn try_debit(
        &self,
        current: &mut Current,
        transfer_id: TarsString,
        amount: i64,
    ) -> Result<i64, ServantError> {
        self.tcc_try(current, &transfer_id, EntryKind::DEBIT, amount)
    }

    fn try_credit(
        &self,
        current: &mut Current,
        transfer_id: TarsString,
        amount: i64,
    ) -> Result<i64, ServantError> {
        self.tcc_try(current, &transfer_id, EntryKind::CREDIT, amount)
    }

    fn get_balance(&self, _current: &mut Current) -> Result<Balance, ServantError> {
        Ok(self.ledger.balance())
    }

    fn entries(&self, _current: &mut Current) -> Result<Vec<Entry>, ServantError> {
        Ok(self.ledger.entries())
    }
}

/// How to run one account service.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// The account's name (`A` serves `Bank.AccountA.*`).
    pub name: String,
    /// The money it starts with.
    pub initial_balance: i64,
    /// The registry both objects register with
    /// (`tars.tarsregistry.RegistryObj@tcp -h .. -p ..`).
    pub registry: String,
    /// The coordinator (`tars.tarscoordinator.CoordinatorObj@tcp -h .. -p ..`).
    pub coordinator: String,
    /// Listening host.
    pub host: String,
    /// Listening port (0 picks a free one).
    pub port: u16,
    /// Heartbeat interval towards the registry.
    pub heartbeat: Duration,
    /// Business threads.
    pub threads: usize,
}

impl AccountConfig {
    /// Account `name` with `initial_balance`, on 127.0.0.1 and a free port.
    pub fn new(
        name: impl Into<String>,
        initial_balance: i64,
        registry: impl Into<String>,
        coordinator: impl Into<String>,
    ) -> AccountConfig {
        AccountConfig {
            name: name.into(),
            initial_balance,
            registry: registry.into(),
            coordinator: coordinator.into(),
            host: "127.0.0.1".into(),
            port: 0,
            heartbeat: Duration::from_secs(5),
            threads: 4,
        }
    }
}

/// A running account service.
pub struct AccountServer {
    server: Server,
    ledger: Arc<Ledger>,
    addr: SocketAddr,
}

impl std::fmt::Debug for AccountServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountServer")
            .field("account", &self.ledger.name())
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl AccountServer {
    /// Starts the account: hosts its `AccountObj` and `ParticipantObj` and registers both
    /// with the registry.
    pub fn start(config: &AccountConfig) -> anyhow::Result<AccountServer> {
        let coordinator = tars::client::Communicator::new()
            .string_to_proxy(&config.coordinator)
            .with_context(|| format!("coordinator {:?}", config.coordinator))?;
        let rm = ResourceManager::new(
            CoordinatorProxy::new(coordinator),
            format!("Bank.Account{}", config.name),
        );
        let ledger = Arc::new(Ledger::new(config.name.clone(), config.initial_balance));
        let mut servants = Servants::new();
        servants.add(
            account_obj(&config.name),
            Arc::new(Bank::AccountServant::new(AccountImpl::new(
                ledger.clone(),
                rm,
                participant_obj(&config.name),
            ))),
        );
        servants.add(
            participant_obj(&config.name),
            ParticipantService::new(ledger.clone()).into_servant(),
        );
        let adapter_name = format!("Bank.Account{}.Adapter", config.name);
        let mut adapter = AdapterConfig::new(
            adapter_name.clone(),
            Endpoint::tcp(&config.host, config.port),
            Arc::new(servants),
        );
        // Tries call the coordinator: not on the network thread.
        adapter.threads = config.threads.max(1);
        let server = Server::start(
            ServerConfig {
                announcer: Some(
                    RegistrationConfig::new(config.registry.clone())
                        .with_heartbeat_interval(config.heartbeat)
                        .into(),
                ),
                ..ServerConfig::default()
            },
            vec![adapter],
        )
        .with_context(|| format!("starting account {}", config.name))?;
        let addr = server
            .local_addr(&adapter_name)
            .context("the account adapter is not bound")?;
        Ok(AccountServer {
            server,
            ledger,
            addr,
        })
    }

    /// The account's ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Deregisters and stops serving.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}
