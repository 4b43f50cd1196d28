//! Our generated framework types against the ones Node clients really use: EndpointF lists
//! (what QueryF answers carry) through @tars/registry's generated EndpointFTars.js, which is an
//! older schema without tags 13 (authType) and 14 (nodeName).

use std::process::Command;

use serde_json::{json, Value};
use tars::codec::{Reader, TarsValue, Writer};
use tars_conformance::{crate_dir, peer};
use tars_protocols::tars::EndpointF;

fn node(args: &[&str]) -> String {
    peer::ensure_peers().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("node")
        .current_dir(crate_dir().join("node"))
        .arg("endpoints.js")
        .args(args)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn endpoints() -> Vec<EndpointF> {
    vec![
        EndpointF {
            host: "127.0.0.1".into(),
            port: 18601,
            timeout: 60000,
            istcp: 1,
            grid: 0,
            groupworkid: 3,
            grouprealid: 4,
            set_id: "app.sz.1".into(),
            qos: 1,
            bak_flag: 0,
            weight: 100,
            weight_type: 1,
            auth_type: 2,
            node_name: "node-a".into(),
        },
        EndpointF {
            host: "10.0.0.2".into(),
            port: 7,
            timeout: 3000,
            istcp: 0,
            ..Default::default()
        },
    ]
}

fn as_json(e: &EndpointF) -> Value {
    json!({"host": *e.host, "port": e.port, "timeout": e.timeout, "istcp": e.istcp, "grid": e.grid,
           "groupworkid": e.groupworkid, "grouprealid": e.grouprealid, "setId": *e.set_id, "qos": e.qos,
           "bakFlag": e.bak_flag, "weight": e.weight, "weightType": e.weight_type})
}

#[test]
fn node_clients_read_our_endpoint_lists() {
    let mut w = Writer::new();
    endpoints().write_field(&mut w, 0);
    let decoded: Value =
        serde_json::from_str(&node(&["decode", &hex::encode(w.as_slice())])).unwrap();
    let expected: Vec<Value> = endpoints().iter().map(as_json).collect();
    assert_eq!(
        decoded,
        Value::Array(expected),
        "fields 13/14 unknown to the peer are skipped by it"
    );
}

#[test]
fn we_read_endpoint_lists_written_by_node_clients() {
    let input: Vec<Value> = endpoints().iter().map(as_json).collect();
    let bytes = hex::decode(node(&["encode", &Value::Array(input).to_string()])).unwrap();
    let got: Vec<EndpointF> = Reader::new(&bytes).read_required(0, "endpoints").unwrap();
    let mut expected = endpoints();
    for e in &mut expected {
        // The peer's schema has no authType / nodeName: they take their defaults.
        e.auth_type = 0;
        e.node_name = Default::default();
    }
    assert_eq!(got, expected);
}
