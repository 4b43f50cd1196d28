//! Merging reports into one-minute rollups, and reading rollups back as series.
//!
//! A call rollup ([`CallRow`]) is keyed by (minute, reporting side, [`StatMicMsgHead`]); each
//! report adds its counts, timeouts, exceptions, response-time histogram and total time, and
//! keeps the largest maximum and the smallest non-zero minimum.
//!
//! A property rollup ([`PropRow`]) is keyed by (minute, [`StatPropMsgHead`], policy); values
//! are kept as strings in TarsCpp's formats (its property server merges them the same way):
//!
//! - `Sum`, `Count`: added;
//! - `Max`, `Min`: the larger / smaller;
//! - `Avg`: kept as `"sum=count"`; a report `"x"` (an average without its count, as
//!   @tars/monitor sends) counts as one sample of value `x`, a report `"s=c"` as `c` samples
//!   summing to `s`;
//! - `Distr`: `"bound|count,bound|count,..."`, counts added per bound;
//! - any other policy: the latest value.
//!
//! Numbers are parsed as `f64` (@tars/monitor reports floats) and written back without a
//! fraction when they are whole.

use std::collections::BTreeMap;

use tars::protocol::tars::{StatMicMsgBody, StatMicMsgHead, StatPropMsgHead};
use tars_protocols::tarsstat::{CallRow, PropRow};

/// Which side of a call reported it (`bFromClient` of `reportMicMsg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The caller (`bFromClient = true`).
    Client,
    /// The callee (`bFromClient = false`).
    Server,
}

impl Side {
    /// The side of `bFromClient`.
    pub fn from_client(from_client: bool) -> Side {
        if from_client {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// `bFromClient` of this side.
    pub fn is_client(self) -> bool {
        self == Side::Client
    }
}

fn widen(n: i32) -> i64 {
    i64::from(n.max(0))
}

/// A fresh rollup of `head`'s calls in `minute`, holding `body`.
pub fn call_row(
    minute: i64,
    from_client: bool,
    head: &StatMicMsgHead,
    body: &StatMicMsgBody,
) -> CallRow {
    let mut row = CallRow {
        minute,
        slave_name: head.slave_name.clone(),
        interface_name: head.interface_name.clone(),
        from_client,
        master_name: head.master_name.clone(),
        ..CallRow::default()
    };
    row.count = widen(body.count);
    row.timeout_count = widen(body.timeout_count);
    row.exec_count = widen(body.exec_count);
    row.interval_count = body
        .interval_count
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(bound, n)| (*bound, widen(*n)))
        .collect();
    row.total_rsp_time = body.total_rsp_time.max(0);
    row.max_rsp_time = body.max_rsp_time.max(0);
    row.min_rsp_time = body.min_rsp_time.max(0);
    row
}

/// Adds `other`'s calls to `into` (same key or not: the key fields of `into` stay).
pub fn merge_calls(into: &mut CallRow, other: &CallRow) {
    let had_calls = into.count > 0;
    into.count = into.count.saturating_add(other.count);
    into.timeout_count = into.timeout_count.saturating_add(other.timeout_count);
    into.exec_count = into.exec_count.saturating_add(other.exec_count);
    for (bound, n) in &other.interval_count {
        let slot = into.interval_count.entry(*bound).or_insert(0);
        *slot = slot.saturating_add(*n);
    }
    into.total_rsp_time = into.total_rsp_time.saturating_add(other.total_rsp_time);
    into.max_rsp_time = into.max_rsp_time.max(other.max_rsp_time);
    // Reporters send 0 as the minimum when they have none (@tars/monitor always does): a
    // minimum counts only where there were successful calls, and 0 only when nothing else is
    // known.
    into.min_rsp_time = match (had_calls, other.count > 0) {
        (_, false) => into.min_rsp_time,
        (false, true) => other.min_rsp_time,
        (true, true) if into.min_rsp_time == 0 => other.min_rsp_time,
        (true, true) if other.min_rsp_time == 0 => into.min_rsp_time,
        (true, true) => into.min_rsp_time.min(other.min_rsp_time),
    };
}

/// A property rollup of `head`'s `policy` in `minute`, holding `value` (normalised: an `Avg`
/// becomes `"sum=count"`).
pub fn prop_row(minute: i64, head: &StatPropMsgHead, policy: &str, value: &str) -> PropRow {
    PropRow {
        minute,
        module_name: head.module_name.clone(),
        ip: head.ip.clone(),
        property_name: head.property_name.clone(),
        policy: policy.into(),
        value: normalize(policy, value).into(),
    }
}

fn num(s: &str) -> f64 {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `(sum, count)` of an `Avg` value: `"s=c"`, or `"x"` as one sample.
fn avg_parts(value: &str) -> (f64, f64) {
    match value.split_once('=') {
        Some((sum, count)) => (num(sum), num(count).max(0.0)),
        None => (num(value), 1.0),
    }
}

/// `bound → count` of a `Distr` value (`"bound|count,..."`), in the order given.
fn distr_parts(value: &str) -> Vec<(String, f64)> {
    value
        .split(',')
        .filter_map(|field| {
            let (bound, count) = field.split_once('|')?;
            Some((bound.trim().to_owned(), num(count)))
        })
        .collect()
}

fn normalize(policy: &str, value: &str) -> String {
    match policy {
        "Avg" => {
            let (sum, count) = avg_parts(value);
            format!("{}={}", fmt(sum), fmt(count))
        }
        _ => value.to_owned(),
    }
}

/// `old` and `new` values of `policy` merged (see the module documentation).
pub fn merge_value(policy: &str, old: &str, new: &str) -> String {
    match policy {
        "Sum" | "Count" => fmt(num(old) + num(new)),
        "Max" => fmt(num(old).max(num(new))),
        "Min" => fmt(num(old).min(num(new))),
        "Avg" => {
            let (s1, c1) = avg_parts(old);
            let (s2, c2) = avg_parts(new);
            format!("{}={}", fmt(s1 + s2), fmt(c1 + c2))
        }
        "Distr" => {
            let mut merged = distr_parts(old);
            for (bound, count) in distr_parts(new) {
                match merged.iter_mut().find(|(b, _)| *b == bound) {
                    Some(slot) => slot.1 += count,
                    None => merged.push((bound, count)),
                }
            }
            merged
                .iter()
                .map(|(b, c)| format!("{b}|{}", fmt(*c)))
                .collect::<Vec<_>>()
                .join(",")
        }
        _ => new.to_owned(),
    }
}

/// Adds `other`'s value to `into` (same policy).
pub fn merge_props(into: &mut PropRow, other: &PropRow) {
    into.value = merge_value(
        into.policy.as_str(),
        into.value.as_str(),
        other.value.as_str(),
    )
    .into();
}

/// The numeric value a property rollup stands for: the average for `Avg` (sum / count), the
/// total count for `Distr`, the number itself otherwise (0 when it does not parse).
pub fn numeric_value(policy: &str, value: &str) -> f64 {
    match policy {
        "Avg" => {
            let (sum, count) = avg_parts(value);
            if count > 0.0 {
                sum / count
            } else {
                0.0
            }
        }
        "Distr" => distr_parts(value).iter().map(|(_, c)| c).sum(),
        _ => num(value),
    }
}

/// Estimates the `q` quantile (0..=1) of response times in ms from a histogram of successful
/// calls per bucket (key: the bucket's upper bound in ms, as reporters fill `intervalCount`:
/// a call of `t` ms counts in the first bound `>= t`, calls above the last bound in the last).
///
/// The estimate interpolates linearly inside the bucket holding the quantile, between the
/// previous bound (0 for the first) and the bucket's bound, capped by `max_ms` when that is
/// known (the last bucket also holds slower calls, so its bound understates them: `max_ms`
/// is used as its upper end when larger). `None` without calls in the histogram. It is an
/// estimate: its error is at most the width of the bucket (e.g. 50..100 ms).
pub fn quantile(histogram: &BTreeMap<i32, i64>, q: f64, max_ms: i32) -> Option<f64> {
    let total: i64 = histogram.values().filter(|n| **n > 0).sum();
    if total <= 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let last_bound = histogram.keys().next_back().copied().unwrap_or(0);
    let mut below = 0i64;
    let mut lower = 0.0f64;
    for (bound, n) in histogram {
        let n = (*n).max(0);
        let mut upper = f64::from(*bound);
        if *bound == last_bound && max_ms > *bound {
            upper = f64::from(max_ms);
        }
        if n > 0 && (below + n) as f64 >= rank {
            let within = (rank - below as f64) / n as f64;
            let mut estimate = lower + within.clamp(0.0, 1.0) * (upper - lower);
            if max_ms > 0 {
                estimate = estimate.min(f64::from(max_ms));
            }
            return Some(estimate);
        }
        below += n;
        lower = f64::from(*bound);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_values_merge_per_policy() {
        assert_eq!(merge_value("Sum", "3", "4.5"), "7.5");
        assert_eq!(merge_value("Count", "3", "4"), "7");
        assert_eq!(merge_value("Max", "3", "9"), "9");
        assert_eq!(merge_value("Min", "3", "9"), "3");
        assert_eq!(normalize("Avg", "10"), "10=1");
        assert_eq!(merge_value("Avg", "10=1", "30"), "40=2");
        assert_eq!(merge_value("Avg", "40=2", "60=3"), "100=5");
        assert_eq!(numeric_value("Avg", "100=5"), 20.0);
        assert_eq!(
            merge_value("Distr", "10|1,20|0", "10|2,20|5,30|1"),
            "10|3,20|5,30|1"
        );
        assert_eq!(numeric_value("Distr", "10|3,20|5,30|1"), 9.0);
        assert_eq!(merge_value("Other", "a", "b"), "b");
        assert_eq!(merge_value("Sum", "x", "2"), "2", "garbage counts as 0");
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let h: BTreeMap<i32, i64> = [(5, 50), (10, 40), (50, 10)].into_iter().collect();
        assert_eq!(quantile(&h, 0.5, 40), Some(5.0));
        // Rank 99 is the 9th of the 10 calls in (10, 50].
        let p99 = quantile(&h, 0.99, 40).expect("calls");
        assert!((p99 - 40.0).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(&h, 0.99, 0), Some(46.0));
        assert_eq!(quantile(&BTreeMap::new(), 0.5, 0), None);
        // The last bucket reaches up to the maximum.
        let h: BTreeMap<i32, i64> = [(3000, 2)].into_iter().collect();
        assert_eq!(quantile(&h, 1.0, 5000), Some(5000.0));
    }

    #[test]
    fn call_rollups_add_up_and_keep_extremes() {
        let head = StatMicMsgHead {
            slave_name: "App.S.Obj".into(),
            interface_name: "f".into(),
            ..StatMicMsgHead::default()
        };
        let body = |count, min, max| StatMicMsgBody {
            count,
            timeout_count: 1,
            exec_count: 2,
            interval_count: [(5, count), (10, 0)].into_iter().collect(),
            total_rsp_time: i64::from(count) * 3,
            max_rsp_time: max,
            min_rsp_time: min,
        };
        let mut row = call_row(7, true, &head, &body(4, 0, 5));
        merge_calls(&mut row, &call_row(7, true, &head, &body(2, 2, 4)));
        merge_calls(&mut row, &call_row(7, true, &head, &body(0, 0, 0)));
        assert_eq!((row.count, row.timeout_count, row.exec_count), (6, 3, 6));
        assert_eq!(row.interval_count, [(5, 6)].into_iter().collect());
        assert_eq!(
            (row.total_rsp_time, row.max_rsp_time, row.min_rsp_time),
            (18, 5, 2)
        );
    }
}
