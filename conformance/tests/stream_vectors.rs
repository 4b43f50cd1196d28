//! Byte-level conformance with the npm peers (`@tars/stream` 2.0.3, `@tars/rpc` 2.0.15), in
//! both directions:
//!
//! - forward: the committed `vectors/stream.json` was written by the peers; our encoder must
//!   produce the same bytes and our decoder must read them back to the same values;
//! - reverse: everything we encode (the same values plus Rust-only cases and packets) is decoded
//!   by the peers through `node/check-vectors.js`.
//!
//! Cases marked `"exact": false` are documented, deliberate differences (the peer writes 0.0 as
//! ZERO_TAG where TarsCpp and we write full width; tars2node code writes every optional field
//! where tars2cpp and we skip those equal to their default; the peer orders map entries as a JS
//! object does). For those only decoding in both directions is asserted, plus that the bytes do
//! still differ, so that a stale note is noticed.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tars::bytes::{Bytes, BytesMut};
use tars::codec::{TarsString, TarsValue, Writer};
use tars::packet::{PacketCodec, RequestPacket, ResponsePacket, TupRequest};
use tars_conformance::json::Json;
use tars_conformance::model::{HighTags, Mid, Nested, Small, WithOptional};
use tars_conformance::{cases, load_vectors, peer, types, Case};
use tokio_util::codec::{Decoder, Encoder};

fn committed_cases() -> Vec<Case> {
    let doc = load_vectors(None).expect("vectors/stream.json loads");
    cases(&doc).expect("vectors/stream.json has well-formed cases")
}

fn case<'a>(all: &'a [Case], name: &str) -> &'a Case {
    all.iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("vectors/stream.json lacks case {name}"))
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// The vectors cover what the suite promises; regenerating them must not silently drop cases.
#[test]
fn the_vectors_cover_the_required_cases() {
    let all = committed_cases();
    assert!(all.len() >= 200, "only {} cases", all.len());
    let boundaries = [
        "0",
        "1",
        "-1",
        "127",
        "128",
        "-128",
        "-129",
        "32767",
        "32768",
        "-32768",
        "-32769",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    let ranges: [(&str, i128, i128); 4] = [
        ("byte", i8::MIN.into(), i8::MAX.into()),
        ("short", i16::MIN.into(), i16::MAX.into()),
        ("int", i32::MIN.into(), i32::MAX.into()),
        ("long", i64::MIN.into(), i64::MAX.into()),
    ];
    for (ty, min, max) in ranges {
        for b in boundaries {
            let v: i128 = b.parse().expect("number");
            if (min..=max).contains(&v) {
                let c = case(&all, &format!("{ty}_{b}"));
                assert_eq!(c.ty, ty);
                assert_eq!(
                    i128::from(i64::from_json(&c.value).expect("integer")),
                    v,
                    "{}",
                    c.name
                );
            }
        }
    }
    for name in [
        "unsigned_byte_255",
        "unsigned_short_65535",
        "unsigned_int_4294967295",
        "unsigned_int_0",
        "bool_true",
        "bool_false",
        "float_zero",
        "float_neg_zero",
        "float_1_5",
        "float_nan",
        "float_inf",
        "float_neg_inf",
        "float_max",
        "float_min_denormal",
        "double_zero",
        "double_neg_zero",
        "double_nan",
        "double_min_denormal",
        "double_max",
        "string_empty",
        "string_1",
        "string_255",
        "string_256",
        "string_1000",
        "string_utf8",
        "bytes_empty",
        "bytes_small",
        "bytes_300",
        "list_list_int",
        "map_int_list_string",
        "list_map",
        "struct_small",
        "struct_mid",
        "struct_high_tags",
        "struct_nested",
        "struct_with_optional_all_set",
        "struct_with_optional_defaults",
    ] {
        case(&all, name);
    }
    for tag in [0u8, 1, 14, 15, 16, 200, 255] {
        assert!(
            all.iter().filter(|c| c.tag == tag).count() >= 5,
            "tag {tag} is under-covered"
        );
    }
    let mid = case(&all, "struct_mid");
    assert!(
        (380..=480).contains(&mid.bytes.len()),
        "struct_mid is {} bytes, meant to be ~400",
        mid.bytes.len()
    );
    // NaN is the canonical quiet NaN.
    assert_eq!(case(&all, "float_nan").bytes, [0x04, 0x7f, 0xc0, 0, 0]);
    assert_eq!(
        case(&all, "double_nan").bytes,
        [0x05, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]
    );
    // Every structured type of the IDL appears.
    for ty in [
        "struct:Conf.Small",
        "struct:Conf.Mid",
        "struct:Conf.HighTags",
        "struct:Conf.Nested",
        "struct:Conf.WithOptional",
    ] {
        assert!(
            all.iter().filter(|c| c.ty == ty).count() >= 3,
            "{ty}: fewer than 3 cases"
        );
    }
}

#[test]
fn our_encoder_writes_the_peer_bytes() {
    let all = committed_cases();
    let mut failures = Vec::new();
    let (mut exact, mut documented) = (0, 0);
    for c in &all {
        let ours = match types::encode(&c.ty, c.tag, &c.value) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{}: cannot encode: {e}", c.name));
                continue;
            }
        };
        if c.exact {
            exact += 1;
            if ours != c.bytes {
                failures.push(format!(
                    "{} ({} @{}): ours {} != peer {}",
                    c.name,
                    c.ty,
                    c.tag,
                    hex::encode(&ours),
                    hex::encode(&c.bytes)
                ));
            }
        } else {
            // A documented, intended difference (see the case's note): make sure it is real.
            documented += 1;
            if ours == c.bytes {
                failures.push(format!(
                    "{}: marked non-exact but the bytes now agree; update the generator",
                    c.name
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
    assert!(exact >= 200, "only {exact} byte-exact cases");
    // Exactly the documented kinds of difference, nothing else.
    let non_exact: Vec<&str> = all
        .iter()
        .filter(|c| !c.exact)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        non_exact,
        [
            "float_zero",
            "float_neg_zero",
            "double_zero",
            "double_neg_zero",
            "map_int_string_js_order",
            "map_string_int_js_order",
            "struct_with_optional_defaults",
            "struct_with_optional_some_defaults",
        ]
    );
    println!("{exact} byte-exact cases, {documented} documented differences");
}

#[test]
fn our_decoder_reads_the_peer_bytes() {
    let all = committed_cases();
    let mut failures = Vec::new();
    for c in &all {
        let expected = c.expected_decoded();
        let decoded = match types::decode(&c.ty, c.tag, &c.bytes) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!(
                    "{}: cannot decode peer bytes {}: {e}",
                    c.name,
                    hex::encode(&c.bytes)
                ));
                continue;
            }
        };
        let canonical = types::canonical_json(&c.ty, expected).expect("valid value");
        if decoded.json != canonical {
            failures.push(format!(
                "{}: decoded {} but expected {canonical}",
                c.name, decoded.json
            ));
        }
        // The JSON comparison cannot see the sign of zero or NaN payloads: compare our
        // canonical encodings too.
        let want = types::encode(&c.ty, c.tag, expected).expect("encodable");
        if decoded.reencoded != want {
            failures.push(format!(
                "{}: decoded value re-encodes to {}, expected value to {}",
                c.name,
                hex::encode(&decoded.reencoded),
                hex::encode(&want)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The plain `Writer` methods (not only `TarsValue`) write the peer's bytes.
#[test]
fn writer_methods_match_the_peer() {
    let all = committed_cases();
    let mut checked = 0;
    for c in all.iter().filter(|c| c.exact) {
        let (tag, v) = (c.tag, &c.value);
        let mut w = Writer::new();
        match c.ty.as_str() {
            "bool" => w.write_bool(tag, bool::from_json(v).expect("bool")),
            "byte" => w.write_i8(tag, i8::from_json(v).expect("byte")),
            "short" => w.write_i16(tag, i16::from_json(v).expect("short")),
            "int" => w.write_i32(tag, i32::from_json(v).expect("int")),
            "long" => w.write_i64(tag, i64::from_json(v).expect("long")),
            "unsigned byte" => w.write_i16(tag, u8::from_json(v).expect("u8").into()),
            "unsigned short" => w.write_i32(tag, u16::from_json(v).expect("u16").into()),
            "unsigned int" => w.write_i64(tag, u32::from_json(v).expect("u32").into()),
            "float" => w.write_f32(tag, f32::from_json(v).expect("float")),
            "double" => w.write_f64(tag, f64::from_json(v).expect("double")),
            "string" => w.write_string(tag, &String::from_json(v).expect("string")),
            "vector<byte>" => {
                let bytes = Bytes::from_json(v).expect("hex");
                // Vec<i8> is the other Rust spelling of vector<byte>: also a SIMPLE_LIST.
                let signed: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
                let mut w2 = Writer::new();
                signed.write_field(&mut w2, tag);
                assert_eq!(w2.as_slice(), &c.bytes[..], "{} as Vec<i8>", c.name);
                w.write_bytes(tag, &bytes);
            }
            _ => continue,
        }
        assert_eq!(
            hex::encode(w.into_bytes()),
            hex::encode(&c.bytes),
            "{}",
            c.name
        );
        checked += 1;
    }
    assert!(checked >= 120, "only {checked} primitive cases checked");
}

#[test]
fn zero_floats_are_written_full_width_like_tarscpp() {
    assert_eq!(
        types::encode("float", 0, &json!(0)).expect("encodes"),
        [0x04, 0, 0, 0, 0]
    );
    assert_eq!(
        types::encode("float", 0, &json!(-0.0)).expect("encodes"),
        [0x04, 0x80, 0, 0, 0]
    );
    assert_eq!(
        types::encode("double", 0, &json!(0)).expect("encodes"),
        [0x05, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    // ...and the peer's ZERO_TAG form reads as 0.0.
    assert_eq!(
        types::decode("double", 0, &[0x0c]).expect("decodes").json,
        json!(0.0)
    );
    assert_eq!(
        types::decode("float", 0, &[0x0c]).expect("decodes").json,
        json!(0.0)
    );
}

fn int_field(f: &Value, k: &str) -> i64 {
    f[k].as_i64()
        .unwrap_or_else(|| panic!("packet field {k} is not an integer"))
}

fn str_field(f: &Value, k: &str) -> String {
    f[k].as_str()
        .unwrap_or_else(|| panic!("packet field {k} is not a string"))
        .to_owned()
}

fn string_map(v: &Value) -> BTreeMap<TarsString, TarsString> {
    BTreeMap::<TarsString, TarsString>::from_json(v).expect("map of strings")
}

fn request_from(f: &Value) -> RequestPacket {
    RequestPacket {
        version: int_field(f, "version") as i16,
        packet_type: int_field(f, "packet_type") as i8,
        message_type: int_field(f, "message_type") as i32,
        request_id: int_field(f, "request_id") as i32,
        servant_name: str_field(f, "servant_name").into(),
        func_name: str_field(f, "func_name").into(),
        buffer: Bytes::from(hex_of(&f["buffer"])),
        timeout: int_field(f, "timeout") as i32,
        context: string_map(&f["context"]),
        status: string_map(&f["status"]),
    }
}

fn response_from(f: &Value) -> ResponsePacket {
    ResponsePacket {
        version: int_field(f, "version") as i16,
        packet_type: int_field(f, "packet_type") as i8,
        request_id: int_field(f, "request_id") as i32,
        message_type: int_field(f, "message_type") as i32,
        ret: int_field(f, "ret") as i32,
        buffer: Bytes::from(hex_of(&f["buffer"])),
        status: string_map(&f["status"]),
        result_desc: str_field(f, "result_desc").into(),
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
        let name = p["name"].as_str().expect("packet name");
        let bytes = hex_of(&p["hex"]);
        let exact = p.get("exact") != Some(&Value::Bool(false));
        match p["kind"].as_str().expect("packet kind") {
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
                assert_eq!(req.servant_name, str_field(p, "servant_name"));
                assert_eq!(req.func_name, str_field(p, "func_name"));
                assert_eq!(i64::from(req.request_id), int_field(p, "request_id"));
                let attrs = p["attrs"].as_array().expect("attrs");
                assert_eq!(req.attrs.len(), attrs.len(), "{name}: attribute count");
                for a in attrs {
                    let attr = a[0].as_str().expect("attribute name");
                    let ty = a[1].as_str().expect("attribute type");
                    let raw = req
                        .attrs
                        .raw(attr)
                        .unwrap_or_else(|| panic!("{name}: attribute {attr} missing"));
                    let decoded =
                        types::decode(ty, 0, raw).unwrap_or_else(|e| panic!("{name}.{attr}: {e}"));
                    let canonical = types::canonical_json(ty, &a[2]).expect("valid value");
                    assert_eq!(decoded.json, canonical, "{name}.{attr}");
                    // Each attribute value is byte-identical to what we write for it.
                    assert_eq!(
                        types::encode(ty, 0, &a[2]).expect("encodable"),
                        &raw[..],
                        "{name}.{attr} bytes"
                    );
                }
            }
            other => panic!("unknown packet kind {other}"),
        }
    }
}

/// Values chosen on our side, so the reverse direction is not only a replay.
fn rust_only_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |name: &str, ty: &str, tag: u8, value: Value| {
        let bytes = types::encode(ty, tag, &value).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push(Case::new(name, ty, tag, value, bytes));
    };
    let small = |a: i32, b: &str| Small { a, b: b.into() };
    let all_defaults = WithOptional {
        a: 5,
        b: 7,
        c: "x".into(),
        d: vec![],
        e: true,
        f: small(0, ""),
    };
    add(
        "rs_with_optional_skipped_defaults",
        "struct:Conf.WithOptional",
        0,
        all_defaults.to_json(),
    );
    add(
        "rs_with_optional_partly_skipped",
        "struct:Conf.WithOptional",
        200,
        WithOptional {
            a: 0,
            b: 7,
            c: "not x".into(),
            d: vec![],
            e: false,
            f: small(-1, "f"),
        }
        .to_json(),
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
    add(
        "rs_bytes_70000",
        "vector<byte>",
        255,
        json!("a5".repeat(70_000)),
    );
    add("rs_float_zero_full_width", "float", 0, json!(0.0));
    add("rs_double_zero_full_width", "double", 0, json!(0.0));
    add("rs_float_neg_zero_full_width", "float", 14, json!(-0.0));
    add("rs_double_neg_zero_full_width", "double", 15, json!(-0.0));
    add(
        "rs_floats_in_a_list",
        "vector<float>",
        0,
        json!([
            0.0,
            -0.0,
            "NaN",
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            f32::from_bits(1)
        ]),
    );
    add(
        "rs_doubles_in_a_list",
        "vector<double>",
        0,
        json!([
            0.0,
            -0.0,
            "NaN",
            f64::MIN_POSITIVE,
            f64::MAX,
            "-Infinity",
            0.1
        ]),
    );
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
        score: f64::NAN,
        ratio: f32::MIN_POSITIVE,
        name: String::new(),
        description: "d".repeat(300),
        payload: Bytes::from(vec![0xffu8; 1000]),
        attrs: BTreeMap::from([
            (String::new(), "empty key".to_string()),
            ("10".into(), "ten".into()),
            ("9".into(), "nine".into()),
        ]),
        ids: vec![i32::MIN, 0, i32::MAX],
        inner: small(1, "🦀"),
    };
    add("rs_mid_unusual", "struct:Conf.Mid", 15, mid.to_json());
    add(
        "rs_nested_many",
        "struct:Conf.Nested",
        0,
        Nested {
            items: (0..100)
                .map(|i| small(i * 1001, &"i".repeat(i as usize)))
                .collect(),
            by_name: (0..20)
                .map(|i| (format!("k{i:02}"), small(-i, "v")))
                .collect(),
            rows: vec![BTreeMap::from([
                (-7, "neg".into()),
                (0, String::new()),
                (7, "pos".into()),
            ])],
            grid: vec![vec![String::new(); 3]; 3],
        }
        .to_json(),
    );
    add(
        "rs_nested_empty_lists",
        "vector<vector<int>>",
        0,
        json!([[], [], []]),
    );
    add(
        "rs_unsigned_byte_list",
        "vector<unsigned byte>",
        0,
        json!([0, 255, 128]),
    );
    add(
        "rs_map_negative_int_keys",
        "map<int,string>",
        1,
        json!([[-100000, "a"], [-1, "b"], [0, "c"], [3, "d"]]),
    );
    add(
        "rs_map_long_keys",
        "map<long,double>",
        0,
        json!([
            ["-9223372036854775808", 1.5],
            ["-1", "NaN"],
            ["9223372036854775807", -0.0]
        ]),
    );
    add(
        "rs_map_of_structs_high_tags",
        "map<int,struct:Conf.HighTags>",
        16,
        json!([[-2, {"a": 0, "b": 0, "c": 0, "d": "", "e": "0"}],
               [2, {"a": 1, "b": 2, "c": 3, "d": "x", "e": "9223372036854775807"}]]),
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
        "servant_name": *req.servant_name, "func_name": *req.func_name, "buffer": hex::encode(&req.buffer), "timeout": req.timeout,
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

/// Writes a vectors document to a temp file and runs `node/check-vectors.js` on it.
fn run_peer_check(label: &str, cases: &[Case], packets: Vec<Value>) -> peer::PeerRun {
    let doc = json!({
        "generator": "tars-rs conformance tests",
        "cases": cases.iter().map(Case::to_json).collect::<Vec<_>>(),
        "packets": packets,
    });
    let file = std::env::temp_dir().join(format!("tars-rs-{label}-{}.json", std::process::id()));
    let text = serde_json::to_string(&doc).expect("serialisable");
    std::fs::write(&file, text).expect("write the temp vectors file");
    let run = peer::run("check-vectors.js", &[file.as_path()]).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&file);
    run
}

#[test]
fn the_peer_decodes_what_we_encode() {
    let mut reverse: Vec<Case> = committed_cases()
        .into_iter()
        .map(|c| {
            // Our bytes for the value; the peer must decode them to exactly `value` (for -0.0
            // too, since we write it full width).
            let bytes = types::encode(&c.ty, c.tag, &c.value).expect("encodable");
            Case::new(&c.name, &c.ty, c.tag, c.value, bytes)
        })
        .collect();
    let n_replayed = reverse.len();
    reverse.extend(rust_only_cases());
    let packets = our_packets();
    let total = reverse.len() + packets.len();
    let run = run_peer_check("reverse", &reverse, packets);
    println!("{}", run.output);
    assert!(
        run.success,
        "@tars/stream rejected our bytes:\n{}",
        run.output
    );
    assert!(
        run.output
            .lines()
            .any(|l| l == format!("{total} passed, 0 failed")),
        "not every case was checked ({n_replayed} replayed, {} Rust-only, plus packets):\n{}",
        total - n_replayed,
        run.output
    );
}

/// The peer-side checker is not vacuous: wrong values, wrong types, truncated or trailing
/// bytes, and lost signs of zero are all reported as failures.
#[test]
fn the_peer_check_rejects_wrong_bytes() {
    let enc = |ty: &str, tag: u8, v: Value| types::encode(ty, tag, &v).expect("encodable");
    let mut trailing = enc("int", 0, json!(5));
    trailing.push(0x0c);
    let mut truncated = enc("string", 1, json!("hello"));
    truncated.pop();
    let bad = vec![
        Case::new("good", "int", 0, json!(5), enc("int", 0, json!(5))),
        Case::new("wrong_value", "int", 0, json!(5), enc("int", 0, json!(6))),
        Case::new("wrong_tag", "int", 1, json!(5), enc("int", 2, json!(5))),
        Case::new(
            "wrong_type",
            "int",
            0,
            json!(5),
            enc("string", 0, json!("5")),
        ),
        Case::new("trailing", "int", 0, json!(5), trailing),
        Case::new("truncated", "string", 1, json!("hello"), truncated),
        Case::new("lost_sign", "double", 0, json!(-0.0), vec![0x0c]),
        Case::new(
            "map_entry_differs",
            "map<string,int>",
            0,
            json!([["a", 1], ["b", 2]]),
            enc("map<string,int>", 0, json!([["a", 1], ["b", 3]])),
        ),
        Case::new(
            "struct_field_differs",
            "struct:Conf.Small",
            0,
            json!({"a": 1, "b": "x"}),
            enc("struct:Conf.Small", 0, json!({"a": 1, "b": "y"})),
        ),
    ];
    let run = run_peer_check("negative", &bad, vec![]);
    println!("{}", run.output);
    assert!(!run.success, "the checker accepted wrong bytes");
    assert!(
        run.output.lines().any(|l| l == "1 passed, 8 failed"),
        "{}",
        run.output
    );
    for name in &bad[1..] {
        assert!(
            run.output
                .lines()
                .any(|l| l.starts_with(&format!("FAIL case {} ", name.name))),
            "{} not reported:\n{}",
            name.name,
            run.output
        );
    }
}
