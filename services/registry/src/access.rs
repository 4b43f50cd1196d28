//! Who may change which registrations.
//!
//! A caller's principal is what its connection proved: the access key of TarsCpp local
//! authentication (`-e 1`) or the name in its TLS client certificate
//! ([`tars::server::Current::principal`]). With [`RegistryAccess::enforce`] on,
//! `registerInstance`, `heartbeat` and `deregister` of object `obj` need a principal that a
//! [`WriteRule`] allows for `obj` (the rule's prefix starts `obj`), or an admin. Reads (`list`,
//! `watch`, the QueryF finds) stay open unless [`RegistryAccess::authenticated_reads`].
//! Refused writes answer [`ACCESS_DENIED`](crate::servant::ACCESS_DENIED). Off (the default,
//! for single-machine development) every caller may write everything.

use serde::{Deserialize, Serialize};

/// Lets `principal` write the registrations of objects whose names start with `prefix`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteRule {
    /// The writer's principal.
    pub principal: String,
    /// Object-name prefix, e.g. `"Bank.Account."` (`""` is every object).
    pub prefix: String,
}

/// Authorization of registry calls (TOML `[registry.access]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryAccess {
    /// Check writes (and reads, with `authenticated_reads`) against the rules.
    pub enforce: bool,
    /// Principals that may write every registration.
    pub admins: Vec<String>,
    /// Who may write which objects.
    pub writers: Vec<WriteRule>,
    /// Reads need a principal too.
    pub authenticated_reads: bool,
}

impl RegistryAccess {
    /// Whether `principal` may register, heartbeat or deregister instances of `obj`; `Err`
    /// says why not.
    pub fn may_write(&self, principal: Option<&str>, obj: &str) -> Result<(), String> {
        if !self.enforce {
            return Ok(());
        }
        let Some(who) = principal.filter(|p| !p.is_empty()) else {
            return Err(format!(
                "an anonymous caller may not change registrations of {obj}: authenticate \
                 (-e 1 or a TLS client certificate)"
            ));
        };
        let allowed = self.admins.iter().any(|a| a == who)
            || self
                .writers
                .iter()
                .any(|r| r.principal == who && obj.starts_with(r.prefix.as_str()));
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{who} may not change registrations of {obj}: no rule allows it"
            ))
        }
    }

    /// Whether `principal` may read.
    pub fn may_read(&self, principal: Option<&str>) -> Result<(), String> {
        if self.enforce && self.authenticated_reads && principal.is_none_or(str::is_empty) {
            return Err("reads need an authenticated caller".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_prefix_and_admins() {
        let a = RegistryAccess {
            enforce: true,
            admins: vec!["ops".into()],
            writers: vec![WriteRule {
                principal: "bank".into(),
                prefix: "Bank.".into(),
            }],
            authenticated_reads: false,
        };
        assert!(a.may_write(Some("bank"), "Bank.Account.AccountObj").is_ok());
        assert!(a
            .may_write(Some("bank"), "tars.tarscoordinator.CoordinatorObj")
            .is_err());
        assert!(a
            .may_write(Some("ops"), "tars.tarscoordinator.CoordinatorObj")
            .is_ok());
        assert!(a.may_write(None, "Bank.Account.AccountObj").is_err());
        assert!(a.may_write(Some(""), "Bank.Account.AccountObj").is_err());
        assert!(a.may_read(None).is_ok());
        let reads = RegistryAccess {
            authenticated_reads: true,
            ..a
        };
        assert!(reads.may_read(None).is_err());
        assert!(reads.may_read(Some("x")).is_ok());
        assert!(RegistryAccess::default().may_write(None, "Any.Obj").is_ok());
    }
}
