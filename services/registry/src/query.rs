//! `tars.tarsregistry.QueryObj`: the framework's naming interface ([`QueryF`]) answered from
//! the registry, so unmodified Tars clients (TarsCpp, TarsGo, TarsJava, `@tars/rpc`) resolve
//! object names through it.
//!
//! Semantics (every find returns 0 with both the active and the inactive list, which Node's
//! `@tars/rpc` needs):
//! - `findObjectById`: the active endpoints. `findObjectById4Any` / `4All`: active and inactive.
//! - `findObjectByIdInSameGroup`: IDC groups. The caller's group comes from its IP: first the
//!   configured [`GroupRule`]s (IP prefix → group), else the region of any instance registered
//!   on that host. Instances whose region is that group are returned; when the caller has no
//!   group, or no active instance is in it, all instances are returned (fallback).
//! - `findObjectByIdInSameStation(id, station)`: instances whose region is `station`.
//! - `findObjectByIdInSameSet(id, "name.area.group")`: instances whose endpoint SET id is that
//!   one; a group of `*` matches every group of `name.area`. When no instance is in the SET,
//!   the instances that are in no SET are returned (TarsCpp's fallback for non-SET servers).
//! - `findObjectNodeName`: the node names of the active instances (the endpoint's `nodeName`,
//!   else its host).
//! - `registerChange`, `registerQuery`: accepted and ignored (0): clients poll.
//! - `getLocker`: 0 (granted): a single registry is always the master.

use std::sync::Arc;
use tars::TarsString;

use serde::{Deserialize, Serialize};
use tars::client::policy::set_matches;
use tars::server::{Current, ServantError};
use tars_protocols::tars::{EndpointF, GetMasterSlaveLock, QueryF};
use tars_protocols::tarsrs::Instance;

use crate::access::RegistryAccess;
use crate::registry::Registry;

/// Callers whose IP starts with one of `ip_prefixes` belong to IDC group `group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRule {
    /// The group (compared with instances' region).
    pub group: String,
    /// IP prefixes, e.g. `"10.1."`.
    pub ip_prefixes: Vec<String>,
}

/// The QueryF servant.
#[derive(Debug)]
pub struct QueryService {
    registry: Arc<Registry>,
    rules: Vec<GroupRule>,
    access: RegistryAccess,
}

type Lists = (i32, Vec<EndpointF>, Vec<EndpointF>);

impl QueryService {
    /// Answers from `registry`, grouping callers by `rules`.
    pub fn new(registry: Arc<Registry>, rules: Vec<GroupRule>) -> QueryService {
        QueryService {
            registry,
            rules,
            access: RegistryAccess::default(),
        }
    }

    /// Refuses reads `access` does not allow.
    pub fn with_access(mut self, access: RegistryAccess) -> QueryService {
        self.access = access;
        self
    }

    fn may_read(&self, current: &Current) -> Result<(), ServantError> {
        self.access
            .may_read(current.principal())
            .map_err(ServantError::unknown)
    }

    /// The IDC group of a caller at `ip`.
    pub fn group_of(&self, ip: &str) -> Option<String> {
        self.rules
            .iter()
            .find(|r| r.ip_prefixes.iter().any(|p| ip.starts_with(p.as_str())))
            .map(|r| r.group.clone())
            .or_else(|| self.registry.region_of_host(ip).map(|r| r.to_string()))
    }

    fn all(&self, id: &str) -> Lists {
        let (active, inactive) = self.registry.endpoints(id, |_| true);
        (0, active, inactive)
    }

    fn only(&self, id: &str, keep: impl Fn(&Instance) -> bool) -> Lists {
        let (active, inactive) = self.registry.endpoints(id, keep);
        (0, active, inactive)
    }
}

impl QueryF for QueryService {
    fn find_object_by_id(
        &self,
        current: &mut Current,
        id: TarsString,
    ) -> Result<Vec<EndpointF>, ServantError> {
        self.may_read(current)?;
        Ok(self.registry.endpoints(&id, |_| true).0)
    }

    fn find_object_by_id4_any(
        &self,
        current: &mut Current,
        id: TarsString,
    ) -> Result<Lists, ServantError> {
        self.may_read(current)?;
        Ok(self.all(&id))
    }

    fn find_object_by_id4_all(
        &self,
        current: &mut Current,
        id: TarsString,
    ) -> Result<Lists, ServantError> {
        self.may_read(current)?;
        Ok(self.all(&id))
    }

    fn find_object_by_id_in_same_group(
        &self,
        current: &mut Current,
        id: TarsString,
    ) -> Result<Lists, ServantError> {
        self.may_read(current)?;
        let group = current
            .peer_addr()
            .and_then(|peer| self.group_of(&peer.ip().to_string()));
        if let Some(group) = group {
            let lists = self.only(&id, |i| i.meta.region == group);
            if !lists.1.is_empty() {
                return Ok(lists);
            }
        }
        Ok(self.all(&id))
    }

    fn find_object_by_id_in_same_station(
        &self,
        current: &mut Current,
        id: TarsString,
        s_station: TarsString,
    ) -> Result<Lists, ServantError> {
        self.may_read(current)?;
        Ok(self.only(&id, |i| i.meta.region == s_station))
    }

    fn find_object_by_id_in_same_set(
        &self,
        current: &mut Current,
        id: TarsString,
        set_id: TarsString,
    ) -> Result<Lists, ServantError> {
        self.may_read(current)?;
        let lists = self.only(&id, |i| set_matches(&set_id, &i.endpoint.set_id));
        if lists.1.is_empty() && lists.2.is_empty() {
            return Ok(self.only(&id, |i| i.endpoint.set_id.is_empty()));
        }
        Ok(lists)
    }

    fn find_object_node_name(
        &self,
        current: &mut Current,
        id: TarsString,
    ) -> Result<(i32, Vec<TarsString>), ServantError> {
        self.may_read(current)?;
        let mut names: Vec<TarsString> = self
            .registry
            .endpoints(&id, |_| true)
            .0
            .into_iter()
            .map(|e| {
                if e.node_name.is_empty() {
                    e.host
                } else {
                    e.node_name
                }
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok((0, names))
    }

    fn register_change(
        &self,
        _current: &mut Current,
        _timestamp: std::collections::BTreeMap<TarsString, TarsString>,
        _name: TarsString,
    ) -> Result<i32, ServantError> {
        Ok(0)
    }

    fn register_query(
        &self,
        _current: &mut Current,
        _id: TarsString,
        _name: TarsString,
    ) -> Result<i32, ServantError> {
        Ok(0)
    }

    fn get_locker(
        &self,
        _current: &mut Current,
        _req: GetMasterSlaveLock,
    ) -> Result<i32, ServantError> {
        Ok(0)
    }
}
