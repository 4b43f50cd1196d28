//! Placement of fragment leaders and standbys on the live nodes: pure, no I/O, deterministic.
//!
//! [`place`] takes the live nodes, every fragment with its current [`Assignment`] and its
//! actual leader (the holder of `fragments/<f>/leader`), and the replication factor R, and
//! returns the assignment every fragment should have:
//!
//! - every fragment has exactly one leader and `min(R, nodes) - 1` standbys, all live and
//!   distinct;
//! - the number of fragments each node leads is within ±1 of the mean, and so is the number of
//!   fragments each node holds a replica of (leader or standby);
//! - movement is minimal: a valid, balanced placement is returned unchanged, and each step
//!   below changes only what it must.
//!
//! The steps:
//!
//! 1. **Repair.** Dead nodes leave every fragment. When the assigned leader is dead, a live
//!    actual leader is adopted (the standbys fail over on their own, without the scheduler);
//!    without one, the first live standby is promoted; without any, the least loaded node
//!    leads. Standbys beyond `R - 1` are dropped from the end of the list.
//! 2. **Fill.** Fragments short of standbys get the nodes holding the fewest replicas.
//! 3. **Spread standbys.** A standby place moves from a node holding at least two more
//!    replicas than another to that one (leaders stay where they are), as long as such a move
//!    exists — so that a node that just joined is already a standby (a warm copy) of some
//!    fragments it may lead next.
//! 4. **Balance leaders.** Leadership moves from the nodes leading the most fragments to
//!    those leading the fewest (while they differ by two or more), preferring a fragment the
//!    receiving node already stands by for: then the two swap roles and the replica counts do
//!    not change. Otherwise the receiving node takes over cold and the leader that gives its
//!    fragment away stays as its first standby (it has the data).
//! 5. **Balance replicas.** As in 3; when no single standby move narrows the counts, a chain
//!    of standby moves through other nodes (shortest first) does; only when there is none
//!    either does the most loaded node give one of its leaderships to the least loaded node,
//!    the two swapping roles in a fragment the least loaded node leads, so leader counts stay
//!    as they were (such a pair of fragments always exists once leaders are balanced).
//!
//! Each move strictly narrows the counts it balances, so the steps end.
//!
//! Ties are broken by the order of the node ids and of the fragment ids, so the same input
//! always gives the same output, and running `place` on its own output changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::keys::Assignment;

/// The default replication factor: a leader and two standbys.
pub const DEFAULT_REPLICAS: usize = 3;

/// One fragment as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FragmentPlacement {
    /// The fragment id.
    pub id: u32,
    /// Its current assignment (`fragments/<f>/assign`), if it has one.
    pub assignment: Option<Assignment>,
    /// The node holding `fragments/<f>/leader` now, if any.
    pub actual_leader: Option<String>,
}

/// Computes the assignment of every fragment (see the module docs). `nodes` are the live
/// node ids (sorted and deduplicated here); `replicas` is R (0 is taken as 1). With no live
/// node nothing can be placed and the result is empty.
pub fn place(
    nodes: &[String],
    fragments: &[FragmentPlacement],
    replicas: usize,
) -> BTreeMap<u32, Assignment> {
    let nodes: Vec<String> = nodes
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if nodes.is_empty() {
        return BTreeMap::new();
    }
    let mut fragments: Vec<&FragmentPlacement> = fragments.iter().collect();
    fragments.sort_by_key(|f| f.id);
    fragments.dedup_by_key(|f| f.id);

    let mut state = State::new(&nodes, replicas);
    state.repair(&fragments);
    state.fill();
    state.spread_replicas(false);
    state.balance_leaders();
    state.spread_replicas(true);
    state.into_assignments()
}

/// Whether `assignment` is valid for the live `nodes` and replication factor `replicas`:
/// a live leader and exactly `min(R, nodes) - 1` distinct live standbys other than it.
pub fn is_valid(nodes: &[String], assignment: &Assignment, replicas: usize) -> bool {
    let live: BTreeSet<&str> = nodes.iter().map(String::as_str).collect();
    let want = replicas.max(1).min(live.len()).saturating_sub(1);
    let mut seen = BTreeSet::new();
    live.contains(assignment.leader.as_str())
        && seen.insert(assignment.leader.as_str())
        && assignment.standbys.len() == want
        && assignment
            .standbys
            .iter()
            .all(|s| live.contains(s.as_str()) && seen.insert(s.as_str()))
}

/// Fragments led and fragments held (led or stood by for) per node, in node order.
pub fn counts(
    nodes: &[String],
    assignments: &BTreeMap<u32, Assignment>,
) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> =
        nodes.iter().map(|n| (n.clone(), (0, 0))).collect();
    for a in assignments.values() {
        if let Some(c) = out.get_mut(&a.leader) {
            c.0 += 1;
            c.1 += 1;
        }
        for s in &a.standbys {
            if let Some(c) = out.get_mut(s) {
                c.1 += 1;
            }
        }
    }
    out
}

/// One fragment being placed: node indexes into `State::nodes`.
#[derive(Debug, Clone)]
struct Slot {
    id: u32,
    leader: usize,
    standbys: Vec<usize>,
}

impl Slot {
    fn holds(&self, n: usize) -> bool {
        self.leader == n || self.standbys.contains(&n)
    }
}

struct State<'a> {
    nodes: &'a [String],
    /// Standbys per fragment: `min(R, nodes) - 1`.
    standbys: usize,
    slots: Vec<Slot>,
    leaders: Vec<usize>,
    replicas: Vec<usize>,
}

impl<'a> State<'a> {
    fn new(nodes: &'a [String], replicas: usize) -> State<'a> {
        State {
            nodes,
            standbys: replicas.max(1).min(nodes.len()) - 1,
            slots: Vec::new(),
            leaders: vec![0; nodes.len()],
            replicas: vec![0; nodes.len()],
        }
    }

    fn index(&self, node: &str) -> Option<usize> {
        self.nodes.binary_search_by(|n| n.as_str().cmp(node)).ok()
    }

    /// Step 1: keep what is live, pick a leader for every fragment.
    fn repair(&mut self, fragments: &[&FragmentPlacement]) {
        let mut leaderless = Vec::new();
        for f in fragments {
            let assigned = f.assignment.as_ref();
            let mut standbys: Vec<usize> = Vec::new();
            for s in assigned.map(|a| a.standbys.as_slice()).unwrap_or_default() {
                if let Some(i) = self.index(s) {
                    if !standbys.contains(&i) {
                        standbys.push(i);
                    }
                }
            }
            let leader = assigned
                .and_then(|a| self.index(&a.leader))
                .or_else(|| f.actual_leader.as_deref().and_then(|l| self.index(l)))
                .or_else(|| standbys.first().copied());
            match leader {
                Some(l) => {
                    standbys.retain(|&s| s != l);
                    standbys.truncate(self.standbys);
                    self.leaders[l] += 1;
                    self.replicas[l] += 1;
                    for &s in &standbys {
                        self.replicas[s] += 1;
                    }
                    self.slots.push(Slot {
                        id: f.id,
                        leader: l,
                        standbys,
                    });
                }
                None => leaderless.push(f.id),
            }
        }
        // Fragments without any live node: the node leading the fewest (then holding the
        // fewest) takes each, in fragment order.
        for id in leaderless {
            let l = (0..self.nodes.len())
                .min_by_key(|&n| (self.leaders[n], self.replicas[n], n))
                .unwrap_or(0);
            self.leaders[l] += 1;
            self.replicas[l] += 1;
            self.slots.push(Slot {
                id,
                leader: l,
                standbys: Vec::new(),
            });
        }
        self.slots.sort_by_key(|s| s.id);
    }

    /// Step 2: every fragment gets its standbys, from the nodes holding the fewest replicas.
    fn fill(&mut self) {
        for i in 0..self.slots.len() {
            while self.slots[i].standbys.len() < self.standbys {
                let slot = &self.slots[i];
                let pick = (0..self.nodes.len())
                    .filter(|&n| !slot.holds(n))
                    .min_by_key(|&n| (self.replicas[n], self.leaders[n], n));
                let Some(n) = pick else { break };
                self.slots[i].standbys.push(n);
                self.replicas[n] += 1;
            }
        }
    }

    /// The node with the most of `count` (the first such) and the one with the fewest (the
    /// last such, so that a node that just joined, sorting last, is not passed over).
    fn extremes(count: &[usize]) -> (usize, usize) {
        let mut most = 0;
        let mut fewest = 0;
        for n in 0..count.len() {
            if count[n] > count[most] {
                most = n;
            }
            if count[n] <= count[fewest] {
                fewest = n;
            }
        }
        (most, fewest)
    }

    /// Steps 3 and 5: move replicas from the nodes holding the most to those holding the
    /// fewest. Without `leader_moves`, only standbys move and it stops when no standby can.
    fn spread_replicas(&mut self, leader_moves: bool) {
        loop {
            let (a, b) = Self::extremes(&self.replicas);
            if self.replicas[a] <= self.replicas[b] + 1 {
                return;
            }
            // A fragment where a node holding at least two more than `b'` stands by and `b'`
            // is missing: `b'` takes its place. The most loaded give first, the least loaded
            // take first.
            if let Some((i, x, y)) = self.standby_move() {
                for s in self.slots[i].standbys.iter_mut() {
                    if *s == x {
                        *s = y;
                    }
                }
                self.replicas[x] -= 1;
                self.replicas[y] += 1;
                continue;
            }
            if !leader_moves {
                return;
            }
            // A chain of standby moves from `a` through other nodes to `b`: each node in
            // between gives one place and takes one, and no leadership moves.
            if let Some(path) = self.standby_path(a, b) {
                // Applied from the end; each hop is checked again (see `standby_path`).
                let mut applied = true;
                for &(f, x, y) in path.iter().rev() {
                    let slot = &mut self.slots[f];
                    if !slot.standbys.contains(&x) || slot.holds(y) {
                        applied = false;
                        break;
                    }
                    for s in slot.standbys.iter_mut() {
                        if *s == x {
                            *s = y;
                        }
                    }
                    self.replicas[x] -= 1;
                    self.replicas[y] += 1;
                }
                if applied {
                    continue;
                }
                // Cannot happen; stop rather than loop.
                return;
            }
            // `a` leads every fragment `b` is missing from. `b` takes one of them over, and in
            // a fragment `b` leads with `a` standing by, the two swap roles.
            let f = (0..self.slots.len())
                .find(|&i| self.slots[i].leader == a && !self.slots[i].holds(b));
            let g = (0..self.slots.len())
                .find(|&i| self.slots[i].leader == b && self.slots[i].standbys.contains(&a));
            let (Some(f), Some(g)) = (f, g) else {
                // Cannot happen once leaders are balanced (see the module docs).
                return;
            };
            self.slots[f].leader = b;
            self.slots[g].leader = a;
            for s in self.slots[g].standbys.iter_mut() {
                if *s == a {
                    *s = b;
                }
            }
            self.replicas[a] -= 1;
            self.replicas[b] += 1;
        }
    }

    /// A standby move that narrows the replica counts: (fragment, from, to).
    fn standby_move(&self) -> Option<(usize, usize, usize)> {
        let mut givers: Vec<usize> = (0..self.nodes.len()).collect();
        givers.sort_by_key(|&n| (std::cmp::Reverse(self.replicas[n]), n));
        let mut takers: Vec<usize> = (0..self.nodes.len()).collect();
        takers.sort_by_key(|&n| (self.replicas[n], std::cmp::Reverse(n)));
        for &x in &givers {
            for &y in &takers {
                if self.replicas[x] < self.replicas[y] + 2 {
                    break;
                }
                if let Some(i) = (0..self.slots.len())
                    .find(|&i| self.slots[i].standbys.contains(&x) && !self.slots[i].holds(y))
                {
                    return Some((i, x, y));
                }
            }
        }
        None
    }

    /// The shortest chain of standby moves `(fragment, from, to)` that takes a place from `a`
    /// to `b` through other nodes (breadth first; ties by node and fragment order). The hops'
    /// nodes are distinct, so a hop's fragment differs from its neighbours' (the next hop's
    /// giver stands by in the next fragment and is missing from this one), and applying the
    /// hops from the last one keeps every hop's condition.
    fn standby_path(&self, a: usize, b: usize) -> Option<Vec<(usize, usize, usize)>> {
        let n = self.nodes.len();
        // The first fragment where `x` stands by and `y` is missing.
        let edge = |x: usize, y: usize| {
            (0..self.slots.len())
                .find(|&f| self.slots[f].standbys.contains(&x) && !self.slots[f].holds(y))
        };
        let mut came: Vec<Option<(usize, usize)>> = vec![None; n];
        let mut seen = vec![false; n];
        seen[a] = true;
        let mut queue = std::collections::VecDeque::from([a]);
        while let Some(x) = queue.pop_front() {
            for y in 0..n {
                if seen[y] {
                    continue;
                }
                let Some(f) = edge(x, y) else { continue };
                seen[y] = true;
                came[y] = Some((x, f));
                if y == b {
                    let mut path = Vec::new();
                    let mut at = b;
                    while let Some((from, f)) = came[at] {
                        path.push((f, from, at));
                        at = from;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(y);
            }
        }
        None
    }

    /// A leadership swap inside a fragment from a node leading the most to a node leading the
    /// fewest (at least two fewer): (fragment, leader, standby taking over).
    fn warm_leader_move(&self) -> Option<(usize, usize, usize)> {
        let most = self.leaders.iter().copied().max()?;
        let fewest = self.leaders.iter().copied().min()?;
        if most < fewest + 2 {
            return None;
        }
        // Only between the nodes leading the most and those leading the fewest: a node at its
        // share does not pass a leadership on just because a warm swap is at hand.
        let givers: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.leaders[n] == most)
            .collect();
        let takers: Vec<usize> = (0..self.nodes.len())
            .rev()
            .filter(|&n| self.leaders[n] == fewest)
            .collect();
        for &x in &givers {
            for &y in &takers {
                if let Some(i) = (0..self.slots.len())
                    .find(|&i| self.slots[i].leader == x && self.slots[i].standbys.contains(&y))
                {
                    return Some((i, x, y));
                }
            }
        }
        None
    }

    /// Step 4: move leaderships from the nodes leading the most to those leading the fewest.
    fn balance_leaders(&mut self) {
        loop {
            let (a, b) = Self::extremes(&self.leaders);
            if self.leaders[a] <= self.leaders[b] + 1 {
                return;
            }
            // Prefer a fragment whose leader leads at least two more than one of its standbys:
            // the two swap roles, and the replica counts do not change.
            if let Some((i, x, y)) = self.warm_leader_move() {
                let slot = &mut self.slots[i];
                slot.leader = y;
                for s in slot.standbys.iter_mut() {
                    if *s == y {
                        *s = x;
                    }
                }
                self.leaders[x] -= 1;
                self.leaders[y] += 1;
                continue;
            }
            let Some(i) = (0..self.slots.len()).find(|&i| self.slots[i].leader == a) else {
                return;
            };
            // `b` leads it cold; `a` stays as its first standby and the last standby leaves
            // when that makes one too many.
            let standbys = self.standbys;
            let slot = &mut self.slots[i];
            slot.leader = b;
            slot.standbys.insert(0, a);
            let dropped = if slot.standbys.len() > standbys {
                slot.standbys.pop()
            } else {
                None
            };
            self.leaders[a] -= 1;
            self.leaders[b] += 1;
            self.replicas[b] += 1;
            match dropped {
                Some(d) => self.replicas[d] -= 1,
                // No standbys at all (R = 1): `a` does not stay.
                None if standbys == 0 => {
                    slot.standbys.clear();
                    self.replicas[a] -= 1;
                }
                None => {}
            }
        }
    }

    fn into_assignments(self) -> BTreeMap<u32, Assignment> {
        let nodes = self.nodes;
        self.slots
            .into_iter()
            .map(|s| {
                (
                    s.id,
                    Assignment {
                        leader: nodes[s.leader].clone(),
                        standbys: s.standbys.iter().map(|&n| nodes[n].clone()).collect(),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn fresh(count: u32) -> Vec<FragmentPlacement> {
        (0..count)
            .map(|id| FragmentPlacement {
                id,
                ..FragmentPlacement::default()
            })
            .collect()
    }

    /// The placement as input again, with the assigned leaders leading.
    fn settled(placed: &BTreeMap<u32, Assignment>) -> Vec<FragmentPlacement> {
        placed
            .iter()
            .map(|(&id, a)| FragmentPlacement {
                id,
                assignment: Some(a.clone()),
                actual_leader: Some(a.leader.clone()),
            })
            .collect()
    }

    fn check(nodes: &[String], placed: &BTreeMap<u32, Assignment>, fragments: usize, r: usize) {
        assert_eq!(placed.len(), fragments, "every fragment is placed");
        for (f, a) in placed {
            assert!(is_valid(nodes, a, r), "fragment {f}: {a:?} on {nodes:?}");
        }
        let c = counts(nodes, placed);
        let leaders: Vec<usize> = c.values().map(|c| c.0).collect();
        let held: Vec<usize> = c.values().map(|c| c.1).collect();
        let spread = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap();
        assert!(spread(&leaders) <= 1, "leaders {c:?}");
        assert!(spread(&held) <= 1, "replicas {c:?}");
    }

    /// How many (fragment, node, role) places differ.
    fn moved(a: &BTreeMap<u32, Assignment>, b: &BTreeMap<u32, Assignment>) -> (usize, usize) {
        let mut leaders = 0;
        let mut replicas = 0;
        for (f, x) in a {
            let y = &b[f];
            if x.leader != y.leader {
                leaders += 1;
            }
            let xs: BTreeSet<&String> = x.standbys.iter().chain([&x.leader]).collect();
            let ys: BTreeSet<&String> = y.standbys.iter().chain([&y.leader]).collect();
            replicas += xs.difference(&ys).count();
        }
        (leaders, replicas)
    }

    #[test]
    fn initial_placement_is_balanced() {
        let nodes = names(3);
        let placed = place(&nodes, &fresh(6), 3);
        check(&nodes, &placed, 6, 3);
        assert_eq!(place(&nodes, &settled(&placed), 3), placed);
    }

    #[test]
    fn no_nodes_places_nothing() {
        assert!(place(&[], &fresh(3), 3).is_empty());
    }

    #[test]
    fn fewer_nodes_than_replicas() {
        let nodes = names(2);
        let placed = place(&nodes, &fresh(5), 3);
        check(&nodes, &placed, 5, 3);
        assert!(placed.values().all(|a| a.standbys.len() == 1));
        let one = names(1);
        let placed = place(&one, &fresh(5), 3);
        check(&one, &placed, 5, 3);
        assert!(placed.values().all(|a| a.standbys.is_empty()));
    }

    #[test]
    fn join_moves_a_share_and_prefers_warm_handover() {
        let three = names(3);
        let before = place(&three, &fresh(6), 3);
        let four = names(4);
        let after = place(&four, &settled(&before), 3);
        check(&four, &after, 6, 3);
        let c = counts(&four, &after);
        assert!(c["n4"].0 >= 1, "n4 leads its share: {c:?}");
        // 18 replicas over 4 nodes: n4 takes 4, so 4 standby places move, and leadership
        // moves only to where the new leader already stood by.
        let (leaders, replicas) = moved(&before, &after);
        assert_eq!(replicas, 4, "{before:?} -> {after:?}");
        assert!(leaders <= 2, "{before:?} -> {after:?}");
        for (f, a) in &after {
            if a.leader != before[f].leader {
                assert_eq!(a.leader, "n4");
            }
        }
        assert_eq!(place(&four, &settled(&after), 3), after);
    }

    #[test]
    fn leave_gives_its_fragments_new_leaders_and_standbys() {
        let four = names(4);
        let before = place(&four, &fresh(8), 3);
        let three: Vec<String> = four.iter().filter(|n| *n != "n2").cloned().collect();
        // n2 left: its leader keys are gone too.
        let input: Vec<FragmentPlacement> = before
            .iter()
            .map(|(&id, a)| FragmentPlacement {
                id,
                assignment: Some(a.clone()),
                actual_leader: (a.leader != "n2").then(|| a.leader.clone()),
            })
            .collect();
        let after = place(&three, &input, 3);
        check(&three, &after, 8, 3);
        for (f, a) in &before {
            if a.leader == "n2" {
                // The first live standby was promoted.
                let first_live = a.standbys.iter().find(|s| *s != "n2").unwrap();
                assert_eq!(&after[f].leader, first_live, "fragment {f}");
            } else {
                assert_eq!(after[f].leader, a.leader, "fragment {f} keeps its leader");
            }
        }
    }

    #[test]
    fn kill_adopts_the_standby_that_took_over() {
        let nodes = names(3);
        let before = place(&nodes, &fresh(3), 3);
        // n1 is killed; in the fragment it led, the *second* standby won the campaign.
        let (&f, a) = before.iter().find(|(_, a)| a.leader == "n1").unwrap();
        let winner = a.standbys[1].clone();
        let live: Vec<String> = nodes.iter().filter(|n| *n != "n1").cloned().collect();
        let input: Vec<FragmentPlacement> = before
            .iter()
            .map(|(&id, a)| FragmentPlacement {
                id,
                assignment: Some(a.clone()),
                actual_leader: Some(if id == f {
                    winner.clone()
                } else {
                    a.leader.clone()
                }),
            })
            .collect();
        let after = place(&live, &input, 3);
        check(&live, &after, 3, 3);
        assert_eq!(after[&f].leader, winner, "the actual leader is adopted");
        assert_eq!(place(&live, &settled(&after), 3), after);
    }

    #[test]
    fn leader_that_is_not_assigned_is_not_adopted_while_the_assigned_one_lives() {
        // A handover in progress: the assigned leader lives, the old leader still leads.
        let nodes = names(3);
        let placed = place(&nodes, &fresh(3), 3);
        let input: Vec<FragmentPlacement> = placed
            .iter()
            .map(|(&id, a)| FragmentPlacement {
                id,
                assignment: Some(a.clone()),
                actual_leader: Some(a.standbys[0].clone()),
            })
            .collect();
        assert_eq!(place(&nodes, &input, 3), placed);
    }

    #[test]
    fn all_replicas_dead_gets_a_fresh_placement() {
        let nodes = names(2);
        let input = vec![FragmentPlacement {
            id: 4,
            assignment: Some(Assignment {
                leader: "x".into(),
                standbys: vec!["y".into(), "z".into()],
            }),
            actual_leader: Some("w".into()),
        }];
        let placed = place(&nodes, &input, 3);
        check(&nodes, &placed, 1, 3);
    }

    #[test]
    fn replication_factor_one_moves_leaders_only() {
        let two = names(2);
        let before = place(&two, &fresh(4), 1);
        check(&two, &before, 4, 1);
        let three = names(3);
        let after = place(&three, &settled(&before), 1);
        check(&three, &after, 4, 1);
        assert!(after.values().all(|a| a.standbys.is_empty()));
    }

    fn arb_input() -> impl Strategy<Value = (Vec<String>, Vec<FragmentPlacement>, usize)> {
        // Nodes n0..n7; a random live subset; fragments with random (possibly stale or
        // invalid) assignments and actual leaders drawn from all of them.
        let node = (0usize..8).prop_map(|i| format!("n{i}"));
        let assignment = proptest::option::of(
            (node.clone(), proptest::collection::vec(node.clone(), 0..5))
                .prop_map(|(leader, standbys)| Assignment { leader, standbys }),
        );
        let fragment = (assignment, proptest::option::of(node));
        (
            proptest::collection::btree_set(0usize..8, 1..8),
            proptest::collection::vec(fragment, 0..24),
            1usize..5,
        )
            .prop_map(|(live, frags, r)| {
                let nodes = live.into_iter().map(|i| format!("n{i}")).collect();
                let fragments = frags
                    .into_iter()
                    .enumerate()
                    .map(|(i, (assignment, actual_leader))| FragmentPlacement {
                        id: i as u32 * 3,
                        assignment,
                        actual_leader,
                    })
                    .collect();
                (nodes, fragments, r)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn placement_is_valid_balanced_and_stable((nodes, fragments, r) in arb_input()) {
            let placed = place(&nodes, &fragments, r);
            check(&nodes, &placed, fragments.len(), r);
            // Deterministic.
            prop_assert_eq!(&place(&nodes, &fragments, r), &placed);
            // Stable: on its own output (with or without the leaders having taken over).
            prop_assert_eq!(&place(&nodes, &settled(&placed), r), &placed);
            let unled: Vec<FragmentPlacement> = settled(&placed)
                .into_iter()
                .map(|f| FragmentPlacement { actual_leader: None, ..f })
                .collect();
            prop_assert_eq!(&place(&nodes, &unled, r), &placed);
        }

        #[test]
        fn valid_live_leaders_are_kept_when_balanced((nodes, fragments, r) in arb_input()) {
            // Whatever already holds, a fragment whose assigned leader lives keeps it unless
            // leaders must be rebalanced; when the input is valid and balanced nothing moves.
            let placed = place(&nodes, &fragments, r);
            let again = place(&nodes, &settled(&placed), r);
            prop_assert_eq!(moved(&placed, &again), (0, 0));
        }

        #[test]
        fn one_node_joining_moves_at_most_its_share(
            (nodes, fragments, r) in arb_input(),
        ) {
            let placed = place(&nodes, &fragments, r);
            let mut more = nodes.clone();
            more.push("z9".into());
            let after = place(&more, &settled(&placed), r);
            check(&more, &after, fragments.len(), r);
            let f = fragments.len();
            let (leaders, _) = moved(&placed, &after);
            // The new node's share of leaders (rounded up), and nothing else moves leadership.
            prop_assert!(leaders <= f.div_ceil(more.len()), "{} leader moves", leaders);
            for (id, a) in &after {
                if a.leader != placed[id].leader {
                    prop_assert_eq!(a.leader.as_str(), "z9");
                }
            }
        }
    }
}
