//! Scenario nodes shared by the policy tests: endpoints built in code, with the metadata and
//! the client statistics a policy sees.

#![allow(dead_code)] // each test file uses its own part of it

use std::collections::BTreeMap;

use tars::client::policy::{Candidate, EndpointStats};
use tars::protocol::tars::EndpointF;
use tars::protocol::tarsrs::{DynamicMeta, Instance, StaticMeta};
use tars::TarsString;

/// One endpoint of a scenario: its name is its host.
pub struct Node {
    pub instance: Instance,
    pub stats: EndpointStats,
}

/// An active instance `name` of `App.Server.Obj` with this metadata.
pub fn node(name: &str, meta: StaticMeta, load: DynamicMeta) -> Node {
    Node {
        instance: Instance {
            obj_name: "App.Server.Obj".into(),
            endpoint: EndpointF {
                host: name.into(),
                port: 1000,
                ..EndpointF::default()
            },
            meta,
            load,
            active: true,
            ..Instance::default()
        },
        stats: EndpointStats::new(),
    }
}

/// Instances with default metadata.
pub fn plain(names: &[&str]) -> Vec<Node> {
    names
        .iter()
        .map(|n| node(n, StaticMeta::default(), DynamicMeta::default()))
        .collect()
}

/// The nodes as a policy sees them (ids from 1).
pub fn candidates(nodes: &[Node]) -> Vec<Candidate<'_>> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| Candidate {
            id: i as u64 + 1,
            instance: &n.instance,
            stats: &n.stats,
        })
        .collect()
}

/// An empty call context.
pub const NO_CONTEXT: &BTreeMap<TarsString, TarsString> = &BTreeMap::new();
