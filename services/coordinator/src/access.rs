//! Who may do what to a transaction.
//!
//! A caller's principal is what its connection proved: the access key of TarsCpp local
//! authentication (`-e 1`) or the name in its TLS client certificate
//! ([`tars::server::Current::principal`]). The principal that begins a transaction owns it
//! (the owner is stored with the session, so the rule holds across restarts).
//!
//! With [`AccessConfig::enforce`] on:
//! - `begin` needs a principal;
//! - `commit`, `rollback` and `globalReport` are the owner's, or an admin's;
//! - `branchRegister` and `branchReport` are open to the owner, admins, and the principals a
//!   [`BranchRule`] lets join the owner's transactions;
//! - `getStatus`, `lockQuery` and the operator's `listTransactions` and `describeTransaction`
//!   are reads: open, unless [`AccessConfig::authenticated_reads`];
//! - `retry` and `stopRetrying` (an operator's) are admins' only.
//!
//! Refusals answer `Failed` with [`AccessDenied`](tars_protocols::tarstx::TransactionExceptionCode::AccessDenied)
//! and a message naming the principal and the rule that failed. With `enforce` off (the
//! default, for single-machine development) every caller may do everything; owners are still
//! recorded.

use serde::{Deserialize, Serialize};

/// The principal Seata v1 clients act as: the Seata protocol carries no credentials, so every
/// caller through a node's Seata front end is this one principal.
pub const SEATA_PRINCIPAL: &str = "seata";

/// Lets a principal register and report branches in transactions of some owners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BranchRule {
    /// The participant's principal.
    pub principal: String,
    /// Owners (principals that begin transactions) it may join; `"*"` is every owner.
    pub joins: Vec<String>,
}

/// Authorization of coordinator calls (TOML `[coordinator.access]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Check every call against the rules (off: open to every caller).
    pub enforce: bool,
    /// Principals that may end, report and join every transaction.
    pub admins: Vec<String>,
    /// Who may join whose transactions, besides their owners and admins.
    pub branch_rules: Vec<BranchRule>,
    /// The reads (`getStatus`, `lockQuery`, `listTransactions`, `describeTransaction`) need a
    /// principal too.
    pub authenticated_reads: bool,
    /// Principals trusted to name, in a call's context, the principal they forward it for
    /// (the nodes of a cluster, routing calls to fragment leaders).
    pub forwarders: Vec<String>,
}

/// What a call does to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `begin`.
    Begin,
    /// `commit`, `rollback`, `globalReport`.
    End,
    /// `branchRegister`, `branchReport`.
    Join,
    /// `getStatus`, `lockQuery`, `listTransactions`, `describeTransaction`.
    Read,
    /// An operator's `retry`, `stopRetrying`: admins only.
    Operate,
}

impl AccessConfig {
    /// Whether `principal` may do `action` to a transaction owned by `owner` (`None`: no such
    /// transaction is open; the call then answers as it would for anyone). `Err` holds
    /// why not.
    pub fn check(
        &self,
        action: Action,
        principal: Option<&str>,
        owner: Option<&str>,
    ) -> Result<(), String> {
        if !self.enforce {
            return Ok(());
        }
        let Some(who) = principal.filter(|p| !p.is_empty()) else {
            return match action {
                Action::Read if !self.authenticated_reads => Ok(()),
                _ => Err(
                    "anonymous callers may not do this: authenticate (-e 1 or a TLS \
                          client certificate)"
                        .into(),
                ),
            };
        };
        let admin = self.admins.iter().any(|a| a == who);
        let owns = |o: &str| o == who;
        match (action, owner) {
            (Action::Operate, _) if admin => Ok(()),
            (Action::Operate, _) => Err(format!(
                "{who} is not an admin: only admins operate transactions"
            )),
            (Action::Begin | Action::Read, _) | (_, None) => Ok(()),
            (Action::End, Some(o)) if admin || owns(o) => Ok(()),
            (Action::End, Some(o)) => Err(format!(
                "{who} may not end a transaction begun by {}: only its owner or an admin may",
                shown(o)
            )),
            (Action::Join, Some(o)) if admin || owns(o) || self.may_join(who, o) => Ok(()),
            (Action::Join, Some(o)) => Err(format!(
                "{who} may not join a transaction begun by {}: no branch rule lets it",
                shown(o)
            )),
        }
    }

    fn may_join(&self, who: &str, owner: &str) -> bool {
        self.branch_rules
            .iter()
            .filter(|r| r.principal == who)
            .any(|r| r.joins.iter().any(|j| j == "*" || j == owner))
    }
}

fn shown(owner: &str) -> &str {
    if owner.is_empty() {
        "an anonymous caller"
    } else {
        owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AccessConfig {
        AccessConfig {
            enforce: true,
            admins: vec!["ops".into()],
            branch_rules: vec![BranchRule {
                principal: "stock".into(),
                joins: vec!["orders".into()],
            }],
            authenticated_reads: false,
            forwarders: Vec::new(),
        }
    }

    #[test]
    fn owners_admins_and_rules_decide() {
        let a = rules();
        let owned = Some("orders");
        assert!(a.check(Action::Begin, Some("orders"), None).is_ok());
        assert!(a.check(Action::Begin, None, None).is_err());
        assert!(a.check(Action::End, Some("orders"), owned).is_ok());
        assert!(a.check(Action::End, Some("ops"), owned).is_ok());
        let denied = a
            .check(Action::End, Some("mallory"), owned)
            .expect_err("not the owner");
        assert!(denied.contains("mallory") && denied.contains("orders"));
        assert!(a.check(Action::End, None, owned).is_err());
        assert!(a.check(Action::Join, Some("stock"), owned).is_ok());
        assert!(a
            .check(Action::Join, Some("stock"), Some("billing"))
            .is_err());
        assert!(a.check(Action::Join, Some("mallory"), owned).is_err());
        assert!(a.check(Action::Read, None, owned).is_ok());
        // An unknown XID answers as for anyone (NotExist), not with a refusal.
        assert!(a.check(Action::End, Some("mallory"), None).is_ok());
    }

    #[test]
    fn reads_can_need_a_principal_and_off_means_open() {
        let mut a = rules();
        a.authenticated_reads = true;
        assert!(a.check(Action::Read, None, Some("orders")).is_err());
        assert!(a.check(Action::Read, Some("x"), Some("orders")).is_ok());
        let open = AccessConfig::default();
        assert!(open.check(Action::End, None, Some("orders")).is_ok());
    }

    #[test]
    fn a_wildcard_rule_joins_every_owner() {
        let mut a = rules();
        a.branch_rules.push(BranchRule {
            principal: "audit".into(),
            joins: vec!["*".into()],
        });
        assert!(a.check(Action::Join, Some("audit"), Some("anyone")).is_ok());
    }
}
