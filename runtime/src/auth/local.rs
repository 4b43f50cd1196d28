//! TarsCpp's local authentication (`AuthF.tars`, endpoint option `-e 1`), written from its
//! published scheme (`servant/libservant/AuthLogic.cpp`):
//!
//! - secret1 = hex SHA-1 of the secret key, secret2 = hex SHA-1 of secret1;
//! - tmpKey = MD5 (16 raw bytes) of secret2 whose first 8 bytes are OR-ed with the
//!   little-endian bytes of the package's `iTime`;
//! - the signature is secret1 encrypted with tmpKey ([`super::tea`]);
//! - the server decrypts it with the tmpKey it derives from its own copy of the key and
//!   accepts when the SHA-1 of what comes out is its secret2, the object and access key are
//!   its own, the hash method is "sha1" and `iTime` is within an hour of its clock.
//!
//! The package travels in the `sBuffer` of the connection's first request; the answer's
//! `sBuffer` is the [`AuthState`] name (`AUTH_SUCC`). A failed check closes the connection.

use sha1::Digest as _;

use crate::codec::TarsString;

/// What a client sends first on a connection to an endpoint with `-e 1`.
#[derive(Debug, Clone, PartialEq, Default, crate::TarsStruct)]
#[tars(class = "tars.BasicAuthPackage")]
pub struct BasicAuthPackage {
    /// `sObjName` (tag 1): the object called.
    #[tars(tag = 1, require)]
    pub obj_name: TarsString,
    /// `sAccessKey` (tag 2).
    #[tars(tag = 2, require)]
    pub access_key: TarsString,
    /// `iTime` (tag 3): seconds since the Unix epoch.
    #[tars(tag = 3, require)]
    pub time: i64,
    /// `sHashMethod` (tag 4): "sha1".
    #[tars(tag = 4, optional)]
    pub hash_method: TarsString,
    /// `sSignature` (tag 5).
    #[tars(tag = 5, optional)]
    pub signature: TarsString,
}

/// `AUTH_STATE` of `AuthF.tars`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    /// `AUTH_SUCC` (0).
    Succ,
    /// `AUTH_PROTO_ERR` (-100): not an authentication package.
    ProtoErr,
    /// `AUTH_WRONG_OBJ` (-101).
    WrongObj,
    /// `AUTH_WRONG_AK` (-102).
    WrongAk,
    /// `AUTH_WRONG_TIME` (-103): more than an hour away from the server's clock.
    WrongTime,
    /// `AUTH_NOT_SUPPORT_ENC` (-104): a hash method other than sha1.
    NotSupportEnc,
    /// `AUTH_DEC_FAIL` (-105): the signature does not decrypt (a wrong secret key).
    DecFail,
    /// `AUTH_ERROR` (-106): it decrypts, but to the wrong secret.
    Error,
}

impl AuthState {
    /// The number on the wire.
    pub fn code(self) -> i32 {
        match self {
            AuthState::Succ => 0,
            AuthState::ProtoErr => -100,
            AuthState::WrongObj => -101,
            AuthState::WrongAk => -102,
            AuthState::WrongTime => -103,
            AuthState::NotSupportEnc => -104,
            AuthState::DecFail => -105,
            AuthState::Error => -106,
        }
    }

    /// The name TarsCpp answers with (`etos`).
    pub fn name(self) -> &'static str {
        match self {
            AuthState::Succ => "AUTH_SUCC",
            AuthState::ProtoErr => "AUTH_PROTO_ERR",
            AuthState::WrongObj => "AUTH_WRONG_OBJ",
            AuthState::WrongAk => "AUTH_WRONG_AK",
            AuthState::WrongTime => "AUTH_WRONG_TIME",
            AuthState::NotSupportEnc => "AUTH_NOT_SUPPORT_ENC",
            AuthState::DecFail => "AUTH_DEC_FAIL",
            AuthState::Error => "AUTH_ERROR",
        }
    }
}

/// How far `iTime` may be from the server's clock, in seconds.
const TIME_RANGE: i64 = 3600;

fn sha1_hex(data: &[u8]) -> String {
    sha1::Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// tmpKey: MD5 of secret2 with its first 8 bytes OR-ed with the time's little-endian bytes.
fn tmp_key(secret2: &str, time: i64) -> [u8; 16] {
    let mut tmp = secret2.as_bytes().to_vec();
    for (b, t) in tmp.iter_mut().zip(time.to_le_bytes()) {
        *b |= t;
    }
    md5::Md5::digest(&tmp).into()
}

/// The package a client with `access_key` / `secret_key` sends to call `obj` at `time`
/// (seconds since the Unix epoch).
pub fn sign(obj: &str, access_key: &str, secret_key: &str, time: i64) -> BasicAuthPackage {
    let secret1 = sha1_hex(secret_key.as_bytes());
    let secret2 = sha1_hex(secret1.as_bytes());
    let signature = super::tea::encrypt(&tmp_key(&secret2, time), secret1.as_bytes(), || {
        fastrand::u8(..)
    });
    BasicAuthPackage {
        obj_name: obj.into(),
        access_key: access_key.into(),
        time,
        hash_method: "sha1".into(),
        signature: TarsString::from_bytes(signature),
    }
}

/// Checks `pkg` for a server whose objects are `objects` and whose keys `secret_of` looks up
/// (access key → secret key), at `now` (seconds since the Unix epoch).
pub fn verify(
    pkg: &BasicAuthPackage,
    objects: &[&str],
    secret_of: impl Fn(&str) -> Option<String>,
    now: i64,
) -> AuthState {
    if !objects.iter().any(|o| pkg.obj_name == *o) {
        return AuthState::WrongObj;
    }
    let Some(secret_key) = secret_of(&pkg.access_key) else {
        return AuthState::WrongAk;
    };
    if !(pkg.time > now - TIME_RANGE && pkg.time < now + TIME_RANGE) {
        return AuthState::WrongTime;
    }
    let method = if pkg.hash_method.is_empty() {
        "sha1"
    } else {
        &pkg.hash_method
    };
    if method != "sha1" {
        return AuthState::NotSupportEnc;
    }
    let secret2 = sha1_hex(sha1_hex(secret_key.as_bytes()).as_bytes());
    let Some(secret1) = super::tea::decrypt(&tmp_key(&secret2, pkg.time), pkg.signature.as_bytes())
    else {
        return AuthState::DecFail;
    };
    if sha1_hex(&secret1) == secret2 {
        AuthState::Succ
    } else {
        AuthState::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_double_hash_is_the_one_tarscpp_documents() {
        // AuthLogic.cpp: "69c5fceb…" is the twice-applied SHA-1 of 123456.
        assert_eq!(
            sha1_hex(sha1_hex(b"123456").as_bytes()),
            "69c5fcebaa65b560eaf06c3fbeb481ae44b8d618"
        );
    }

    #[test]
    fn a_signed_package_verifies_and_every_wrong_part_is_named() {
        let keys = |ak: &str| (ak == "ak1").then(|| "123456".to_string());
        let now = 1_700_000_000;
        let pkg = sign("App.Server.Obj", "ak1", "123456", now);
        assert_eq!(
            verify(&pkg, &["App.Server.Obj"], keys, now),
            AuthState::Succ
        );
        // The wire form round-trips.
        use crate::codec::TarsStruct;
        let back = BasicAuthPackage::decode_from(&pkg.encode_to_bytes()).expect("decode");
        assert_eq!(
            verify(&back, &["App.Server.Obj"], keys, now + 60),
            AuthState::Succ
        );

        assert_eq!(verify(&pkg, &["Other.Obj"], keys, now), AuthState::WrongObj);
        let wrong_ak = sign("App.Server.Obj", "ak2", "123456", now);
        assert_eq!(
            verify(&wrong_ak, &["App.Server.Obj"], keys, now),
            AuthState::WrongAk
        );
        assert_eq!(
            verify(&pkg, &["App.Server.Obj"], keys, now + 2 * 3600),
            AuthState::WrongTime
        );
        let mut md5 = pkg.clone();
        md5.hash_method = "md5".into();
        assert_eq!(
            verify(&md5, &["App.Server.Obj"], keys, now),
            AuthState::NotSupportEnc
        );
        let wrong_secret = sign("App.Server.Obj", "ak1", "654321", now);
        assert!(matches!(
            verify(&wrong_secret, &["App.Server.Obj"], keys, now),
            AuthState::DecFail | AuthState::Error
        ));
        let mut cut = pkg.clone();
        cut.signature = TarsString::from_bytes(cut.signature.as_bytes()[..8].to_vec());
        assert_eq!(
            verify(&cut, &["App.Server.Obj"], keys, now),
            AuthState::DecFail
        );
    }
}
