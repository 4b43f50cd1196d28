//! The interop interface `Test::Hello` (generated from `idl/Hello.tars` by build.rs) and the
//! reference implementation both peers agree on.

use std::collections::BTreeMap;
use tars::TarsString;

use parking_lot::Mutex;
use tars::bytes::Bytes;
use tars::server::{Current, ServantError};

#[allow(missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));
}

pub use generated::Test;

/// The object name both peers host the servant under.
pub const HELLO_OBJ: &str = "Test.HelloServer.HelloObj";

/// Name of the adapter [`hello_adapter`] returns.
pub const HELLO_ADAPTER: &str = "HelloAdapter";

/// An adapter on 127.0.0.1:`port` (0 = any free port) serving a fresh [`HelloImpl`] as
/// [`HELLO_OBJ`] with `threads` business threads.
pub fn hello_adapter(port: u16, threads: usize) -> tars::server::AdapterConfig {
    let mut servants = tars::server::Servants::new();
    servants.add(
        HELLO_OBJ,
        std::sync::Arc::new(Test::HelloServant::new(HelloImpl::default())),
    );
    let mut adapter = tars::server::AdapterConfig::new(
        HELLO_ADAPTER,
        tars::server::Endpoint::tcp("127.0.0.1", port),
        std::sync::Arc::new(servants),
    );
    adapter.threads = threads;
    adapter
}

/// Name of the adapter [`udp_twin`] returns.
pub const HELLO_UDP_ADAPTER: &str = "HelloUdpAdapter";

/// A UDP adapter on 127.0.0.1:`port` (0 = any free port) serving the same servants, with the
/// same threads and limits, as `adapter` (so a one-way `notify` over one transport is seen by
/// `lastNotify` over the other).
pub fn udp_twin(adapter: &tars::server::AdapterConfig, port: u16) -> tars::server::AdapterConfig {
    let mut udp = adapter.clone();
    udp.name = HELLO_UDP_ADAPTER.into();
    udp.endpoint = tars::server::Endpoint {
        protocol: "udp".into(),
        ..tars::server::Endpoint::tcp("127.0.0.1", port)
    };
    udp
}

/// `Test::Hello` with the semantics of `node/rpc-server.js`.
#[derive(Debug, Default)]
pub struct HelloImpl {
    last: Mutex<TarsString>,
}

impl Test::Hello for HelloImpl {
    fn echo(&self, _c: &mut Current, s: TarsString) -> Result<(i32, TarsString), ServantError> {
        Ok((s.encode_utf16().count() as i32, s))
    }

    fn echo_item(&self, _c: &mut Current, item: Test::Item) -> Result<Test::Item, ServantError> {
        Ok(Test::Item {
            id: item.id + 1,
            name: format!("{}!", item.name).into(),
            ..item
        })
    }

    fn echo_map(
        &self,
        _c: &mut Current,
        m: BTreeMap<TarsString, i32>,
    ) -> Result<BTreeMap<TarsString, i32>, ServantError> {
        Ok(m.into_iter().map(|(k, v)| (k, v.wrapping_mul(2))).collect())
    }

    fn echo_bytes(&self, _c: &mut Current, b: Bytes) -> Result<Bytes, ServantError> {
        Ok(b.iter().rev().copied().collect())
    }

    fn add(&self, _c: &mut Current, a: i32, b: i32) -> Result<(i32, i32), ServantError> {
        Ok((0, a.wrapping_add(b)))
    }

    fn ping(&self, _c: &mut Current) -> Result<(), ServantError> {
        Ok(())
    }

    fn notify(&self, _c: &mut Current, msg: TarsString) -> Result<(), ServantError> {
        *self.last.lock() = msg;
        Ok(())
    }

    fn last_notify(&self, _c: &mut Current) -> Result<TarsString, ServantError> {
        Ok(self.last.lock().clone())
    }

    fn echo_mood(&self, _c: &mut Current, m: Test::Mood) -> Result<Test::Mood, ServantError> {
        Ok(m)
    }

    fn echo_raw(&self, _c: &mut Current, s: TarsString) -> Result<TarsString, ServantError> {
        Ok(s)
    }

    fn seen_dyeing(&self, c: &mut Current) -> Result<(bool, TarsString), ServantError> {
        Ok(match c.dyeing_key() {
            Some(key) => (true, key.into()),
            None => (false, TarsString::default()),
        })
    }
}
