//! Business threads (ServantHandle): take request batches from an adapter's queue, enforce
//! the queue timeout, call the servant and send the batch's responses to the connection's net
//! thread in one hand-off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::net_thread::{Command, ConnSink};
use super::queue::JobSource;
use crate::packet::{RequestPacket, RetCode};
use crate::server::current::Observe;
use crate::server::{Response, ResponseSink, Servants};

pub(crate) fn run(
    jobs: JobSource,
    servants: Arc<Servants>,
    queue_timeout: Duration,
    observe: Arc<Observe>,
    counters: Arc<super::stats::IoCounters>,
) {
    // Ends when every sender is gone (shutdown) and the queue is drained.
    while let Some(batch) = jobs.next() {
        let sink = Arc::new(ConnSink {
            conn: batch.conn,
            net: batch.net.clone(),
        });
        let mut out = BytesMut::new();
        let mut frames = 0;
        for request in batch.requests {
            let response = if expired(&request, batch.received, queue_timeout) {
                super::stats::IoCounters::add(&counters.shed_queue_timeout, 1);
                (!request.is_oneway()).then(|| {
                    Response::error(
                        &request,
                        RetCode::QueueTimeout,
                        "request waited too long in the queue",
                    )
                })
            } else {
                servants.handle_observed(
                    request,
                    Some(sink.clone() as Arc<dyn ResponseSink>),
                    batch.caller.clone(),
                    batch.received,
                    &observe,
                )
            };
            if let Some(response) = response {
                response.write_frame(&mut out);
                frames += 1;
            }
        }
        if !out.is_empty() {
            batch
                .net
                .send(Command::Send(batch.conn, out.freeze(), frames));
        }
    }
}

/// Whether the request waited longer than the queue timeout or than its caller waits.
fn expired(request: &RequestPacket, received: Instant, queue_timeout: Duration) -> bool {
    let waited = received.elapsed();
    let caller_gave_up =
        request.timeout > 0 && waited > Duration::from_millis(request.timeout as u64);
    waited > queue_timeout || caller_gave_up
}
