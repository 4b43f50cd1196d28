//! A tour of the Tars codec: derive a struct, encode it, inspect the bytes, decode it back,
//! frame it as a request and wrap named parameters in TUP.
//!
//! Run with `cargo run -p tars --example codec_tour`.

use std::collections::BTreeMap;

use tars_codec::bytes::{Bytes, BytesMut};
use tars_codec::packet::{PacketCodec, RequestPacket, TupRequest};
use tars_codec::{TarsEnum, TarsStruct};

#[derive(Debug, Clone, Copy, PartialEq, TarsEnum)]
#[tars(name = "Demo.Level")]
enum Level {
    Bronze = 1,
    Gold = 3,
}

#[derive(Debug, Clone, PartialEq, TarsStruct)]
#[tars(class = "Demo.User")]
struct User {
    #[tars(tag = 0, require)]
    id: i64,
    #[tars(tag = 1, require)]
    name: String,
    #[tars(tag = 2, default = Level::Bronze)]
    level: Level,
    #[tars(tag = 3)]
    tags: BTreeMap<String, String>,
    #[tars(tag = 4)]
    avatar: Bytes,
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let user = User {
        id: 10_000_000_000,
        name: "ada".into(),
        level: Level::Gold,
        tags: BTreeMap::from([("team".into(), "core".into())]),
        avatar: Bytes::from_static(&[0xCA, 0xFE]),
    };
    let body = user.encode_to_bytes();
    println!("User encodes to {} bytes: {}", body.len(), hex(&body));
    let back = User::decode_from(&body)?;
    assert_eq!(back, user);
    println!("decoded back: {back:?}");

    // A request frame carrying the struct as parameter 1.
    let mut params = tars_codec::Writer::new();
    tars_codec::TarsValue::write_field(&user, &mut params, 1);
    let req = RequestPacket::new(
        1,
        "Demo.UserServer.UserObj",
        "save",
        params.into_bytes(),
        3000,
    );
    let mut codec = PacketCodec::<RequestPacket, RequestPacket>::new();
    let mut wire = BytesMut::new();
    codec.encode_packet(&req, &mut wire)?;
    println!(
        "request frame: {} bytes, prefix {}",
        wire.len(),
        hex(&wire[..4])
    );
    let decoded = codec.decode_packet(&mut wire)?.ok_or("incomplete frame")?;
    assert_eq!(decoded, req);

    // The same call as TUP: parameters by name.
    let mut tup = TupRequest::new(2, "Demo.UserServer.UserObj", "save");
    tup.attrs.put("user", &user);
    let packet = tup.to_packet();
    let parsed = TupRequest::from_packet(&packet)?;
    println!(
        "TUP attribute names: {:?}",
        parsed.attrs.names().collect::<Vec<_>>()
    );
    assert_eq!(parsed.attrs.get::<User>("user")?, user);
    println!("ok");
    Ok(())
}
