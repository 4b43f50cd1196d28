//! Properties: values a program reports (queue lengths, sizes, rates) aggregated per
//! reporting period by one or more [`Policy`]s and sent to `tars.tarsproperty.PropertyObj`
//! with `PropertyF.reportPropMsg`, as TarsCpp's `PropertyReport`.
//!
//! Get one from the reporter of a communicator configured for reporting
//! ([`StatReporter::property`](crate::stat::StatReporter::property)) and call
//! [`Property::report`].
//!
//! The policies and their value strings follow TarsCpp (`servant/servant/PropertyReport.h`,
//! `servant/libservant/PropertyReport.cpp`, `StatReport::reportPropMsg`):
//!
//! | policy | value each period | after a period |
//! |---|---|---|
//! | `Sum` | the sum of the values | 0 |
//! | `Avg` | sum / count as a decimal with trailing zeros cut (`TC_Common::tostr<double>`: six decimals, then `2.500000` → `2.5`, `3.000000` → `3`); `0` with no value | empty |
//! | `Max` | the largest value; `-9999999` before any value | **0** (TarsCpp clears it to 0, not to -9999999) |
//! | `Min` | the smallest non-zero value; `0` (then not sent at all) with none | 0 |
//! | `Count` | how many values were reported | 0 |
//! | `Distr` | `b0\|n0,b1\|n1,...`: for sorted, deduplicated bounds, `n_i` counts the values `v` with `b_{i-1} <= v < b_i` (`upper_bound`; below `b0` counts in `b0`, `>= b_last` is dropped) | zeros |
//!
//! The head (`StatPropMsgHead`): `moduleName` = the module (`module.NameAreaID` in a SET),
//! `ip` empty (the property server fills it), `propertyName`, the SET fields, and
//! `iPropertyVer` = 2. A `Min` of `"0"` is left out of the body.

use parking_lot::Mutex;

/// An aggregation of a property's values over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// The sum.
    Sum,
    /// The mean.
    Avg,
    /// The largest value.
    Max,
    /// The smallest non-zero value.
    Min,
    /// The number of values.
    Count,
    /// A histogram over these bounds.
    Distr(Vec<i32>),
}

#[derive(Debug, Clone)]
enum State {
    Sum(i64),
    Avg { sum: i64, count: i64 },
    Max(i32),
    Min(i32),
    Count(i64),
    Distr { bounds: Vec<i32>, counts: Vec<u64> },
}

impl State {
    fn new(policy: &Policy) -> State {
        match policy {
            Policy::Sum => State::Sum(0),
            Policy::Avg => State::Avg { sum: 0, count: 0 },
            Policy::Max => State::Max(-9_999_999),
            Policy::Min => State::Min(0),
            Policy::Count => State::Count(0),
            Policy::Distr(bounds) => {
                let mut bounds = bounds.clone();
                bounds.sort_unstable();
                bounds.dedup();
                let counts = vec![0; bounds.len()];
                State::Distr { bounds, counts }
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            State::Sum(_) => "Sum",
            State::Avg { .. } => "Avg",
            State::Max(_) => "Max",
            State::Min(_) => "Min",
            State::Count(_) => "Count",
            State::Distr { .. } => "Distr",
        }
    }

    fn add(&mut self, v: i32) {
        match self {
            State::Sum(s) => *s += i64::from(v),
            State::Avg { sum, count } => {
                *sum += i64::from(v);
                *count += 1;
            }
            State::Max(m) => *m = (*m).max(v),
            State::Min(m) => {
                if *m == 0 || (v != 0 && v < *m) {
                    *m = v;
                }
            }
            State::Count(n) => *n += 1,
            State::Distr { bounds, counts } => {
                let i = bounds.partition_point(|b| *b <= v);
                if let Some(n) = counts.get_mut(i) {
                    *n += 1;
                }
            }
        }
    }

    /// The period's value string, and the state cleared for the next period.
    fn take(&mut self) -> String {
        match self {
            State::Sum(s) => std::mem::take(s).to_string(),
            State::Avg { sum, count } => {
                let (s, n) = (std::mem::take(sum), std::mem::take(count));
                if n == 0 {
                    "0".into()
                } else {
                    format_double(s as f64 / n as f64)
                }
            }
            State::Max(m) => std::mem::take(m).to_string(),
            State::Min(m) => std::mem::take(m).to_string(),
            State::Count(n) => std::mem::take(n).to_string(),
            State::Distr { bounds, counts } => {
                let s = bounds
                    .iter()
                    .zip(counts.iter())
                    .map(|(b, n)| format!("{b}|{n}"))
                    .collect::<Vec<_>>()
                    .join(",");
                counts.iter_mut().for_each(|n| *n = 0);
                s
            }
        }
    }
}

/// A double as TarsCpp's `TC_Common::tostr<double>` writes it: six decimals
/// (`std::to_string`), trailing zeros and then a bare `.` removed.
pub fn format_double(v: f64) -> String {
    let s = format!("{v:.6}");
    if !s.contains('.') {
        return s;
    }
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_owned()
}

/// One property: its name, the module it is reported for, and its policies' state.
#[derive(Debug)]
pub struct Property {
    name: String,
    master_name: Option<String>,
    states: Mutex<Vec<State>>,
}

impl Property {
    /// A property `name` aggregated by `policies` (in the order they are sent).
    pub fn new(name: impl Into<String>, policies: &[Policy]) -> Property {
        Property {
            name: name.into(),
            master_name: None,
            states: Mutex::new(policies.iter().map(State::new).collect()),
        }
    }

    /// Reports the property under `module` instead of the reporter's module (TarsCpp's
    /// `setMasterName`).
    pub fn with_master_name(mut self, module: impl Into<String>) -> Property {
        self.master_name = Some(module.into());
        self
    }

    /// The property's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The module it is reported for, when not the reporter's.
    pub fn master_name(&self) -> Option<&str> {
        self.master_name.as_deref()
    }

    /// Adds a value to every policy.
    pub fn report(&self, value: i32) {
        for s in self.states.lock().iter_mut() {
            s.add(value);
        }
    }

    /// The period's `(policy, value)` pairs, clearing the state for the next period.
    pub fn take(&self) -> Vec<(String, String)> {
        self.states
            .lock()
            .iter_mut()
            .map(|s| (s.name().to_owned(), s.take()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Property) -> Vec<(String, String)> {
        p.take()
    }

    #[test]
    fn policies_as_tarscpp() {
        let p = Property::new(
            "queue",
            &[
                Policy::Sum,
                Policy::Avg,
                Policy::Max,
                Policy::Min,
                Policy::Count,
                Policy::Distr(vec![100, 10, 50, 10]),
            ],
        );
        // Before any value.
        let first = pairs(&p);
        let v: Vec<&str> = first.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(v, ["0", "0", "-9999999", "0", "0", "10|0,50|0,100|0"]);
        for x in [0, 5, 10, 49, 50, 99, 100, 7] {
            p.report(x);
        }
        let got = pairs(&p);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Sum", "Avg", "Max", "Min", "Count", "Distr"]);
        let v: Vec<&str> = got.iter().map(|(_, v)| v.as_str()).collect();
        // Sum 320, mean 40, max 100, min non-zero 5, 8 values; distr: <10: 0,5,7; [10,50): 10,49;
        // [50,100): 50,99; 100 dropped.
        assert_eq!(v, ["320", "40", "100", "5", "8", "10|3,50|2,100|2"]);
        // After a period Max restarts from 0 (TarsCpp's clear()).
        let after = pairs(&p);
        assert_eq!(after[2].1, "0");
        p.report(-3);
        assert_eq!(pairs(&p)[2].1, "0");
    }

    #[test]
    fn avg_format() {
        assert_eq!(format_double(2.5), "2.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1.0 / 3.0), "0.333333");
        assert_eq!(format_double(0.0), "0");
        let p = Property::new("a", &[Policy::Avg]);
        p.report(1);
        p.report(2);
        assert_eq!(p.take()[0].1, "1.5");
    }
}
