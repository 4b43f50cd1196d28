//! Byte-level conformance with the npm peers, in both directions.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tars::bytes::{Bytes, BytesMut};
use tars::packet::{PacketCodec, RequestPacket, ResponsePacket, TupRequest};
use tars_conformance::json::Json;
use tars_conformance::model::{HighTags, Mid, Small, WithOptional};
use tars_conformance::{load_vectors, peer, types};
use tokio_util::codec::{Decoder, Encoder};

fn cases(doc: &Value) -> &Vec<Value> {
    doc["cases"].as_array().expect("vectors have a cases array")
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

#[test]
fn our_encoder_writes_the_peer_bytes_and_our_decoder_reads_them() {
    let doc = load_vectors(None).expect("vectors load");
    let mut failures = Vec::new();
    let (mut exact, mut documented) = (0, 0);
    for c in cases(&doc) {
        let name = c["name"].as_str().unwrap_or("?");
        let ty = c["type"].as_str().expect("type");
        let tag = c["tag"].as_u64().expect("tag") as u8;
        let peer_bytes = hex_of(&c["hex"]);
        let ours = match types::encode(ty, tag, &c["value"]) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{name}: cannot encode: {e}"));
                continue;
            }
        };
        match types::decode(ty, tag, &peer_bytes) {
            Ok(d) if d.reencoded == ours => {}
            Ok(d) => failures.push(format!(
                "{name}: decoded {} but expected {}",
                d.json, c["value"]
            )),
            Err(e) => failures.push(format!(
                "{name}: cannot decode peer bytes {}: {e}",
                hex::encode(&peer_bytes)
            )),
        }
        if c.get("exact") == Some(&Value::Bool(false)) {
            // A documented, intended difference: make sure it is still real.
            documented += 1;
            if ours == peer_bytes {
                failures.push(format!(
                    "{name}: marked non-exact but bytes now agree; update the note"
                ));
            }
        } else {
            exact += 1;
            if ours != peer_bytes {
                failures.push(format!(
                    "{name}: ours {} != peer {}",
                    hex::encode(&ours),
                    hex::encode(&peer_bytes)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        exact >= 130,
        "expected the full vector set, got {exact} exact cases"
    );
    println!("{exact} byte-exact cases, {documented} documented differences");
}

#[test]
fn zero_floats_are_written_full_width_like_tarscpp() {
    assert_eq!(
        types::encode("float", 0, &json!(0)).unwrap(),
        [0x04, 0, 0, 0, 0]
    );
    assert_eq!(
        types::encode("double", 0, &json!(0)).unwrap(),
        [0x05, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    // ...and the peer's ZERO_TAG form reads as 0.0.
    assert_eq!(
        types::decode("double", 0, &[0x0c]).unwrap().json,
        json!(0.0)
    );
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    BTreeMap::<String, String>::from_json(v).expect("map of strings")
}

fn request_from(f: &Value) -> RequestPacket {
    RequestPacket {
        version: f["version"].as_i64().unwrap() as i16,
        packet_type: f["packet_type"].as_i64().unwrap() as i8,
        message_type: f["message_type"].as_i64().unwrap() as i32,
        request_id: f["request_id"].as_i64().unwrap() as i32,
        servant_name: f["servant_name"].as_str().unwrap().into(),
        func_name: f["func_name"].as_str().unwrap().into(),
        buffer: Bytes::from(hex_of(&f["buffer"])),
        timeout: f["timeout"].as_i64().unwrap() as i32,
        context: string_map(&f["context"]),
        status: string_map(&f["status"]),
    }
}

fn response_from(f: &Value) -> ResponsePacket {
    ResponsePacket {
        version: f["version"].as_i64().unwrap() as i16,
        packet_type: f["packet_type"].as_i64().unwrap() as i8,
        request_id: f["request_id"].as_i64().unwrap() as i32,
        message_type: f["message_type"].as_i64().unwrap() as i32,
        ret: f["ret"].as_i64().unwrap() as i32,
        buffer: Bytes::from(hex_of(&f["buffer"])),
        status: string_map(&f["status"]),
        result_desc: f["result_desc"].as_str().unwrap().into(),
        context: string_map(&f["context"]),
    }
}

fn frame<P: tars::codec::TarsStruct>(p: &P) -> Vec<u8> {
    let mut codec = PacketCodec::<P, P>::new();
    let mut buf = BytesMut::new();
    codec.encode(p, &mut buf).expect("encode frame");
    buf.to_vec()
}

fn unframe<P: tars::codec::TarsStruct>(bytes: &[u8]) -> P {
    let mut codec = PacketCodec::<P, P>::new();
    let mut buf = BytesMut::from(bytes);
    let p = codec
        .decode(&mut buf)
        .expect("valid frame")
        .expect("complete frame");
    assert!(buf.is_empty(), "exactly one frame");
    p
}

#[test]
fn peer_packets_decode_and_ours_match_them() {
    let doc = load_vectors(None).expect("vectors load");
    let packets = doc["packets"].as_array().expect("packets");
    assert!(packets.len() >= 5);
    for p in packets {
        let name = p["name"].as_str().unwrap();
        let bytes = hex_of(&p["hex"]);
        let exact = p.get("exact") != Some(&Value::Bool(false));
        match p["kind"].as_str().unwrap() {
            "request" => {
                let expected = request_from(&p["fields"]);
                assert_eq!(unframe::<RequestPacket>(&bytes), expected, "{name}");
                assert_eq!(frame(&expected) == bytes, exact, "{name}: byte equality");
            }
            "response" => {
                let expected = response_from(&p["fields"]);
                assert_eq!(unframe::<ResponsePacket>(&bytes), expected, "{name}");
                assert_eq!(frame(&expected) == bytes, exact, "{name}: byte equality");
            }
            "tup" => {
                let req = TupRequest::from_packet(&unframe::<RequestPacket>(&bytes))
                    .expect("TUP v3 request");
                assert_eq!(req.servant_name, p["servant_name"].as_str().unwrap());
                assert_eq!(req.func_name, p["func_name"].as_str().unwrap());
                assert_eq!(req.request_id as i64, p["request_id"].as_i64().unwrap());
                let attrs = p["attrs"].as_array().unwrap();
                assert_eq!(req.attrs.len(), attrs.len(), "{name}: attribute count");
                for a in attrs {
                    let (attr, ty, value) = (a[0].as_str().unwrap(), a[1].as_str().unwrap(), &a[2]);
                    let raw = req
                        .attrs
                        .raw(attr)
                        .unwrap_or_else(|| panic!("{name}: attribute {attr} missing"));
                    let decoded =
                        types::decode(ty, 0, raw).unwrap_or_else(|e| panic!("{name}.{attr}: {e}"));
                    assert_eq!(
                        decoded.reencoded,
                        types::encode(ty, 0, value).unwrap(),
                        "{name}.{attr}"
                    );
                    // Each attribute value is byte-identical to the peer's.
                    assert_eq!(&decoded.reencoded[..], &raw[..], "{name}.{attr} bytes");
                }
            }
            other => panic!("unknown packet kind {other}"),
        }
    }
}

/// Extra values chosen on our side, so the reverse direction is not only a replay.
fn rust_only_cases() -> Vec<Value> {
    let mut out = Vec::new();
    let mut add = |name: &str, ty: &str, tag: u8, value: Value| {
        let hex = hex::encode(types::encode(ty, tag, &value).expect("encodable"));
        out.push(json!({"name": name, "type": ty, "tag": tag, "value": value, "hex": hex}));
    };
    let skipped = WithOptional {
        a: 5,
        b: 7,
        c: "x".into(),
        d: vec![],
        e: true,
        f: Small {
            a: 0,
            b: String::new(),
        },
    };
    add(
        "rs_with_optional_skipped_defaults",
        "struct:Conf.WithOptional",
        0,
        skipped.to_json(),
    );
    add(
        "rs_long_min_max",
        "vector<long>",
        3,
        json!([i64::MIN.to_string(), i64::MAX.to_string(), "0"]),
    );
    add(
        "rs_unsigned_int_max",
        "unsigned int",
        1,
        json!(u32::MAX.to_string()),
    );
    add("rs_string_70000", "string", 2, json!("z".repeat(70_000)));
    add("rs_float_zero_full_width", "float", 0, json!(0.0));
    add("rs_double_zero_full_width", "double", 0, json!(0.0));
    add(
        "rs_high_tags_extremes",
        "struct:Conf.HighTags",
        9,
        HighTags {
            a: i32::MIN,
            b: -1,
            c: 0,
            d: "é".repeat(200),
            e: i64::MIN,
        }
        .to_json(),
    );
    let mid = Mid {
        id: -42,
        count: i32::MAX,
        level: i16::MIN,
        flag: false,
        score: -1e-300,
        ratio: f32::MIN_POSITIVE,
        name: String::new(),
        description: "d".repeat(300),
        payload: Bytes::from(vec![0xffu8; 1000]),
        attrs: BTreeMap::from([("".to_string(), "empty key".to_string())]),
        ids: vec![],
        inner: Small {
            a: 1,
            b: "🦀".into(),
        },
    };
    add("rs_mid_unusual", "struct:Conf.Mid", 15, mid.to_json());
    add(
        "rs_nested_empty_everything",
        "vector<vector<int>>",
        0,
        json!([[], [], []]),
    );
    add(
        "rs_map_unsigned_byte_list",
        "vector<unsigned byte>",
        0,
        json!([0, 255, 128]),
    );
    out
}

fn our_packets() -> Vec<Value> {
    let mut out = Vec::new();
    let mut req = RequestPacket::new(
        123,
        "Rs.Server.Obj",
        "call",
        Bytes::from_static(b"\x0c\x16\x01a"),
        2500,
    );
    req.context.insert("xid".into(), "frag-1:99".into());
    req.status.insert("STATUS_GRID_KEY".into(), "g".into());
    out.push(json!({"name": "rs_request", "kind": "request", "hex": hex::encode(frame(&req)), "fields": {
        "version": req.version, "packet_type": req.packet_type, "message_type": req.message_type, "request_id": req.request_id,
        "servant_name": req.servant_name, "func_name": req.func_name, "buffer": hex::encode(&req.buffer), "timeout": req.timeout,
        "context": req.context.to_json(), "status": req.status.to_json()}}));
    let mut resp = ResponsePacket::error(&req, tars::packet::RetCode::Overload, "busy");
    resp.context.insert("k".into(), "v".into());
    out.push(json!({"name": "rs_response", "kind": "response", "hex": hex::encode(frame(&resp)), "fields": {
        "version": resp.version, "packet_type": resp.packet_type, "message_type": resp.message_type, "request_id": resp.request_id,
        "ret": resp.ret, "buffer": "", "status": [], "result_desc": "busy", "context": resp.context.to_json()}}));
    // A response with empty optionals, which we leave out: the peer must still read it.
    let ok = ResponsePacket::ok(&req, Bytes::from_static(b"\x0c"));
    out.push(json!({"name": "rs_response_skipped_optionals", "kind": "response", "hex": hex::encode(frame(&ok)), "fields": {
        "version": 1, "packet_type": 0, "message_type": 0, "request_id": 123, "ret": 0, "buffer": "0c", "status": [],
        "result_desc": "", "context": []}}));
    let mut tup = TupRequest::new(77, "Rs.Server.Obj", "tupcall");
    tup.attrs.put("s", &"hello".to_string());
    tup.attrs.put("n", &-7i32);
    tup.attrs.put("big", &i64::MAX);
    tup.attrs.put(
        "small",
        &Small {
            a: 3,
            b: "three".into(),
        },
    );
    tup.attrs.put("list", &vec![5i32, 6]);
    tup.attrs.put("flag", &true);
    out.push(json!({"name": "rs_tup", "kind": "tup", "servant_name": "Rs.Server.Obj", "func_name": "tupcall", "request_id": 77,
        "hex": hex::encode(frame(&tup.to_packet())),
        "attrs": [["s", "string", "hello"], ["n", "int", -7], ["big", "long", i64::MAX.to_string()],
                  ["small", "struct:Conf.Small", {"a": 3, "b": "three"}], ["list", "vector<int>", [5, 6]], ["flag", "bool", true]]}));
    out
}

#[test]
fn the_peer_decodes_what_we_encode() {
    let doc = load_vectors(None).expect("vectors load");
    let mut reverse = Vec::new();
    for c in cases(&doc) {
        let ty = c["type"].as_str().unwrap();
        let tag = c["tag"].as_u64().unwrap() as u8;
        let ours = types::encode(ty, tag, &c["value"]).expect("encodable");
        let mut c = c.clone();
        c["hex"] = json!(hex::encode(ours));
        reverse.push(c);
    }
    let extra = rust_only_cases();
    let n_extra = extra.len();
    reverse.extend(extra);
    let file = std::env::temp_dir().join(format!("tars-rs-reverse-{}.json", std::process::id()));
    let packets = our_packets();
    let total = reverse.len() + packets.len();
    std::fs::write(
        &file,
        serde_json::to_string(
            &json!({"generator": "tars-rs", "cases": reverse, "packets": packets}),
        )
        .unwrap(),
    )
    .expect("write reverse vectors");
    let run = peer::run("check-vectors.js", &[file.as_path()]).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&file);
    println!("{}", run.output);
    assert!(
        run.success,
        "@tars/stream rejected our bytes:\n{}",
        run.output
    );
    assert!(
        run.output.contains(&format!("{total} passed, 0 failed")),
        "every case was checked ({n_extra} Rust-only)"
    );
}
