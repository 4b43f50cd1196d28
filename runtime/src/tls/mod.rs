//! TLS for `ssl` endpoints (TarsCpp's `ssl` transport: `ssl -h 127.0.0.1 -p 9001 -t 60000`),
//! with [rustls](https://docs.rs/rustls) and its `ring` provider.
//!
//! - A server adapter whose endpoint says `ssl` needs a [`ServerTls`]
//!   ([`AdapterConfig::tls`](crate::server::AdapterConfig::tls)): its certificate chain and
//!   private key, and optionally a client CA. With a client CA every client must present a
//!   certificate that CA issued (mutual TLS), and the servant sees the certificate's name as
//!   the caller's [`principal`](crate::server::Current::principal) (see [`principal_of`]).
//! - A client reaches `ssl` endpoints through a communicator given a [`ClientTls`]
//!   ([`Communicator::with_tls`](crate::client::Communicator::with_tls)): the CA it trusts, an
//!   optional client certificate and key, and optionally the name to verify the server
//!   certificate against (by default the endpoint's `-h` host, a DNS name or an IP address).
//!
//! Both sides drive rustls from their mio net threads without blocking: what the socket has is
//! read until it would block and handed to rustls, the plaintext it yields goes to the usual
//! frame splitter, and replies are encrypted as the socket takes them. Plain `tcp` connections
//! do not go through any of this.
//!
//! In an `EndpointF` (what the registry hands out) an `ssl` endpoint has `istcp` = 2: TarsCpp's
//! `TC_Endpoint::EType` is `{ UDP = 0, TCP = 1, SSL = 2 }` (`util/include/util/tc_clientsocket.h`)
//! and `istcp` carries that type.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Why TLS settings could not be loaded: the file and what failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file should hold (`certificate chain`, `private key`, `client CA`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A file is not valid PEM, or holds no item of the kind expected.
    #[error("{what} {path}: {reason}")]
    Pem {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the certificates or key (e.g. the key does not match the certificate,
    /// or a CA certificate cannot be parsed).
    #[error("{what}: {source}")]
    Rustls {
        /// What was being set up.
        what: &'static str,
        /// The error.
        source: rustls::Error,
    },
    /// The client CA could not be used to verify client certificates.
    #[error("client CA {path}: {reason}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A client certificate was given without its key, or a key without its certificate.
    #[error("a client certificate and its key go together: {0}")]
    Incomplete(&'static str),
    /// The server name to verify is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

/// Server TLS settings, as a configuration file names them (paths to PEM files).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) client certificates must chain to. When given, every client must
    /// present a valid certificate (mutual TLS); when absent, clients are not asked for one.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Client TLS settings, as a configuration file names them (paths to PEM files).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// CA certificates (PEM) server certificates must chain to.
    pub ca: PathBuf,
    /// The client's certificate chain (PEM), for servers that require mutual TLS.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The name server certificates are verified against, instead of each endpoint's `-h`.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// The TLS side of an `ssl` server adapter.
#[derive(Debug, Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// Loads the certificate chain, key and optional client CA `settings` names.
    pub fn from_settings(settings: &TlsSettings) -> Result<ServerTls, TlsError> {
        ServerTls::from_pem_files(&settings.cert, &settings.key, settings.client_ca.as_deref())
    }

    /// Loads a certificate chain and private key from PEM files, and — for mutual TLS — the
    /// CA certificates client certificates must chain to.
    pub fn from_pem_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<ServerTls, TlsError> {
        let chain = load_certs(cert, "certificate chain")?;
        let key = load_key(key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "TLS versions",
                source,
            })?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let roots = load_roots(path, "client CA")?;
                let verifier =
                    rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
                        .build()
                        .map_err(|e| TlsError::ClientCa {
                            path: path.to_owned(),
                            reason: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|source| TlsError::Rustls {
                what: "server certificate and key",
                source,
            })?;
        Ok(ServerTls::new(config))
    }

    /// A server TLS setup from a rustls configuration built by the caller.
    pub fn new(config: rustls::ServerConfig) -> ServerTls {
        ServerTls {
            config: Arc::new(config),
        }
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }
}

/// The TLS side of a client: what it trusts and, for mutual TLS, who it is.
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl ClientTls {
    /// Loads the CA, the optional client certificate and key, and the optional server name
    /// `settings` names.
    pub fn from_settings(settings: &ClientTlsSettings) -> Result<ClientTls, TlsError> {
        let identity = match (&settings.cert, &settings.key) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            (Some(_), None) => return Err(TlsError::Incomplete("a certificate without a key")),
            (None, Some(_)) => return Err(TlsError::Incomplete("a key without a certificate")),
        };
        let tls = ClientTls::from_pem_files(&settings.ca, identity)?;
        match &settings.server_name {
            Some(name) => tls.with_server_name(name),
            None => Ok(tls),
        }
    }

    /// Trusts the CA certificates in the PEM file `ca`; presents the certificate chain and
    /// key of `identity` (PEM files) to servers that ask for one.
    pub fn from_pem_files(
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<ClientTls, TlsError> {
        let roots = load_roots(ca, "CA")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "TLS versions",
                source,
            })?
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = load_certs(cert, "client certificate chain")?;
                let key = load_key(key)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|source| TlsError::Rustls {
                        what: "client certificate and key",
                        source,
                    })?
            }
        };
        Ok(ClientTls::new(config))
    }

    /// A client TLS setup from a rustls configuration built by the caller.
    pub fn new(config: rustls::ClientConfig) -> ClientTls {
        ClientTls {
            config: Arc::new(config),
            server_name: None,
        }
    }

    /// Verifies every server certificate against `name` (a DNS name or an IP address) instead
    /// of the endpoint's `-h` host.
    pub fn with_server_name(mut self, name: &str) -> Result<ClientTls, TlsError> {
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| TlsError::ServerName(name.to_owned()))?;
        self.server_name = Some(name);
        Ok(self)
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// The name server certificates are verified against for an endpoint whose host is
    /// `host`: the override, or `host` itself.
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => ServerName::try_from(host.to_owned())
                .map_err(|_| TlsError::ServerName(host.to_owned())),
        }
    }
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn load_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.to_owned(),
            reason: "no CERTIFICATE section".into(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "private key";
    let pem = read_file(path, what)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        what,
        path: path.to_owned(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY section (PKCS#8, PKCS#1 or SEC1)".into()
            }
            e => e.to_string(),
        },
    })
}

fn load_roots(path: &Path, what: &'static str) -> Result<Arc<rustls::RootCertStore>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(path, what)? {
        roots
            .add(cert)
            .map_err(|source| TlsError::Rustls { what, source })?;
    }
    Ok(Arc::new(roots))
}

/// The principal a verified client certificate names: its first DNS subject alternative
/// name, or else its subject's common name (CN). DNS SANs come first because they are what
/// certificates are issued and verified for today (CN is deprecated for names, RFC 6125);
/// the CN remains for certificates that carry a user or service name only there. `None` when
/// the certificate has neither (or cannot be parsed).
pub fn principal_of(cert: &CertificateDer<'_>) -> Option<Arc<str>> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    if let Some(dns) = parsed.valid_dns_names().next() {
        return Some(Arc::from(dns));
    }
    common_name(parsed.subject()).map(Arc::from)
}

/// The first common name (OID 2.5.4.3) of a DER `Name`'s contents (the RDN sequence without
/// its outer SEQUENCE header).
fn common_name(mut rdns: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    while !rdns.is_empty() {
        let (tag, mut set, rest) = der_tlv(rdns)?;
        rdns = rest;
        if tag != 0x31 {
            return None;
        }
        while !set.is_empty() {
            let (tag, atv, rest) = der_tlv(set)?;
            set = rest;
            if tag != 0x30 {
                return None;
            }
            let (tag, oid, value) = der_tlv(atv)?;
            if tag != 0x06 || oid != CN {
                continue;
            }
            let (tag, value, _) = der_tlv(value)?;
            // UTF8String, PrintableString, IA5String, TeletexString (taken as Latin-1 only
            // when it is ASCII).
            if matches!(tag, 0x0c | 0x13 | 0x16 | 0x14) {
                return std::str::from_utf8(value).ok().map(str::to_owned);
            }
        }
    }
    None
}

/// Splits one DER tag-length-value off `input`: (tag, value, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// What reading a TLS connection produced.
#[derive(Debug, Default)]
pub(crate) struct TlsRead {
    /// TLS bytes read from the socket.
    pub raw: usize,
    /// Plaintext bytes appended.
    pub plain: usize,
    /// The peer closed the connection (end of stream, `close_notify`, or a socket error).
    pub closed: bool,
    /// The TLS session failed (bad record, failed handshake, alert from the peer).
    pub error: Option<rustls::Error>,
}

/// Reads what `socket` has (until it would block, or `max_reads` reads) into `tls`, and the
/// plaintext it yields into `plain`. On a TLS error the alert rustls queued is sent (best
/// effort) before returning.
pub(crate) fn read_into<C, S>(
    tls: &mut rustls::ConnectionCommon<S>,
    socket: &mut C,
    plain: &mut BytesMut,
    scratch: &mut [u8],
    max_reads: usize,
) -> (TlsRead, bool)
where
    C: Read + Write,
{
    let mut out = TlsRead::default();
    let mut reads = 0;
    loop {
        if reads == max_reads {
            return (out, true);
        }
        reads += 1;
        match tls.read_tls(socket) {
            Ok(0) => {
                out.closed = true;
                break;
            }
            Ok(n) => out.raw += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                out.closed = true;
                break;
            }
        }
        if let Err(e) = tls.process_new_packets() {
            out.error = Some(e);
            // The alert for the peer, if rustls queued one.
            let _ = tls.write_tls(socket);
            return (out, false);
        }
        loop {
            match tls.reader().read(scratch) {
                Ok(0) => {
                    // close_notify: the peer sends nothing more.
                    out.closed = true;
                    return (out, false);
                }
                Ok(n) => {
                    plain.extend_from_slice(&scratch[..n]);
                    out.plain += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    out.closed = true;
                    return (out, false);
                }
            }
        }
    }
    (out, false)
}

/// Encrypts plaintext from the front of `wbuf` and writes TLS records to `socket` until both
/// are done or the socket would block. Returns the bytes of `wbuf` consumed and whether
/// everything (plaintext and records) is out; `Err` means the connection is dead.
pub(crate) fn write_from<C, S>(
    tls: &mut rustls::ConnectionCommon<S>,
    socket: &mut C,
    wbuf: &[u8],
) -> io::Result<(usize, bool)>
where
    C: Read + Write,
{
    let mut taken = 0;
    loop {
        while tls.wants_write() {
            match tls.write_tls(socket) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "peer stopped reading",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((taken, false)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if taken == wbuf.len() {
            return Ok((taken, true));
        }
        // rustls buffers at most its limit (64 KiB by default) of records or, before the
        // handshake is done, of plaintext; the rest stays in `wbuf`, accounted by the caller.
        let n = tls.writer().write(&wbuf[taken..])?;
        if n == 0 && !tls.wants_write() {
            // Nothing can move until the handshake progresses (the peer's turn).
            return Ok((taken, false));
        }
        taken += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_names() {
        assert_eq!(
            der_tlv(&[0x04, 0x01, 0xaa, 0xbb]),
            Some((4, &[0xaa][..], &[0xbb][..]))
        );
        assert_eq!(der_tlv(&[0x04, 0x02, 0xaa]), None);
        assert_eq!(
            der_tlv(&[0x04, 0x81, 0x01, 0xaa]),
            Some((4, &[0xaa][..], &[][..]))
        );
        assert_eq!(der_tlv(&[0x04, 0x85, 0, 0, 0, 0, 1]), None);
        // SET { SEQUENCE { OID 2.5.4.3, UTF8String "ab" } }
        let rdn = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, b'a', b'b',
        ];
        assert_eq!(common_name(&rdn).as_deref(), Some("ab"));
        assert_eq!(common_name(&rdn[..5]), None);
        assert_eq!(common_name(&[0x31, 0x00]), None);
    }
}
