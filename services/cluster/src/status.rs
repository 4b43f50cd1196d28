//! `tarsd cluster status`: what etcd says about the cluster — the nodes, the scheduler, and
//! each fragment's assigned and actual leader, standbys, epoch and load — as a text table
//! ([`std::fmt::Display`]) or JSON ([`ClusterStatus::to_json`]).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::etcd::{ClusterError, Etcd};
use crate::scheduler::FragmentMeta;
use crate::state;

/// One live node (it has a `nodes/<node>` key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its id.
    pub node_id: String,
    /// The host it advertises.
    pub advertise: String,
    /// Its registry port.
    pub registry_port: u16,
    /// Its coordinator port.
    pub coordinator_port: u16,
    /// When it started (ms since the Unix epoch).
    pub started_ms: i64,
    /// How many fragments it leads now (holds the leader key of).
    pub leading: usize,
}

/// One fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentStatus {
    /// Its id.
    pub id: u32,
    /// Why and when it was created (absent: keys without a meta key, a leftover).
    pub meta: Option<FragmentMeta>,
    /// The leader the scheduler assigned.
    pub assigned_leader: Option<String>,
    /// The standbys the scheduler assigned.
    pub standbys: Vec<String>,
    /// The node holding the leader key now.
    pub leader: Option<String>,
    /// The current leader's epoch, or, without a leader, the last epoch taken.
    pub epoch: Option<u64>,
    /// The current leader's coordinator address.
    pub coordinator: Option<String>,
    /// Active transactions in the last load sample.
    pub active: Option<u64>,
    /// The last load sample's age, in milliseconds (by this machine's clock).
    pub load_age_ms: Option<i64>,
}

/// The cluster as etcd saw it at one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The etcd revision read at.
    pub revision: i64,
    /// When it was read (ms since the Unix epoch).
    pub read_ms: i64,
    /// The elected scheduler's node.
    pub scheduler: Option<String>,
    /// Live nodes, by id.
    pub nodes: Vec<NodeStatus>,
    /// Fragments, by id.
    pub fragments: Vec<FragmentStatus>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl ClusterStatus {
    /// Reads it (one small read; never the fragments' sessions). Must not be called
    /// from the etcd runtime's threads.
    pub fn read(etcd: &Etcd) -> Result<ClusterStatus, ClusterError> {
        let (keys, client) = (etcd.keys().clone(), etcd.client());
        let limit = crate::etcd::request_limit(etcd);
        let snapshot =
            etcd.block_on(async move { state::read(&client, &keys, limit, None).await })?;
        let Some(s) = snapshot else {
            return Err(ClusterError::Unavailable(
                "an unguarded read reported a failed compare".into(),
            ));
        };
        let read_ms = now_ms();
        let fragments: Vec<FragmentStatus> = s
            .fragments
            .into_iter()
            .map(|f| FragmentStatus {
                id: f.id,
                meta: f.meta,
                assigned_leader: f.assignment.as_ref().map(|a| a.leader.clone()),
                standbys: f.assignment.map(|a| a.standbys).unwrap_or_default(),
                leader: f.leader.as_ref().map(|l| l.node_id.clone()),
                epoch: f.leader.as_ref().map(|l| l.epoch).or(f.epoch),
                coordinator: f.leader.map(|l| l.coordinator),
                active: f.load.as_ref().map(|l| l.active),
                load_age_ms: f.load.map(|l| read_ms.saturating_sub(l.at_ms)),
            })
            .collect();
        let nodes = s
            .nodes
            .into_iter()
            .map(|n| NodeStatus {
                leading: fragments
                    .iter()
                    .filter(|f| f.leader.as_deref() == Some(n.node_id.as_str()))
                    .count(),
                node_id: n.node_id,
                advertise: n.advertise,
                registry_port: n.registry_port,
                coordinator_port: n.coordinator_port,
                started_ms: n.started_ms,
            })
            .collect();
        Ok(ClusterStatus {
            revision: s.revision,
            read_ms,
            scheduler: s.scheduler.map(|k| k.node_id),
            nodes,
            fragments,
        })
    }

    /// As pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }
}

/// Writes rows as left-aligned columns, two spaces apart, each line indented by two.
fn table(f: &mut fmt::Formatter<'_>, rows: &[Vec<String>]) -> fmt::Result {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            line.push(' ');
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$} ", w = widths[c]));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

fn or_dash<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn age(ms: i64) -> String {
    if ms < 0 {
        "0s".into()
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

impl fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scheduler: {}   (etcd revision {})",
            self.scheduler.as_deref().unwrap_or("none"),
            self.revision
        )?;
        writeln!(f)?;
        writeln!(f, "nodes: {}", self.nodes.len())?;
        let mut rows = vec![vec![
            "NODE".to_owned(),
            "ADVERTISE".to_owned(),
            "REGISTRY".to_owned(),
            "COORDINATOR".to_owned(),
            "LEADS".to_owned(),
            "UP".to_owned(),
        ]];
        for n in &self.nodes {
            rows.push(vec![
                n.node_id.clone(),
                n.advertise.clone(),
                n.registry_port.to_string(),
                n.coordinator_port.to_string(),
                n.leading.to_string(),
                if n.started_ms > 0 {
                    age(self.read_ms.saturating_sub(n.started_ms))
                } else {
                    "-".to_owned()
                },
            ]);
        }
        table(f, &rows)?;
        writeln!(f)?;
        writeln!(f, "fragments: {}", self.fragments.len())?;
        let mut rows = vec![vec![
            "FRAGMENT".to_owned(),
            "LEADER".to_owned(),
            "ASSIGNED".to_owned(),
            "STANDBYS".to_owned(),
            "EPOCH".to_owned(),
            "ACTIVE".to_owned(),
            "SAMPLED".to_owned(),
            "COORDINATOR".to_owned(),
        ]];
        for fr in &self.fragments {
            let mut id = format!("{:05}", fr.id);
            if fr.meta.is_none() {
                id.push_str(" (no meta)");
            }
            let mut leader = or_dash(&fr.leader);
            if fr.leader.is_some() && fr.leader != fr.assigned_leader {
                // Failing over or handing over.
                leader.push('*');
            }
            rows.push(vec![
                id,
                leader,
                or_dash(&fr.assigned_leader),
                if fr.standbys.is_empty() {
                    "-".to_owned()
                } else {
                    fr.standbys.join(",")
                },
                or_dash(&fr.epoch),
                or_dash(&fr.active),
                fr.load_age_ms
                    .map_or_else(|| "-".to_owned(), |a| format!("{} ago", age(a))),
                or_dash(&fr.coordinator),
            ]);
        }
        table(f, &rows)?;
        if self
            .fragments
            .iter()
            .any(|fr| fr.leader.is_some() && fr.leader != fr.assigned_leader)
        {
            writeln!(
                f,
                "  * leader is not the assigned one (handover or failover in progress)"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_table() {
        let s = ClusterStatus {
            revision: 42,
            read_ms: 10_000,
            scheduler: Some("n1".into()),
            nodes: vec![NodeStatus {
                node_id: "n1".into(),
                advertise: "127.0.0.1".into(),
                registry_port: 17890,
                coordinator_port: 8091,
                started_ms: 4_000,
                leading: 1,
            }],
            fragments: vec![
                FragmentStatus {
                    id: 0,
                    meta: None,
                    assigned_leader: Some("n1".into()),
                    standbys: vec!["n2".into(), "n3".into()],
                    leader: Some("n2".into()),
                    epoch: Some(3),
                    coordinator: Some("127.0.0.1:8091".into()),
                    active: Some(12),
                    load_age_ms: Some(400),
                },
                FragmentStatus {
                    id: 1,
                    meta: None,
                    assigned_leader: None,
                    standbys: vec![],
                    leader: None,
                    epoch: None,
                    coordinator: None,
                    active: None,
                    load_age_ms: None,
                },
            ],
        };
        let text = s.to_string();
        assert!(text.contains("scheduler: n1"), "{text}");
        assert!(text.contains("n2,n3"), "{text}");
        assert!(text.contains("n2*"), "{text}");
        assert!(text.contains("0.4s ago"), "{text}");
        assert!(text.contains("6.0s"), "{text}");
        let back: ClusterStatus = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(back, s);
    }
}
