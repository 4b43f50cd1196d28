//! How the coordinator reaches the resource managers of Seata clients in phase two.
//!
//! A Seata RM is not a Tars object: it is a TCP connection to the Seata front end of one
//! `tarsd` node. Every tarsd running a Seata front end also serves a phase-two bridge,
//! [`SEATA_RM_OBJ`], a `tarstx::Participant` that forwards `branchCommit` / `branchRollback`
//! to an RM connection as a Seata BranchCommit / BranchRollback request and answers with the
//! RM's branch status.
//!
//! A branch registered through the front end records the way back in its client id:
//! `seata://<host>:<port>/<java client id>` ([`SeataRoute`]), where `host:port` is the Tars
//! endpoint of the bridge of the node the RM is connected to and the Java client id is
//! `<applicationId>:<rm ip>:<rm port>`. The coordinator calls that bridge with the Java client
//! id in the call context ([`SEATA_CLIENT_ID_CONTEXT`]), so the bridge can prefer the RM's own
//! connection and fall back to another connection of the same application and resource.

/// The object name of the phase-two bridge every tarsd with a Seata front end serves (and
/// registers in its registry).
pub const SEATA_RM_OBJ: &str = "tars.tarscoordinator.SeataRmObj";

/// The call-context key carrying the branch's Java client id to the bridge.
pub const SEATA_CLIENT_ID_CONTEXT: &str = "seata.clientId";

/// The ret code of a bridge call that found no connection of the branch's application and
/// resource (the RM is not connected to that node; the coordinator retries, possibly through
/// another node's bridge). Positive: a servant's own code (negative ones below -99 are the
/// framework's and travel as -99).
pub const NO_RM_CONNECTION: i32 = 9001;

const SCHEME: &str = "seata://";

/// A Seata branch's client id, split into the bridge that reaches its RM and the Java client
/// id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeataRoute<'a> {
    /// `host:port` of the Tars endpoint serving [`SEATA_RM_OBJ`].
    pub bridge: &'a str,
    /// `<applicationId>:<ip>:<port>`, as the Java TC names the client.
    pub client_id: &'a str,
}

impl<'a> SeataRoute<'a> {
    /// The client id recorded for a branch registered by `client_id` through the bridge at
    /// `bridge` (`host:port`).
    pub fn client_id(bridge: &str, client_id: &str) -> String {
        format!("{SCHEME}{bridge}/{client_id}")
    }

    /// The route of a branch client id, or `None` when it is not a Seata branch.
    pub fn parse(branch_client_id: &'a str) -> Option<SeataRoute<'a>> {
        let rest = branch_client_id.strip_prefix(SCHEME)?;
        let (bridge, client_id) = rest.split_once('/')?;
        let (host, port) = bridge.rsplit_once(':')?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return None;
        }
        Some(SeataRoute { bridge, client_id })
    }

    /// The bridge's host (without IPv6 brackets) and port.
    pub fn host_port(&self) -> (&'a str, &'a str) {
        let (host, port) = self.bridge.rsplit_once(':').unwrap_or((self.bridge, ""));
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        (host, port)
    }

    /// The proxy string of the bridge (`SeataRmObj@tcp -h .. -p ..`), with `timeout_ms` as
    /// its call timeout.
    pub fn proxy_string(&self, timeout_ms: u64) -> String {
        self.proxy_string_via(timeout_ms, &tars::endpoint::Transport::default())
    }

    /// [`SeataRoute::proxy_string`] for a bridge reached over `transport` (the nodes' own
    /// `ssl` / `-e 1`).
    pub fn proxy_string_via(
        &self,
        timeout_ms: u64,
        transport: &tars::endpoint::Transport,
    ) -> String {
        let (host, port) = self.host_port();
        match port.parse::<u16>() {
            Ok(port) => format!(
                "{SEATA_RM_OBJ}@{}",
                transport.endpoint(host, port, timeout_ms)
            ),
            Err(_) => format!("{SEATA_RM_OBJ}@tcp -h {host} -p {port} -t {timeout_ms}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_round_trips_and_tars_client_ids_are_not_routes() {
        let id = SeataRoute::client_id("10.0.0.5:17890", "order-svc:10.0.0.9:51234");
        assert_eq!(id, "seata://10.0.0.5:17890/order-svc:10.0.0.9:51234");
        let route = SeataRoute::parse(&id).expect("a route");
        assert_eq!(route.bridge, "10.0.0.5:17890");
        assert_eq!(route.client_id, "order-svc:10.0.0.9:51234");
        assert_eq!(
            route.proxy_string(3000),
            "tars.tarscoordinator.SeataRmObj@tcp -h 10.0.0.5 -p 17890 -t 3000"
        );
        let v6 = SeataRoute::client_id("[::1]:9", "app:[::1]:5");
        assert_eq!(
            SeataRoute::parse(&v6).map(|r| r.host_port()),
            Some(("::1", "9"))
        );
        for not_a_route in [
            "bank:127.0.0.1:4000",
            "seata://nohost/app",
            "seata://h:notaport/app",
            "seata://:9/app",
            "seata://h:9",
            "",
        ] {
            assert_eq!(SeataRoute::parse(not_a_route), None, "{not_a_route}");
        }
    }
}
