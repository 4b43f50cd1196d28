//! The committed `vectors/stream.json` is exactly what `node/gen-vectors.js` writes with the
//! pinned npm peers: the generator is run into a temporary directory and its output compared
//! with the committed file, byte for byte. A change to the generator (or to the peers) that is
//! not followed by `node/regen.sh`, or a hand edit of the vectors, fails here.
//!
//! Like the other peer tests this needs node and `npm ci` in `conformance/node`; it fails (does
//! not skip) when they are missing. The generator runs under `peer::run`, which kills it after
//! `peer::SCRIPT_TIMEOUT`.

use std::collections::BTreeMap;

use serde_json::Value;
use tars_conformance::{load_vectors, peer, vectors_path};

/// The entries of `doc[key]` by their `name`.
fn by_name<'a>(doc: &'a Value, key: &str) -> BTreeMap<&'a str, &'a Value> {
    doc[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["name"].as_str().unwrap_or("<no name>"), e))
                .collect()
        })
        .unwrap_or_default()
}

/// A short description of how `generated` differs from `committed`.
fn diff_summary(committed: &Value, generated: &Value, committed_text: &str, text: &str) -> String {
    const SHOW: usize = 10;
    let mut out = Vec::new();
    if committed["generator"] != generated["generator"] {
        out.push(format!(
            "generator: committed {} vs regenerated {}",
            committed["generator"], generated["generator"]
        ));
    }
    for key in ["cases", "packets"] {
        let (old, new) = (by_name(committed, key), by_name(generated, key));
        let removed: Vec<_> = old.keys().filter(|k| !new.contains_key(*k)).collect();
        let added: Vec<_> = new.keys().filter(|k| !old.contains_key(*k)).collect();
        let changed: Vec<_> = old
            .iter()
            .filter_map(|(k, v)| new.get(k).filter(|n| *n != v).map(|n| (k, v, n)))
            .collect();
        out.push(format!(
            "{key}: {} committed, {} regenerated; {} only committed, {} only regenerated, {} changed",
            old.len(),
            new.len(),
            removed.len(),
            added.len(),
            changed.len()
        ));
        if !removed.is_empty() {
            out.push(format!(
                "  only committed: {:?}",
                &removed[..removed.len().min(SHOW)]
            ));
        }
        if !added.is_empty() {
            out.push(format!(
                "  only regenerated: {:?}",
                &added[..added.len().min(SHOW)]
            ));
        }
        for (name, v, n) in changed.iter().take(SHOW) {
            out.push(format!(
                "  {name}:\n    committed   {v}\n    regenerated {n}"
            ));
        }
        let order_old: Vec<_> = committed[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["name"])
            .collect();
        let order_new: Vec<_> = generated[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["name"])
            .collect();
        if removed.is_empty() && added.is_empty() && order_old != order_new {
            out.push(format!("  the {key} are in another order"));
        }
    }
    // Whatever the values say, name the first line where the texts differ.
    let line = committed_text
        .lines()
        .zip(text.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed_text.lines().count().min(text.lines().count()));
    out.push(format!(
        "first differing line: {} (committed {:?}, regenerated {:?}); committed {} lines, regenerated {}",
        line + 1,
        committed_text.lines().nth(line).unwrap_or("<end>"),
        text.lines().nth(line).unwrap_or("<end>"),
        committed_text.lines().count(),
        text.lines().count()
    ));
    out.join("\n")
}

#[test]
fn committed_vectors_are_what_the_generator_writes() {
    peer::ensure_peers().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("stream.json");
    let run = peer::run("gen-vectors.js", &[file.as_path()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(run.success, "node gen-vectors.js failed:\n{}", run.output);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "gen-vectors.js wrote no {}: {e}\n{}",
            file.display(),
            run.output
        )
    });
    let committed_text = std::fs::read_to_string(vectors_path()).expect("committed vectors");
    if text == committed_text {
        return;
    }
    let committed = load_vectors(None).unwrap_or_else(|e| panic!("{e}"));
    let generated = load_vectors(Some(&file)).unwrap_or_else(|e| panic!("{e}"));
    panic!(
        "conformance/vectors/stream.json differs from what node/gen-vectors.js writes now \
         (run conformance/node/regen.sh and review the change):\n{}",
        diff_summary(&committed, &generated, &committed_text, &text)
    );
}
