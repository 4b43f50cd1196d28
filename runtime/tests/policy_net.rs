//! `LowestLatency` against real servers on 127.0.0.1 whose answer delay the test changes: an
//! endpoint avoided because it was slow gets its calls back once it is fast (issue #13: "0 of
//! 600 calls reached it after it became fast").

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tars::client::policy::LowestLatency;
use tars::client::{CallOptions, Communicator, Policy, ServantProxy};
use tars::packet::{ParamReader, ParamWriter};
use tars::server::{Current, Dispatch, DispatchError};
use tars_test_support::servants::who;
use tars_test_support::serve_one;

const OBJ: &str = "Test.Policy.LagObj";

/// `string who()`: answers its name after sleeping `delay_ms` (changed by the test).
struct Lag {
    name: String,
    delay_ms: Arc<AtomicU64>,
}

impl Dispatch for Lag {
    fn functions(&self) -> &'static [&'static str] {
        &["who"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        _params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        match current.func_name() {
            "who" => {
                let ms = self.delay_ms.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(ms));
                out.write_return(&self.name);
                Ok(())
            }
            other => Err(DispatchError::NoFunc(other.into())),
        }
    }
}

fn tally(p: &ServantProxy, calls: usize) -> Vec<String> {
    let opts = CallOptions::new().timeout(Duration::from_secs(5));
    (0..calls)
        .map(|_| who(p, &opts).expect("call answered"))
        .collect()
}

fn count(v: &[String]) -> BTreeMap<&str, usize> {
    v.iter().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n.as_str()).or_insert(0) += 1;
        m
    })
}

/// `a` answers in 60 ms and `b` in 10 ms: `a` gets only the exploration calls (1 in 16). Then
/// `a` answers at once: within 64 calls it is the fastest again (4 exploration samples
/// replace its window), so of the next 64 calls it gets 60 (all but the explorations of
/// `b`); the check asks for 48, leaving room for scheduling noise on a loaded machine.
#[test]
fn lowest_latency_returns_to_an_endpoint_that_became_fast() {
    let delays = [Arc::new(AtomicU64::new(60)), Arc::new(AtomicU64::new(10))];
    let servers: Vec<_> = ["a", "b"]
        .iter()
        .zip(&delays)
        .map(|(name, delay)| {
            serve_one(
                OBJ,
                Arc::new(Lag {
                    name: (*name).into(),
                    delay_ms: delay.clone(),
                }),
            )
        })
        .collect();
    let eps: Vec<String> = servers
        .iter()
        .map(|(_, port)| format!("tcp -h 127.0.0.1 -p {port} -t 5000"))
        .collect();
    let p = Communicator::new()
        .with_policy(Policy::new(LowestLatency::new()))
        .string_to_proxy(&format!("{OBJ}@{}", eps.join(":")))
        .expect("proxy");

    let slow = tally(&p, 48);
    let a = count(&slow).get("a").copied().unwrap_or(0);
    assert!((2..=8).contains(&a), "a while slow: {:?}", count(&slow));

    delays[0].store(0, Ordering::SeqCst);
    let recovering = tally(&p, 64);
    let recovered = tally(&p, 64);
    let a = count(&recovered).get("a").copied().unwrap_or(0);
    assert!(
        a >= 48,
        "a after it became fast: {:?} (while recovering: {:?})",
        count(&recovered),
        count(&recovering)
    );

    drop(p);
    for (server, _) in servers {
        server.shutdown();
    }
}
