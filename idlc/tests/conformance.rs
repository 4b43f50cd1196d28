//! Every `.tars` file of the external conformance corpus loads and checks, and the resolved
//! model says what the files say. Without the corpus (see `common::corpus_dir`) these tests say
//! `skipped: ...` and pass, unless `TARS_IDL_CORPUS_REQUIRED=1`.

mod common;

use std::path::PathBuf;

use common::{corpus_dir, include_dirs, tars_files};
use tars_idlc::{load, Program, QualifiedName, Type, Value};

fn load_one(root: &std::path::Path, rel: &str) -> Program {
    load(root.join(rel), &include_dirs(root)).unwrap_or_else(|e| panic!("{rel} failed:\n{e}"))
}

fn qn(m: &str, n: &str) -> QualifiedName {
    QualifiedName::new(m, n)
}

#[test]
fn every_corpus_file_loads_and_checks() {
    let Some(root) = corpus_dir() else { return };
    let mut files = Vec::new();
    tars_files(&root, &mut files);
    assert!(
        files.len() >= 33,
        "expected at least 33 .tars files under {}, found {}",
        root.display(),
        files.len()
    );
    let dirs = include_dirs(&root);
    let mut failures = Vec::new();
    for f in &files {
        match load(f, &dirs) {
            Ok(p) => {
                assert!(p
                    .files_read
                    .iter()
                    .any(|r| r.ends_with(f.file_name().unwrap())));
                assert!(!p.modules.is_empty(), "{} has no module", f.display());
            }
            Err(e) => failures.push(format!("{}:\n{e}", f.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn all_top_level_protocol_files_load_together() {
    // One session, every file of the TarsProtocol part as a root: shared includes are read once
    // and the reopened `tars` module merges without duplicate definitions.
    let Some(root) = corpus_dir() else { return };
    let mut session = tars_idlc::Session::new();
    session.include_dir(&root);
    let mut roots: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tars"))
        .collect();
    roots.sort();
    for r in &roots {
        session.load(r);
    }
    let program = session.check().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(program.files.len(), roots.len());
    assert_eq!(
        program.files_read.len(),
        roots.len(),
        "each file is read once"
    );
    assert!(program.files.iter().all(|f| f.is_root));
    let tars = program.module("tars").expect("module tars");
    assert!(tars.structs.iter().any(|s| s.name == "EndpointF"));
    assert!(tars.interfaces.iter().any(|i| i.name == "QueryF"));
}

#[test]
fn endpoint_f_fields_tags_and_key() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "EndpointF.tars");
    let e = p
        .find_struct(&qn("tars", "EndpointF"))
        .expect("tars::EndpointF");
    let layout: Vec<(u8, &str, bool, &Type)> = e
        .fields
        .iter()
        .map(|f| (f.tag, f.name.as_str(), f.require, &f.ty))
        .collect();
    assert_eq!(
        layout,
        vec![
            (0, "host", true, &Type::String),
            (1, "port", true, &Type::Int),
            (2, "timeout", true, &Type::Int),
            (3, "istcp", true, &Type::Int),
            (4, "grid", true, &Type::Int),
            (5, "groupworkid", false, &Type::Int),
            (6, "grouprealid", false, &Type::Int),
            (7, "setId", false, &Type::String),
            (8, "qos", false, &Type::Int),
            (9, "bakFlag", false, &Type::Int),
            (11, "weight", false, &Type::Int),
            (12, "weightType", false, &Type::Int),
            (13, "authType", false, &Type::Int),
            (14, "nodeName", false, &Type::String),
        ]
    );
    assert_eq!(
        e.key,
        [
            "host",
            "port",
            "timeout",
            "istcp",
            "grid",
            "qos",
            "weight",
            "weightType",
            "authType"
        ]
    );
    assert_eq!(e.doc.as_deref(), Some("端口信息"));
    assert!(e.fields.iter().all(|f| f.default.is_none()));
    let item = p.find_struct(&qn("tars", "ObjectItem")).unwrap();
    assert_eq!(
        item.fields[0].ty,
        Type::Vector(Box::new(Type::Struct(qn("tars", "EndpointF"))))
    );
    assert_eq!(item.fields[1].name, "vInactiveEndpoints");
}

#[test]
fn query_f_operations_and_out_params() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "QueryF.tars");
    assert_eq!(p.files.len(), 2);
    // Files are listed in reading order (by FileId): the root, then what it includes.
    assert!(p.files[0].path.ends_with("QueryF.tars") && p.files[0].is_root);
    assert!(p.files[1].path.ends_with("EndpointF.tars") && !p.files[1].is_root);
    assert_eq!(p.files[0].includes, vec![p.files[1].id]);
    // Declarations are in load order: included files first.
    let tars = p.module("tars").unwrap();
    assert_eq!(
        tars.structs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["EndpointF", "ObjectItem", "GetMasterSlaveLock"]
    );
    assert_eq!(tars.structs[0].span.file, p.files[1].id);
    assert!(!p.in_root(tars.structs[0].span) && p.in_root(tars.structs[2].span));

    let q = p
        .find_interface(&qn("tars", "QueryF"))
        .expect("tars::QueryF");
    let names: Vec<&str> = q.operations.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "findObjectById",
            "findObjectById4Any",
            "findObjectById4All",
            "findObjectByIdInSameGroup",
            "findObjectByIdInSameStation",
            "findObjectByIdInSameSet",
            "findObjectNodeName",
            "registerChange",
            "registerQuery",
            "getLocker",
        ]
    );
    let endpoints = Type::Vector(Box::new(Type::Struct(qn("tars", "EndpointF"))));
    let by_id = q.operation("findObjectById").unwrap();
    assert_eq!(by_id.ret, Some(endpoints.clone()));
    assert_eq!(by_id.params.len(), 1);
    assert!(!by_id.params[0].is_out);

    let same_set = q.operation("findObjectByIdInSameSet").unwrap();
    assert_eq!(same_set.ret, Some(Type::Int));
    let params: Vec<(&str, bool, &Type)> = same_set
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.is_out, &p.ty))
        .collect();
    assert_eq!(
        params,
        vec![
            ("id", false, &Type::String),
            ("setId", false, &Type::String),
            ("activeEp", true, &endpoints),
            ("inactiveEp", true, &endpoints),
        ]
    );
    let change = q.operation("registerChange").unwrap();
    assert_eq!(
        change.params[0].ty,
        Type::Map(Box::new(Type::String), Box::new(Type::String))
    );
    let locker = q.operation("getLocker").unwrap();
    assert_eq!(
        locker.params[0].ty,
        Type::Struct(qn("tars", "GetMasterSlaveLock"))
    );
    // Trailing comment becomes the field's doc.
    let lock = p.find_struct(&qn("tars", "GetMasterSlaveLock")).unwrap();
    assert_eq!(
        lock.field("timeout").unwrap().doc.as_deref(),
        Some("超时毫秒")
    );
}

#[test]
fn enum_values_explicit_negative_and_implicit() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "AuthF.tars");
    let state = p.find_enum(&qn("tars", "AUTH_STATE")).unwrap();
    let values: Vec<(&str, i32)> = state
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.value))
        .collect();
    assert_eq!(
        values,
        [
            ("AUTH_INIT", -127),
            ("AUTH_SUCC", 0),
            ("AUTH_PROTO_ERR", -100),
            ("AUTH_WRONG_OBJ", -101),
            ("AUTH_WRONG_AK", -102),
            ("AUTH_WRONG_TIME", -103),
            ("AUTH_NOT_SUPPORT_ENC", -104),
            ("AUTH_DEC_FAIL", -105),
            ("AUTH_ERROR", -106),
        ]
    );
    let pkg = p.find_struct(&qn("tars", "BasicAuthPackage")).unwrap();
    assert_eq!(
        pkg.field("sHashMethod").unwrap().default,
        Some(Value::String("sha1".into()))
    );

    // Implicit values count up from 0 (DCache `Op`, trailing comments after the commas).
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "extra/DCache/src/TarsComm/ProxyShare.tars");
    let op = p.find_enum(&qn("DCache", "Op")).unwrap();
    let values: Vec<i32> = op.members.iter().map(|m| m.value).collect();
    assert_eq!(values, (0..14).collect::<Vec<_>>());
    assert_eq!(op.member("SUB_INSERT").unwrap().value, 13);
}

#[test]
fn consts_are_typed() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "BaseF.tars");
    let tars = p.module("tars").unwrap();
    let get = |n: &str| {
        tars.consts
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("const {n}"))
    };
    assert_eq!(get("TARSVERSION").ty, Type::Short);
    assert_eq!(get("TARSVERSION").value, Value::Int(1));
    assert_eq!(get("TARSMESSAGETYPETRACE").value, Value::Int(0x100));
    assert_eq!(get("TARSSERVERUNKNOWNERR").value, Value::Int(-99));
    assert_eq!(get("TARSONEWAY").ty, Type::Byte);
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "RequestF.tars");
    let rp = p.find_struct(&qn("tars", "RequestPacket")).unwrap();
    assert_eq!(
        rp.fields.iter().map(|f| f.tag).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<u8>>()
    );
    assert_eq!(
        rp.field("sBuffer").unwrap().ty,
        Type::Vector(Box::new(Type::Byte))
    );
    assert!(rp.field("sBuffer").unwrap().ty.is_byte_vector());
    assert_eq!(
        rp.field("cPacketType").unwrap().default,
        Some(Value::Int(0))
    );

    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "extra/DCache/src/TarsComm/ProxyShare.tars");
    let dcache = p.module("DCache").unwrap();
    let dver = dcache.consts.iter().find(|c| c.name == "DVER").unwrap();
    assert_eq!(
        (dver.ty.clone(), dver.value.clone()),
        (Type::String, Value::String("@DataVer".into()))
    );
}

#[test]
fn crlf_file_with_unsigned_types_routekey_and_key() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "extra/TarsCpp/unit-test/server/Hello.tars");
    let data = p.find_struct(&qn("Test", "JsonData")).unwrap();
    assert_eq!(data.field("uc").unwrap().ty, Type::UnsignedByte);
    assert_eq!(data.field("us").unwrap().ty, Type::UnsignedShort);
    assert_eq!(data.field("ui").unwrap().ty, Type::UnsignedInt);
    assert_eq!(
        data.field("k").unwrap().ty,
        Type::Enum(qn("Test", "EN_KEY"))
    );
    assert_eq!(
        data.field("data").unwrap().ty,
        Type::Map(
            Box::new(Type::Enum(qn("Test", "EN_KEY"))),
            Box::new(Type::String)
        )
    );
    let en = p.find_enum(&qn("Test", "EN_KEY")).unwrap();
    assert_eq!(
        en.members
            .iter()
            .map(|m| (m.name.as_str(), m.value))
            .collect::<Vec<_>>(),
        [("KEY1", 1), ("KEY2", 2)]
    );
    assert_eq!(p.find_struct(&qn("Test", "JsonKey")).unwrap().key, ["i"]);
    let map = p.find_struct(&qn("Test", "JsonMap")).unwrap();
    assert_eq!(
        map.fields[0].ty,
        Type::Map(
            Box::new(Type::Struct(qn("Test", "JsonKey"))),
            Box::new(Type::Struct(qn("Test", "JsonData")))
        )
    );
    let hello = p.find_interface(&qn("Test", "Hello")).unwrap();
    let dyeing = hello.operation("testDyeing").unwrap();
    assert!(dyeing.params[0].is_routekey && !dyeing.params[0].is_out);
    assert!(dyeing.params[1].is_out && !dyeing.params[1].is_routekey);
    assert_eq!(hello.operation("testCoro").unwrap().ret, Some(Type::Bool));
    // Spans count lines of a CRLF file correctly.
    assert_eq!((data.span.line, data.span.col), (15, 12));
}

#[test]
fn scoped_types_across_modules_and_include_dirs() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "extra/TarsGo/examples/Tars2Go/demo.tars");
    assert!(p.files_read.iter().any(|f| f.ends_with("base/demo1.tars")));
    let v1 = p.module("DemoV1").unwrap();
    assert_eq!(
        v1.structs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["DemoV1", "DemoV11"],
        "reopened module merged"
    );
    let echo = p
        .find_interface(&qn("DemoV3", "V3Test"))
        .unwrap()
        .operation("echo")
        .unwrap();
    assert_eq!(echo.params[0].ty, Type::Struct(qn("DemoV1", "DemoV1")));
    assert_eq!(echo.params[1].ty, Type::Struct(qn("DemoV1", "DemoV11")));
    assert!(echo.params[1].is_out);
    assert_eq!(
        p.find_enum(&qn("Base", "Code")).unwrap().members[1].value,
        1
    );
}

#[test]
fn dcache_includes_with_relative_paths() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "extra/DCache/src/Proxy/Proxy.tars");
    assert_eq!(p.files.len(), 3);
    assert_eq!(
        p.files_read.len(),
        3,
        "ProxyShare.tars is included twice but read once"
    );
    let names: Vec<String> = p
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["Proxy.tars", "ProxyShare.tars", "CacheShare.tars"]);
    // CacheShare.tars includes ProxyShare.tars too: same file id.
    assert_eq!(p.files[2].includes, vec![p.files[1].id]);
    assert_eq!(p.files[0].includes, vec![p.files[1].id, p.files[2].id]);
    assert!(
        p.files
            .iter()
            .all(|f| !f.path.to_string_lossy().contains("..")),
        "paths are normalised"
    );
}

#[test]
fn double_default_and_benchmark_key() {
    let Some(root) = corpus_dir() else { return };
    let p = load_one(&root, "extra/TarsBenchmark/src/server/NodeServer/Node.tars");
    let s = p
        .modules
        .iter()
        .flat_map(|m| &m.structs)
        .find(|s| s.field("min_time").is_some())
        .expect("min_time");
    let f = s.field("min_time").unwrap();
    assert_eq!(
        (f.ty.clone(), f.default.clone()),
        (Type::Double, Some(Value::Float(1000.0)))
    );
}
