//! Include resolution on the real file system: search order, each file read once, the list of
//! files read, several roots.

use std::path::{Path, PathBuf};

use tars_idlc::{load, ErrorKind, QualifiedName, Session, Type};

/// A fresh directory tree under the system temp dir, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str, files: &[(&str, &str)]) -> Tree {
        let root = std::env::temp_dir().join(format!("tars-idlc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Tree(root)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn names(paths: &[PathBuf], root: &Path) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

#[test]
fn relative_first_then_include_dirs_in_order() {
    let t = Tree::new(
        "order",
        &[
            ("src/main.tars", "#include \"common.tars\"\n#include \"only_in_b.tars\"\nmodule M { struct S { 0 optional C::Near n; 1 optional B::X x; }; };"),
            ("src/common.tars", "module C { struct Near { 0 optional int a; }; };"),
            ("a/common.tars", "module C { struct Far { 0 optional int a; }; };"),
            ("a/only_in_b.tars", "module B { struct X { 0 optional int a; }; };"),
            ("b/only_in_b.tars", "this file is never read"),
        ],
    );
    let p = load(t.path("src/main.tars"), &[t.path("a"), t.path("b")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&p.files_read, &t.0),
        ["src/main.tars", "src/common.tars", "a/only_in_b.tars"]
    );
    let s = p.find_struct(&QualifiedName::new("M", "S")).unwrap();
    assert_eq!(
        s.fields[0].ty,
        Type::Struct(QualifiedName::new("C", "Near"))
    );
}

#[test]
fn diamond_includes_are_read_once() {
    let t = Tree::new(
        "diamond",
        &[
            ("main.tars", "#include \"a/a.tars\"\n#include \"b/b.tars\"\nmodule M { struct S { 0 optional A::T a; 1 optional B::T b; }; };"),
            ("a/a.tars", "#include \"../shared/base.tars\"\nmodule A { struct T { 0 optional Base::E e = Base::Two; }; };"),
            ("b/b.tars", "#include \"../shared/base.tars\"\nmodule B { struct T { 0 optional Base::E e; }; };"),
            ("shared/base.tars", "module Base { enum E { One = 1, Two }; };"),
        ],
    );
    let p = load(t.path("main.tars"), &[] as &[&str]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&p.files_read, &t.0),
        ["main.tars", "a/a.tars", "shared/base.tars", "b/b.tars"]
    );
    assert_eq!(p.files.len(), 4);
    assert_eq!(
        p.files[1].includes, p.files[3].includes,
        "both include the same file id"
    );
    // Declarations come in dependency order: Base before A and B before M.
    let order: Vec<&str> = p.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(order, ["Base", "A", "B", "M"]);
}

#[test]
fn several_roots_in_one_session() {
    let t = Tree::new(
        "roots",
        &[
            ("EndpointF.tars", "module tars { struct EndpointF { 0 require string host; }; };"),
            ("QueryF.tars", "#include \"EndpointF.tars\"\nmodule tars { interface QueryF { vector<EndpointF> find(string id); }; };"),
        ],
    );
    let mut s = Session::new();
    let q = s.load(t.path("QueryF.tars")).unwrap();
    let e = s.load(t.path("EndpointF.tars")).unwrap();
    assert_eq!(
        s.load(t.path("./QueryF.tars")),
        Some(q),
        "same file, same id"
    );
    assert_eq!(
        names(s.files_read(), &t.0),
        ["QueryF.tars", "EndpointF.tars"]
    );
    let p = s.check().unwrap_or_else(|e| panic!("{e}"));
    assert!(p.file(q).unwrap().is_root && p.file(e).unwrap().is_root);
    assert_eq!(p.roots().count(), 2);
}

#[test]
fn files_read_is_kept_when_checking_fails() {
    let t = Tree::new(
        "failing",
        &[
            ("main.tars", "#include \"bad.tars\"\nmodule M { };"),
            ("bad.tars", "module B { struct S { 0 optional Nope n; }; };"),
        ],
    );
    let mut s = Session::new();
    s.load(t.path("main.tars"));
    assert_eq!(names(s.files_read(), &t.0), ["main.tars", "bad.tars"]);
    let err = s.check().unwrap_err();
    let d = err.iter().next().unwrap();
    assert_eq!(
        d.kind,
        ErrorKind::UndefinedType {
            name: "Nope".into()
        }
    );
    assert!(d.location.as_ref().unwrap().path.ends_with("bad.tars"));
}

#[test]
fn missing_root_file_is_an_error_without_location() {
    let t = Tree::new("missing", &[]);
    let err = load(t.path("nope.tars"), &[] as &[&str]).unwrap_err();
    let d = err.iter().next().unwrap();
    assert!(matches!(d.kind, ErrorKind::ReadFile { .. }));
    assert!(d.location.is_none());
    assert!(d.to_string().starts_with("error: cannot read `"));
}

#[test]
fn include_cycle_through_include_dir() {
    let t = Tree::new(
        "cycle",
        &[
            ("src/a.tars", "#include \"b.tars\"\nmodule A { };"),
            ("lib/b.tars", "#include \"a.tars\"\nmodule B { };"),
        ],
    );
    let err = load(t.path("src/a.tars"), &[t.path("lib"), t.path("src")]).unwrap_err();
    let d = err.iter().next().unwrap();
    let ErrorKind::IncludeCycle { cycle } = &d.kind else {
        panic!("{d}")
    };
    assert!(cycle.ends_with("src/a.tars"), "{cycle}");
    assert!(d.location.as_ref().unwrap().path.ends_with("lib/b.tars"));
    assert_eq!(d.location.as_ref().unwrap().line, 1);
}
