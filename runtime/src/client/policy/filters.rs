//! Built-in filters on instance metadata.

use super::{CallInfo, Candidate, Filter};
use crate::protocol::tarsrs::HealthStatus;

/// Instances whose feature flags include all of these, set to true.
#[derive(Debug, Clone)]
pub struct RequireFeatures(pub Vec<String>);

impl RequireFeatures {
    /// Requires every flag in `flags`.
    pub fn new<S: Into<String>>(flags: impl IntoIterator<Item = S>) -> RequireFeatures {
        RequireFeatures(flags.into_iter().map(Into::into).collect())
    }
}

impl Filter for RequireFeatures {
    fn accepts(&self, c: &Candidate<'_>, _call: &CallInfo<'_>) -> bool {
        let features = &c.instance.meta.features;
        self.0
            .iter()
            .all(|f| features.get(f.as_str()).copied().unwrap_or(false))
    }
}

/// Instances of this environment (`prod`, `staging`, ...).
#[derive(Debug, Clone)]
pub struct Environment(pub String);

impl Environment {
    /// Instances whose environment is `env`.
    pub fn new(env: impl Into<String>) -> Environment {
        Environment(env.into())
    }
}

impl Filter for Environment {
    fn accepts(&self, c: &Candidate<'_>, _call: &CallInfo<'_>) -> bool {
        c.instance.meta.environment == self.0
    }
}

/// Instances of this business type.
#[derive(Debug, Clone)]
pub struct BusinessType(pub String);

impl BusinessType {
    /// Instances whose business type is `business_type`.
    pub fn new(business_type: impl Into<String>) -> BusinessType {
        BusinessType(business_type.into())
    }
}

impl Filter for BusinessType {
    fn accepts(&self, c: &Candidate<'_>, _call: &CallInfo<'_>) -> bool {
        c.instance.meta.business_type == self.0
    }
}

/// Instances at least this healthy (`HEALTHY` is best, `UNHEALTHY` worst).
#[derive(Debug, Clone, Copy)]
pub struct HealthAtLeast(pub HealthStatus);

impl Filter for HealthAtLeast {
    fn accepts(&self, c: &Candidate<'_>, _call: &CallInfo<'_>) -> bool {
        i32::from(c.instance.load.health) <= i32::from(self.0)
    }
}

/// Instances in a SET: `name.area.group` exactly, or every group of `name.area` with
/// `name.area.*`.
#[derive(Debug, Clone)]
pub struct InSet(pub String);

impl InSet {
    /// Instances in SET `set_id`.
    pub fn new(set_id: impl Into<String>) -> InSet {
        InSet(set_id.into())
    }
}

/// Whether SET id `have` is in `want`: `name.area.group` exactly, or any group of
/// `name.area` when `want` is `name.area.*`. (The registry's findObjectByIdInSameSet uses the
/// same rule.)
pub fn set_matches(want: &str, have: &str) -> bool {
    match want.strip_suffix(".*") {
        Some(prefix) => have
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.')),
        None => have == want,
    }
}

impl Filter for InSet {
    fn accepts(&self, c: &Candidate<'_>, _call: &CallInfo<'_>) -> bool {
        set_matches(&self.0, &c.instance.endpoint.set_id)
    }
}

/// Instances in this region / IDC group. As a preference it gives region-first routing with
/// fallback to the other regions.
#[derive(Debug, Clone)]
pub struct Region(pub String);

impl Region {
    /// Instances whose region is `region`.
    pub fn new(region: impl Into<String>) -> Region {
        Region(region.into())
    }
}

impl Filter for Region {
    fn accepts(&self, c: &Candidate<'_>, _call: &CallInfo<'_>) -> bool {
        c.instance.meta.region == self.0
    }
}

#[cfg(test)]
mod tests {
    use super::set_matches;

    #[test]
    fn set_ids() {
        assert!(set_matches("app.sz.1", "app.sz.1"));
        assert!(!set_matches("app.sz.1", "app.sz.2"));
        assert!(set_matches("app.sz.*", "app.sz.2"));
        assert!(!set_matches("app.sz.*", "app.sh.2"));
        assert!(!set_matches("app.sz.*", "app.szx.2"));
        assert!(!set_matches("app.sz.*", "app.sz."));
        assert!(!set_matches("app.sz.*", ""));
    }
}
