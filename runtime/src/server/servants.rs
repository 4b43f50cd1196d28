//! Routing a request to its servant and turning the outcome into a response.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::current::{Caller, Current, Observe, Response, ResponseSink};
use super::dispatch::Dispatch;
use crate::codec::DecodeLimits;
use crate::packet::{version, ParamReader, RequestPacket, RetCode, TupVersion, UniAttribute};

/// The servants hosted by a server, by object name.
#[derive(Clone, Default)]
pub struct Servants {
    by_name: HashMap<String, Arc<dyn Dispatch>>,
    limits: DecodeLimits,
}

impl std::fmt::Debug for Servants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Servants")
            .field("names", &self.by_name.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Servants {
    /// No servants.
    pub fn new() -> Servants {
        Servants::default()
    }

    /// Decode limits applied to call parameters.
    pub fn with_limits(mut self, limits: DecodeLimits) -> Servants {
        self.limits = limits;
        self
    }

    /// Hosts `servant` under object name `name` (e.g. `Test.HelloServer.HelloObj`).
    pub fn add(&mut self, name: impl Into<String>, servant: Arc<dyn Dispatch>) -> &mut Self {
        self.by_name.insert(name.into(), servant);
        self
    }

    /// The servant named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Dispatch>> {
        self.by_name.get(name)
    }

    /// Names of the hosted servants.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Serves one request. Returns the response to send, or `None` for one-way calls and
    /// deferred responses (which go to `sink` later).
    ///
    /// Unknown servants answer `-4`, unknown functions `-3`, undecodable parameters `-1`;
    /// `tars_ping` always answers 0.
    pub fn handle(
        &self,
        req: RequestPacket,
        sink: Option<Arc<dyn ResponseSink>>,
    ) -> Option<Response> {
        self.handle_from(req, sink, Caller::default())
    }

    /// [`Servants::handle`] for a request from `caller` (what [`Current::caller`] returns).
    pub fn handle_from(
        &self,
        req: RequestPacket,
        sink: Option<Arc<dyn ResponseSink>>,
        caller: Caller,
    ) -> Option<Response> {
        let (mut current, buffer) = Current::from_packet(req, sink, caller);
        let response = self.serve_dyed(&mut current, &buffer, None);
        if current.is_oneway() || current.is_deferred() {
            return None;
        }
        Some(response)
    }

    /// [`Servants::handle_from`] for a request that arrived at `received`, recorded in the
    /// server statistics and dyeing log of `observe` (the network server's path).
    pub(crate) fn handle_observed(
        &self,
        req: RequestPacket,
        sink: Option<Arc<dyn ResponseSink>>,
        caller: Caller,
        received: std::time::Instant,
        observe: &Observe,
    ) -> Option<Response> {
        let (mut current, buffer) = Current::from_packet(req, sink, caller);
        if let Some(stats) = &observe.stats {
            current.observe(stats.clone(), received);
        }
        let response = self.serve_dyed(&mut current, &buffer, observe.dyeing_log.as_deref());
        if current.is_deferred() {
            // Recorded when the `Responder` replies.
            return None;
        }
        if let Some(observed) = current.observed() {
            // One-way requests count as answered with 0 once served.
            observed.record(if current.is_oneway() {
                0
            } else {
                response.ret()
            });
        }
        if current.is_oneway() {
            return None;
        }
        Some(response)
    }

    /// Serves `current`; a dyed request is logged, and served with its key as the thread's
    /// dye so that the calls the servant makes carry it.
    fn serve_dyed(
        &self,
        current: &mut Current,
        buffer: &Bytes,
        log: Option<&crate::dyeing::DyeingLog>,
    ) -> Response {
        let Some(key) = current.dyeing_key().map(crate::TarsString::from) else {
            return self.serve(current, buffer);
        };
        crate::dyeing::log_hop(
            log,
            "server",
            &key,
            current.servant_name(),
            current.func_name(),
            "serve",
        );
        let _dyed = crate::dyeing::scope(key);
        self.serve(current, buffer)
    }

    fn serve(&self, current: &mut Current, buffer: &Bytes) -> Response {
        let Some(servant) = self.by_name.get(current.servant_name()) else {
            return current.build_response(
                RetCode::NoServant.code(),
                current.result_writer(),
                format!("no servant named {}", current.servant_name()),
            );
        };
        if current.func_name() == "tars_ping" {
            return current.build_response(0, current.result_writer(), String::new());
        }
        let attrs;
        let mut params = match current.version() {
            v @ (version::TUP | version::TUP_COMPLEX) => match UniAttribute::decode_version(
                buffer,
                TupVersion::from_code(v).unwrap_or_default(),
                self.limits,
            ) {
                Ok(a) => {
                    attrs = a;
                    ParamReader::Tup(&attrs)
                }
                Err(e) => {
                    return current.build_response(
                        RetCode::DecodeErr.code(),
                        current.result_writer(),
                        e.to_string(),
                    )
                }
            },
            version::TARS => ParamReader::tars(buffer, self.limits),
            other => {
                return current.build_response(
                    RetCode::DecodeErr.code(),
                    current.result_writer(),
                    format!("unsupported protocol version {other}"),
                )
            }
        };
        let mut out = current.result_writer();
        match servant.dispatch(current, &mut params, &mut out) {
            Ok(()) => current.build_response(0, out, String::new()),
            Err(e) => {
                current.build_response(e.ret_code(), current.result_writer(), e.description())
            }
        }
    }
}
