//! [`ServantProxy`]: calls on one remote object, shared by the generated typed proxies.

use crate::TarsString;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use super::callback::AsyncThreads;
use super::error::CallError;
use super::invoker::{Invoker, ResponseFuture};
use crate::codec::DecodeLimits;
use crate::dyeing::DyeingLog;
use crate::packet::{
    packet_type, version, ParamReader, ParamWriter, RequestPacket, ResponsePacket, TupVersion,
    UniAttribute,
};

/// Default timeout of synchronous calls (as TarsCpp).
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_millis(3000);
/// Default timeout of asynchronous calls (as TarsCpp).
pub const DEFAULT_ASYNC_TIMEOUT: Duration = Duration::from_millis(5000);

/// Options of one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallOptions {
    /// Overrides the proxy's timeout.
    pub timeout: Option<Duration>,
    /// Context entries added to the proxy's context.
    pub context: BTreeMap<TarsString, TarsString>,
    /// Status entries (e.g. the grid key filled from `routekey` parameters).
    pub status: BTreeMap<TarsString, TarsString>,
    /// Hash for mod-hash / consistent-hash endpoint selection.
    pub hash: Option<u64>,
    /// Dyes the call with this key (see [`crate::dyeing`]); without it, the call takes the
    /// thread's dye ([`dyeing::current`](crate::dyeing::current)), if any.
    pub dyeing: Option<TarsString>,
}

impl CallOptions {
    /// Default options.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }

    /// Adds a context entry.
    pub fn context(
        mut self,
        key: impl Into<TarsString>,
        value: impl Into<TarsString>,
    ) -> CallOptions {
        self.context.insert(key.into(), value.into());
        self
    }

    /// Adds a status entry.
    pub fn status(
        mut self,
        key: impl Into<TarsString>,
        value: impl Into<TarsString>,
    ) -> CallOptions {
        self.status.insert(key.into(), value.into());
        self
    }

    /// Sets the selection hash.
    pub fn hash(mut self, hash: u64) -> CallOptions {
        self.hash = Some(hash);
        self
    }

    /// Dyes the call with `key`: the request carries the dyed flag and
    /// `STATUS_DYED_KEY = key`, and every hop it makes is logged (see [`crate::dyeing`]).
    pub fn dyeing(mut self, key: impl Into<TarsString>) -> CallOptions {
        self.dyeing = Some(key.into());
        self
    }
}

/// The results of an asynchronous call: a plain `Future` (`Send + 'static`) that resolves once
/// the reply has arrived and been decoded, or with the call's error (at the latest after the
/// async timeout). Poll it from any executor, or wait for it with
/// [`block_on`](super::block_on).
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<T> {
    response: Option<ResponseFuture>,
    limits: DecodeLimits,
    decode: fn(ReplyBody) -> Result<T, CallError>,
}

impl<T> std::fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture")
            .field("done", &self.response.is_none())
            .finish_non_exhaustive()
    }
}

impl<T> Future for CallFuture<T> {
    type Output = Result<T, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(response) = this.response.as_mut() else {
            return Poll::Ready(Err(CallError::Transport(
                "call future polled after it completed".into(),
            )));
        };
        let packet = match Pin::new(response).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(packet) => packet,
        };
        this.response = None;
        Poll::Ready(
            packet
                .and_then(|p| ServantProxy::check(p, this.limits))
                .and_then(this.decode),
        )
    }
}

/// The successful response of a call: its body and context.
#[derive(Debug, Clone)]
pub struct ReplyBody {
    packet: ResponsePacket,
    /// The named results of a TUP response.
    attrs: Option<UniAttribute>,
    limits: DecodeLimits,
}

impl ReplyBody {
    /// A reader over the return value and out parameters, by tag (Tars) or by name (TUP).
    pub fn reader(&self) -> ParamReader<'_> {
        match &self.attrs {
            Some(attrs) => ParamReader::Tup(attrs),
            None => ParamReader::tars(&self.packet.buffer, self.limits),
        }
    }

    /// The context returned by the server.
    pub fn context(&self) -> &BTreeMap<TarsString, TarsString> {
        &self.packet.context
    }

    /// The raw response packet.
    pub fn packet(&self) -> &ResponsePacket {
        &self.packet
    }

    /// The raw response packet, taken out.
    pub fn into_packet(self) -> ResponsePacket {
        self.packet
    }
}

struct Inner {
    name: String,
    /// `name` as it goes into every request (cloned without allocating).
    wire_name: TarsString,
    invoker: Arc<dyn Invoker>,
    sync_timeout: Duration,
    async_timeout: Duration,
    context: BTreeMap<TarsString, TarsString>,
    limits: DecodeLimits,
    /// `iVersion` of requests: Tars, TUP v2 or TUP v3.
    version: i16,
    next_id: AtomicI32,
    /// Where callbacks run; `None`: [`AsyncThreads::global`].
    async_threads: Option<AsyncThreads>,
    /// Where dyed calls are logged.
    dyeing_log: Option<Arc<DyeingLog>>,
}

/// Calls on one object (`App.Server.Obj`), cheap to clone and share across threads.
#[derive(Clone)]
pub struct ServantProxy {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ServantProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServantProxy")
            .field("name", &self.inner.name)
            .field("sync_timeout", &self.inner.sync_timeout)
            .field("async_timeout", &self.inner.async_timeout)
            .finish_non_exhaustive()
    }
}

impl ServantProxy {
    /// A proxy for object `name` whose requests go through `invoker`.
    pub fn new(name: impl Into<String>, invoker: Arc<dyn Invoker>) -> ServantProxy {
        let name = name.into();
        ServantProxy {
            inner: Arc::new(Inner {
                wire_name: TarsString::shared(&name),
                name,
                invoker,
                sync_timeout: DEFAULT_SYNC_TIMEOUT,
                async_timeout: DEFAULT_ASYNC_TIMEOUT,
                context: BTreeMap::new(),
                limits: DecodeLimits::DEFAULT,
                version: version::TARS,
                next_id: AtomicI32::new(1),
                async_threads: None,
                dyeing_log: None,
            }),
        }
    }

    fn modify(&self, f: impl FnOnce(&mut Inner)) -> ServantProxy {
        let mut inner = Inner {
            name: self.inner.name.clone(),
            wire_name: self.inner.wire_name.clone(),
            invoker: self.inner.invoker.clone(),
            sync_timeout: self.inner.sync_timeout,
            async_timeout: self.inner.async_timeout,
            context: self.inner.context.clone(),
            limits: self.inner.limits,
            version: self.inner.version,
            next_id: AtomicI32::new(self.inner.next_id.load(Ordering::Relaxed)),
            async_threads: self.inner.async_threads.clone(),
            dyeing_log: self.inner.dyeing_log.clone(),
        };
        f(&mut inner);
        ServantProxy {
            inner: Arc::new(inner),
        }
    }

    /// A copy with a different synchronous-call timeout.
    pub fn with_sync_timeout(&self, timeout: Duration) -> ServantProxy {
        self.modify(|i| i.sync_timeout = timeout)
    }

    /// A copy with a different asynchronous-call timeout.
    pub fn with_async_timeout(&self, timeout: Duration) -> ServantProxy {
        self.modify(|i| i.async_timeout = timeout)
    }

    /// A copy that sends `key = value` in the context of every call.
    pub fn with_context(
        &self,
        key: impl Into<TarsString>,
        value: impl Into<TarsString>,
    ) -> ServantProxy {
        let (k, v) = (key.into(), value.into());
        self.modify(|i| {
            i.context.insert(k, v);
        })
    }

    /// A copy with different limits for decoding responses.
    pub fn with_limits(&self, limits: DecodeLimits) -> ServantProxy {
        self.modify(|i| i.limits = limits)
    }

    /// A copy that calls in TUP `version` (parameters by name, as TUP clients of TarsCpp,
    /// TarsJava and @tars/rpc send them) instead of plain Tars.
    pub fn with_tup(&self, version: TupVersion) -> ServantProxy {
        self.modify(|i| i.version = version.code())
    }

    /// A copy that calls in plain Tars (the default).
    pub fn with_tars(&self) -> ServantProxy {
        self.modify(|i| i.version = version::TARS)
    }

    /// A copy whose callback-form calls ([`call_callback`](Self::call_callback)) run their
    /// callbacks on `pool` instead of the process-wide [`AsyncThreads::global`].
    pub fn with_async_threads(&self, pool: AsyncThreads) -> ServantProxy {
        self.modify(|i| i.async_threads = Some(pool))
    }

    /// A copy that logs the dyed calls it makes to `log` (see [`crate::dyeing`]).
    pub fn with_dyeing_log(&self, log: Arc<DyeingLog>) -> ServantProxy {
        self.modify(|i| i.dyeing_log = Some(log))
    }

    /// The `iVersion` of this proxy's requests.
    pub fn protocol_version(&self) -> i16 {
        self.inner.version
    }

    /// Calls the framework's `tars_ping`, which every Tars server answers, and waits for the
    /// answer: a liveness check of the object.
    pub fn tars_ping(&self) -> Result<(), CallError> {
        self.invoke_sync("tars_ping", self.param_writer(), &CallOptions::default())
            .map(drop)
    }

    /// [`tars_ping`](Self::tars_ping) without blocking.
    pub fn tars_ping_async(&self) -> impl Future<Output = Result<(), CallError>> + Send + 'static {
        let fut = self.invoke_async("tars_ping", self.param_writer(), &CallOptions::default());
        async move { fut.await.map(drop) }
    }

    /// [`tars_ping`](Self::tars_ping) in callback form: `callback` runs on an async-callback
    /// thread with the outcome.
    pub fn tars_ping_callback(
        &self,
        callback: impl FnOnce(Result<(), CallError>) + Send + 'static,
    ) {
        self.call_callback(
            "tars_ping",
            self.param_writer(),
            &CallOptions::default(),
            |_| Ok(()),
            callback,
        );
    }

    /// The object name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A writer for call parameters in this proxy's protocol (tagged for Tars, by name for
    /// TUP).
    pub fn param_writer(&self) -> ParamWriter {
        ParamWriter::for_version(self.inner.version)
    }

    fn request(
        &self,
        func: &str,
        body: Bytes,
        opts: &CallOptions,
        timeout: Duration,
        kind: i8,
    ) -> RequestPacket {
        let mut id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        }
        let mut context = self.inner.context.clone();
        context.extend(opts.context.iter().map(|(k, v)| (k.clone(), v.clone())));
        // Lowest priority: the thread's ambient entries (e.g. the transaction XID).
        super::ambient::fill(&mut context);
        let timeout = opts.timeout.unwrap_or(timeout);
        let mut req = RequestPacket::new(
            id,
            self.inner.wire_name.clone(),
            func,
            body,
            i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
        );
        req.version = self.inner.version;
        req.packet_type = kind;
        req.context = context;
        req.status = opts.status.clone();
        if let Some(key) = opts.dyeing.clone().or_else(crate::dyeing::current) {
            crate::dyeing::log_hop(
                self.inner.dyeing_log.as_deref(),
                "client",
                &key,
                &self.inner.name,
                func,
                "call",
            );
            req.message_type |= crate::dyeing::MESSAGE_TYPE_DYED;
            req.status
                .insert(TarsString::from(crate::dyeing::STATUS_DYED_KEY), key);
        }
        req
    }

    /// The endpoint-selection hash of a call: `CallOptions::hash`, else the routekey's grid key.
    fn selection_hash(opts: &CallOptions) -> Option<u64> {
        opts.hash.or_else(|| {
            opts.status
                .get(crate::packet::status_key::GRID_KEY)
                .map(|k| super::balance::stable_hash(k.as_bytes()))
        })
    }

    fn check(packet: ResponsePacket, limits: DecodeLimits) -> Result<ReplyBody, CallError> {
        if packet.ret != 0 {
            return Err(CallError::Server {
                code: packet.ret,
                desc: packet.result_desc.to_string(),
            });
        }
        let attrs = match TupVersion::from_code(packet.version) {
            Some(v) => Some(
                UniAttribute::decode_version(&packet.buffer, v, limits).map_err(|e| match e {
                    crate::packet::TupError::Decode { source, .. } => CallError::Decode(source),
                    _ => CallError::Decode(crate::codec::DecodeError::Malformed {
                        tag: 6,
                        what: "TUP response attributes",
                    }),
                })?,
            ),
            None => None,
        };
        Ok(ReplyBody {
            packet,
            attrs,
            limits,
        })
    }

    /// Calls `func` and blocks the current thread until the reply (or the sync timeout).
    pub fn invoke_sync(
        &self,
        func: &str,
        params: ParamWriter,
        opts: &CallOptions,
    ) -> Result<ReplyBody, CallError> {
        let req = self.request(
            func,
            params.into_body(),
            opts,
            self.inner.sync_timeout,
            packet_type::NORMAL,
        );
        let packet = self
            .inner
            .invoker
            .invoke_sync(req, Self::selection_hash(opts))?;
        Self::check(packet, self.inner.limits)
    }

    /// Calls `func` and returns a [`CallFuture`] of its results, decoded from the reply by
    /// `decode` (the typed proxies pass their generated result readers).
    pub fn call_async<T>(
        &self,
        func: &str,
        params: ParamWriter,
        opts: &CallOptions,
        decode: fn(ReplyBody) -> Result<T, CallError>,
    ) -> CallFuture<T> {
        let req = self.request(
            func,
            params.into_body(),
            opts,
            self.inner.async_timeout,
            packet_type::NORMAL,
        );
        CallFuture {
            response: Some(self.inner.invoker.invoke(req, Self::selection_hash(opts))),
            limits: self.inner.limits,
            decode,
        }
    }

    /// Calls `func` like [`call_async`](Self::call_async), and runs `callback` with the decoded
    /// results (or the call's error, at the latest after the async timeout) on an
    /// async-callback thread: the proxy's pool ([`with_async_threads`](Self::with_async_threads))
    /// or [`AsyncThreads::global`]. As with `call_async`, the request is handed to the invoker before this returns. A panicking
    /// callback is caught and logged; the pool's thread goes on. In the unlikely case that no
    /// async-callback thread can be started, `callback` runs here, with
    /// [`CallError::Transport`].
    pub fn call_callback<T: Send + 'static>(
        &self,
        func: &str,
        params: ParamWriter,
        opts: &CallOptions,
        decode: fn(ReplyBody) -> Result<T, CallError>,
        callback: impl FnOnce(Result<T, CallError>) + Send + 'static,
    ) {
        let pool = match &self.inner.async_threads {
            Some(pool) => pool.clone(),
            None => AsyncThreads::global(),
        };
        if let Err(e) = pool.start() {
            tracing::error!(error = %e, "no async-callback thread: callback run in place");
            callback(Err(CallError::Transport(e.to_string())));
            return;
        }
        let future = self.call_async(func, params, opts, decode);
        // The callback runs with the dye of the call that made it (TarsCpp restores the
        // caller's dyeing in the callback's thread data).
        let dye = opts.dyeing.clone().or_else(crate::dyeing::current);
        let callback = move |outcome| {
            let _dyed = crate::dyeing::scope_opt(dye);
            callback(outcome)
        };
        if let Err(e) = pool.spawn_callback(future, callback) {
            // Not reached: the pool's threads are running.
            tracing::error!(error = %e, "async-callback pool refused a call");
        }
    }

    /// Calls `func` and returns a future of the reply (resolved at the latest after the async
    /// timeout). The future is `Send + 'static` and needs no particular executor.
    pub fn invoke_async(
        &self,
        func: &str,
        params: ParamWriter,
        opts: &CallOptions,
    ) -> CallFuture<ReplyBody> {
        self.call_async(func, params, opts, Ok)
    }

    /// Sends `func` one-way: no response is expected or waited for.
    pub fn invoke_oneway(
        &self,
        func: &str,
        params: ParamWriter,
        opts: &CallOptions,
    ) -> Result<(), CallError> {
        let req = self.request(
            func,
            params.into_body(),
            opts,
            self.inner.async_timeout,
            packet_type::ONEWAY,
        );
        self.inner
            .invoker
            .invoke_oneway(req, Self::selection_hash(opts))
    }
}
