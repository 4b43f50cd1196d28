//! Endpoint strings: `tcp -h 127.0.0.1 -p 18601 -t 60000 [-g grid -w weight -v weightType]`,
//! with `tcp`, `udp` or `ssl` (TLS over TCP, see [`crate::tls`]) as the transport.

use std::fmt;
use std::str::FromStr;

/// Why an endpoint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {text:?}: {reason}")]
pub struct EndpointError {
    text: String,
    reason: String,
}

/// One transport endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// `tcp`, `udp` or `ssl` (TarsCpp's TLS transport: TCP with TLS, see [`crate::tls`]).
    pub protocol: String,
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `-t`: the idle timeout of a server adapter, in milliseconds. Clients keep it as part of
    /// the endpoint description; their connects and calls are bounded by each call's timeout.
    pub timeout_ms: u64,
    /// Grid (`-g`).
    pub grid: i32,
    /// Weight (`-w`).
    pub weight: i32,
    /// Weight type (`-v`).
    pub weight_type: i32,
    /// `-e`: the authentication the endpoint requires (0 none, 1 TarsCpp's local
    /// authentication, see [`crate::auth`]).
    pub auth_type: i32,
}

/// How to reach the endpoints of a group of servers that all listen the same way (the nodes
/// of a cluster): transport and authentication, without the address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transport {
    /// `tcp` or `ssl`.
    pub protocol: String,
    /// `-e`: 0 none, 1 TarsCpp's local authentication.
    pub auth_type: i32,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            protocol: "tcp".into(),
            auth_type: 0,
        }
    }
}

impl Transport {
    /// The endpoint at `host:port` with this transport and a `timeout_ms` timeout.
    pub fn endpoint(&self, host: &str, port: u16, timeout_ms: u64) -> Endpoint {
        Endpoint {
            protocol: self.protocol.clone(),
            timeout_ms,
            auth_type: self.auth_type,
            ..Endpoint::tcp(host, port)
        }
    }
}

impl Endpoint {
    /// A TCP endpoint with the default 60 s timeout.
    pub fn tcp(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint {
            protocol: "tcp".into(),
            host: host.into(),
            port,
            timeout_ms: 60_000,
            grid: 0,
            weight: -1,
            weight_type: 0,
            auth_type: 0,
        }
    }

    /// Whether the transport is TLS (`ssl`).
    pub fn is_tls(&self) -> bool {
        self.protocol == "ssl"
    }

    /// `host:port`, for connecting and binding.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Endpoint, EndpointError> {
        let err = |reason: &str| EndpointError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut words = text.split_whitespace();
        let protocol = words
            .next()
            .ok_or_else(|| err("empty"))?
            .to_ascii_lowercase();
        if !matches!(protocol.as_str(), "tcp" | "udp" | "ssl") {
            return Err(err("protocol must be tcp, udp or ssl"));
        }
        let mut ep = Endpoint::tcp("", 0);
        ep.protocol = protocol;
        let mut port = None;
        while let Some(flag) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| err(&format!("{flag} needs a value")))?;
            let int = |what: &str| {
                value
                    .parse::<i64>()
                    .map_err(|_| err(&format!("{what} {value:?} is not a number")))
            };
            match flag {
                "-h" => ep.host = value.to_owned(),
                "-p" => {
                    let p = int("port")?;
                    port = Some(u16::try_from(p).map_err(|_| err("port out of range"))?);
                }
                "-t" => {
                    ep.timeout_ms =
                        u64::try_from(int("timeout")?).map_err(|_| err("negative timeout"))?
                }
                "-g" => {
                    ep.grid = i32::try_from(int("grid")?).map_err(|_| err("grid out of range"))?
                }
                "-w" => {
                    ep.weight =
                        i32::try_from(int("weight")?).map_err(|_| err("weight out of range"))?
                }
                "-v" => {
                    ep.weight_type = i32::try_from(int("weight type")?)
                        .map_err(|_| err("weight type out of range"))?
                }
                "-e" => {
                    ep.auth_type = i32::try_from(int("auth type")?)
                        .map_err(|_| err("auth type out of range"))?
                }
                // Options other implementations add (-s ssl, ...) are accepted and ignored.
                _ if flag.starts_with('-') => {}
                _ => return Err(err(&format!("unexpected {flag:?}"))),
            }
        }
        if ep.host.is_empty() {
            return Err(err("missing -h host"));
        }
        ep.port = port.ok_or_else(|| err("missing -p port"))?;
        Ok(ep)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -h {} -p {} -t {}",
            self.protocol, self.host, self.port, self.timeout_ms
        )?;
        if self.grid != 0 {
            write!(f, " -g {}", self.grid)?;
        }
        if self.weight >= 0 {
            write!(f, " -w {} -v {}", self.weight, self.weight_type)?;
        }
        if self.auth_type != 0 {
            write!(f, " -e {}", self.auth_type)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_endpoints() {
        let ep: Endpoint = "tcp -h 127.0.0.1 -p 18601 -t 60000".parse().unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.timeout_ms),
            ("127.0.0.1", 18601, 60000)
        );
        assert_eq!(ep.to_string(), "tcp -h 127.0.0.1 -p 18601 -t 60000");
        let ep: Endpoint = "tcp  -h ::1 -p 9 -t 10 -g 2 -w 50 -v 1 -e 0"
            .parse()
            .unwrap();
        assert_eq!((ep.grid, ep.weight, ep.weight_type), (2, 50, 1));
        assert_eq!(ep.address(), "[::1]:9");
        let ep: Endpoint = "SSL -h 127.0.0.1 -p 9001 -t 60000".parse().unwrap();
        assert!(ep.is_tls());
        assert_eq!(ep.to_string(), "ssl -h 127.0.0.1 -p 9001 -t 60000");
        for bad in [
            "",
            "http -h a -p 1",
            "tcp -p 1",
            "tcp -h a",
            "tcp -h a -p 70000",
            "tcp -h a -p x",
            "tcp -h",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad:?} must be rejected");
        }
    }
}
