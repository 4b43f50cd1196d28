//! Who is calling: bearer tokens or the login cookie, compared in constant time.

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::ConsoleError;

/// The cookie the login form sets (the token itself; HttpOnly, SameSite=Strict).
pub(crate) const COOKIE: &str = "tars_console_token";

/// What a token allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every page and every read of the API.
    #[default]
    #[serde(alias = "read-only", alias = "readonly")]
    Read,
    /// Reads, and the actions on transactions (retry, stop retrying, rollback).
    Admin,
}

/// One token of `[[console.tokens]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it: the console acts as the principal `console:<name>`, and the audit log
    /// names it.
    pub name: String,
    /// The secret (at least 8 visible ASCII characters, no `;`, `,` or `"`).
    pub token: String,
    /// `read` (default) or `admin`.
    pub role: Role,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The token's name (`open` when the console has no tokens).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Whether it came through the cookie (its actions then need the console's header).
    pub by_cookie: bool,
}

impl Caller {
    /// The principal the coordinator sees.
    pub fn principal(&self) -> String {
        format!("console:{}", self.name)
    }
}

/// The console's authentication.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    tokens: Vec<TokenConfig>,
}

/// Whether `host` is a loopback address (or `localhost`).
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Auth {
    /// Checks the tokens; refuses an open console on a host other than loopback.
    pub fn new(host: &str, tokens: &[TokenConfig]) -> Result<Auth, ConsoleError> {
        if tokens.is_empty() && !is_loopback(host) {
            return Err(ConsoleError::Config(format!(
                "the console would listen on {host}, which is not loopback, without tokens: \
                 anyone who reaches it could end transactions; configure [[console.tokens]]"
            )));
        }
        for (i, t) in tokens.iter().enumerate() {
            if t.name.is_empty() {
                return Err(ConsoleError::Config(format!(
                    "token #{} has no name",
                    i + 1
                )));
            }
            let usable = t.token.len() >= 8
                && t.token
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'));
            if !usable {
                return Err(ConsoleError::Config(format!(
                    "token {:?}: at least 8 visible ASCII characters, without ; , \" or \\",
                    t.name
                )));
            }
        }
        Ok(Auth {
            tokens: tokens.to_vec(),
        })
    }

    /// Whether the console is open (no tokens configured, on loopback).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token `candidate` is, compared with every configured one in constant time.
    pub fn check(&self, candidate: &str) -> Option<&TokenConfig> {
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.token.as_bytes().ct_eq(candidate.as_bytes())) && found.is_none() {
                found = Some(t);
            }
        }
        found
    }

    /// Who sends `headers`: a bearer token, else the cookie; everyone (as an admin named
    /// `open`) when the console is open. `None`: not authenticated.
    pub fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        if self.is_open() {
            return Some(Caller {
                name: "open".into(),
                role: Role::Admin,
                by_cookie: false,
            });
        }
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let (candidate, by_cookie) = match bearer {
            Some(b) => (b.to_owned(), false),
            None => (cookie(headers, COOKIE)?, true),
        };
        self.check(&candidate).map(|t| Caller {
            name: t.name.clone(),
            role: t.role,
            by_cookie,
        })
    }
}

/// The value of cookie `name` in `headers`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, token: &str, role: Role) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            token: token.into(),
            role,
        }
    }

    #[test]
    fn open_only_on_loopback() {
        assert!(Auth::new("127.0.0.1", &[]).is_ok_and(|a| a.is_open()));
        assert!(Auth::new("localhost", &[]).is_ok());
        assert!(Auth::new("::1", &[]).is_ok());
        assert!(Auth::new("0.0.0.0", &[]).is_err());
        assert!(Auth::new("10.0.0.1", &[token("ops", "0123456789", Role::Admin)]).is_ok());
        assert!(Auth::new("127.0.0.1", &[token("ops", "short", Role::Admin)]).is_err());
        assert!(Auth::new("127.0.0.1", &[token("", "0123456789", Role::Admin)]).is_err());
    }

    #[test]
    fn bearer_and_cookie() {
        let auth = Auth::new(
            "127.0.0.1",
            &[
                token("ops", "admin-secret", Role::Admin),
                token("viewer", "read-secret", Role::Read),
            ],
        )
        .expect("valid");
        let mut h = HeaderMap::new();
        assert_eq!(auth.caller(&h), None);
        h.insert(
            "authorization",
            "Bearer read-secret".parse().expect("header"),
        );
        let c = auth.caller(&h).expect("viewer");
        assert_eq!(
            (c.name.as_str(), c.role, c.by_cookie),
            ("viewer", Role::Read, false)
        );
        h.insert(
            "authorization",
            "Bearer wrong-secret".parse().expect("header"),
        );
        assert_eq!(auth.caller(&h), None);
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            "a=b; tars_console_token=admin-secret"
                .parse()
                .expect("header"),
        );
        let c = auth.caller(&h).expect("ops");
        assert_eq!(
            (c.principal(), c.role, c.by_cookie),
            ("console:ops".into(), Role::Admin, true)
        );
    }
}
