//! Business threads (ServantHandle): take requests from an adapter's bounded queue, enforce
//! the queue timeout, call the servant and send the response to the connection's net thread.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::net_thread::{frame, Command, ConnSink, Job};
use crate::codec::TarsStruct;
use crate::packet::{ResponsePacket, RetCode};
use crate::server::{ResponseSink, Servants};

pub(crate) fn run(jobs: Receiver<Job>, servants: Arc<Servants>, queue_timeout: Duration) {
    // Ends when every sender is gone (shutdown) and the queue is drained.
    while let Ok(job) = jobs.recv() {
        let waited = job.received.elapsed();
        let caller_gave_up =
            job.request.timeout > 0 && waited > Duration::from_millis(job.request.timeout as u64);
        if waited > queue_timeout || caller_gave_up {
            if !job.request.is_oneway() {
                let resp = ResponsePacket::error(
                    &job.request,
                    RetCode::QueueTimeout,
                    "request waited too long in the queue",
                );
                job.net
                    .send(Command::Send(job.conn, frame(&resp.encode_to_bytes())));
            }
            continue;
        }
        let sink = Arc::new(ConnSink {
            conn: job.conn,
            net: job.net.clone(),
        });
        if let Some(response) =
            servants.handle(job.request, Some(sink.clone() as Arc<dyn ResponseSink>))
        {
            sink.send(response);
        }
    }
}
