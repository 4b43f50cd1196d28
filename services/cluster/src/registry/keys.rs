//! The registry's keys below `<prefix>registry/` and the liveness record.
//!
//! | key | value |
//! |---|---|
//! | `registry/instances/<object>/<host>:<port>` | the Tars-encoded `tarsrs.Instance` (static metadata and the load given at registration) |
//! | `registry/alive/<object>/<host>:<port>` | the Tars-encoded [`AliveRecord`]: the last liveness evidence a node wrote |
//!
//! Object names hold no `/` (`App.Server.Obj`); hosts may hold `:` (IPv6), so a key is split
//! at its last `/` and the endpoint at its last `:`.

use tars::TarsString;
use tars::TarsStruct as DeriveTarsStruct;
use tars_protocols::tarsrs::DynamicMeta;

use crate::keys::Keys;

/// What a key below `registry/` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `instances/...`: a registration.
    Instance,
    /// `alive/...`: liveness evidence.
    Alive,
}

/// An instance named by a key: `(object, host, port)`.
pub type InstanceId = (TarsString, TarsString, i32);

/// The registry's keys below one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryKeys {
    base: String,
}

impl RegistryKeys {
    /// The registry's keys of `keys` (below [`Keys::registry`]).
    pub fn new(keys: &Keys) -> RegistryKeys {
        RegistryKeys {
            base: keys.registry(),
        }
    }

    /// `<prefix>registry/`: every registry key (what the cache watches).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The end of the range of [`RegistryKeys::base`] (exclusive).
    pub fn range_end(&self) -> Vec<u8> {
        let mut end = self.base.clone().into_bytes();
        // The base ends in '/': the range ends just past it.
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        end
    }

    /// `registry/instances/<obj>/<host>:<port>`.
    pub fn instance(&self, obj: &str, host: &str, port: i32) -> String {
        format!("{}instances/{obj}/{host}:{port}", self.base)
    }

    /// `registry/alive/<obj>/<host>:<port>`.
    pub fn alive(&self, obj: &str, host: &str, port: i32) -> String {
        format!("{}alive/{obj}/{host}:{port}", self.base)
    }

    /// What `key` holds and the instance it names; `None` for a key this module did not
    /// write.
    pub fn parse(&self, key: &str) -> Option<(KeyKind, InstanceId)> {
        let rest = key.strip_prefix(&self.base)?;
        let (kind, rest) = if let Some(r) = rest.strip_prefix("instances/") {
            (KeyKind::Instance, r)
        } else {
            (KeyKind::Alive, rest.strip_prefix("alive/")?)
        };
        let (obj, endpoint) = rest.rsplit_once('/')?;
        let (host, port) = endpoint.rsplit_once(':')?;
        if obj.is_empty() || host.is_empty() {
            return None;
        }
        Some((kind, (obj.into(), host.into(), port.parse().ok()?)))
    }
}

/// The value of an `alive/` key: evidence that the instance was alive, written by the node
/// that received its registration or heartbeats (see the module docs of
/// [`crate::registry`]).
#[derive(Debug, Clone, PartialEq, Default, DeriveTarsStruct)]
#[tars(class = "tarsrs.cluster.AliveRecord")]
pub struct AliveRecord {
    /// The node that wrote it.
    #[tars(tag = 0, require)]
    pub node: String,
    /// When it was written (the writer's wall clock, ms since the Unix epoch).
    #[tars(tag = 1, require)]
    pub at_ms: i64,
    /// The wall-clock time of the heartbeat it reports; 0 when written at registration.
    #[tars(tag = 2)]
    pub last_heartbeat_ms: i64,
    /// The instance's load at that time.
    #[tars(tag = 3)]
    pub load: DynamicMeta,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tars::codec::TarsStruct;

    #[test]
    fn keys_parse_back_also_with_ipv6_hosts() {
        let k = RegistryKeys::new(&Keys::new("/t"));
        let key = k.instance("App.S.Obj", "::1", 9000);
        assert_eq!(key, "/t/registry/instances/App.S.Obj/::1:9000");
        assert_eq!(
            k.parse(&key),
            Some((KeyKind::Instance, ("App.S.Obj".into(), "::1".into(), 9000)))
        );
        assert_eq!(
            k.parse(&k.alive("A.B.C", "10.0.0.1", 1)),
            Some((KeyKind::Alive, ("A.B.C".into(), "10.0.0.1".into(), 1)))
        );
        assert_eq!(k.parse("/t/registry/other/x"), None);
        assert_eq!(k.parse("/t/registry/instances/x/host-without-port"), None);
        assert_eq!(k.range_end(), b"/t/registry0".to_vec());
    }

    #[test]
    fn alive_record_round_trips() {
        let r = AliveRecord {
            node: "n1".into(),
            at_ms: 5,
            last_heartbeat_ms: 4,
            load: DynamicMeta {
                cpu_load: 0.5,
                ..DynamicMeta::default()
            },
        };
        assert_eq!(AliveRecord::decode_from(&r.encode_to_bytes()), Ok(r));
    }
}
