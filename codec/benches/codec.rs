//! Encode/decode benchmarks of the Tars codec against prost on an equivalent message.
//!
//! Groups `mid` (one `Conf.Mid`, ~400 bytes in Tars) and `batch20` (`MidBatch`, a struct
//! holding `vector<Mid>` of 20 elements, encoded and decoded as one operation). In each group:
//!
//! - `encode/tars-rs`, `encode/prost`: into a reused buffer (cleared, capacity kept), like a
//!   server's per-connection write buffer — the headline number;
//! - `encode_fresh/tars-rs`, `encode_fresh/prost`: into a newly allocated buffer
//!   (`encode_to_bytes` / `encode_to_vec`);
//! - `decode/tars-rs`, `decode/prost`: from a shared `Bytes`, so both borrow the byte vector
//!   instead of copying it.
//!
//! Throughput is the size of each codec's own encoding, so criterion's MB/s is per codec;
//! compare the two codecs by time per operation. `bench/compare-codec.sh` runs this together
//! with the @tars/stream equivalent (`bench/node/codec-bench.js`, same field contents) and
//! prints the ratios.
//!
//! With `TARS_BENCH_DUMP=<dir>` the encoded `mid.bin` and `batch20.bin` are written there so the
//! Node script can check that @tars/stream produces the same bytes.

#[cfg(feature = "bench-mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use prost::Message;
use tars_codec::{DecodeLimits, Reader, TarsString, TarsStruct, Writer};

// ---------------------------------------------------------------------------------------------
// The Tars side: `Conf.Small`, `Conf.Mid` (conformance/idl/Conformance.tars) and `MidBatch`,
// with the types tars-idlc generates (IDL `string` is `TarsString`).

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
#[tars(class = "Conf.Small")]
struct Small {
    #[tars(tag = 0, require)]
    a: i32,
    #[tars(tag = 1, require)]
    b: TarsString,
}

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
#[tars(class = "Conf.Mid")]
struct Mid {
    #[tars(tag = 0, require)]
    id: i64,
    #[tars(tag = 1, require)]
    count: i32,
    #[tars(tag = 2, require)]
    level: i16,
    #[tars(tag = 3, require)]
    flag: bool,
    #[tars(tag = 4, require)]
    score: f64,
    #[tars(tag = 5, require)]
    ratio: f32,
    #[tars(tag = 6, require)]
    name: TarsString,
    #[tars(tag = 7, require)]
    description: TarsString,
    #[tars(tag = 8, require)]
    payload: Bytes,
    #[tars(tag = 9, require)]
    attrs: BTreeMap<TarsString, TarsString>,
    #[tars(tag = 10, require)]
    ids: Vec<i32>,
    #[tars(tag = 11, require)]
    inner: Small,
}

#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
#[tars(class = "Conf.MidBatch")]
struct MidBatch {
    #[tars(tag = 0, require)]
    items: Vec<Mid>,
}

// ---------------------------------------------------------------------------------------------
// The prost side: the same fields as proto3, typed as a proto author would for these values
// (prost at its best): fields holding negative numbers are `sint32` (zig-zag, so -300 takes two
// bytes, not ten), `vector<int>` is a packed repeated `sint32`, blobs are `bytes::Bytes`.

#[derive(Clone, PartialEq, prost::Message)]
struct SmallPb {
    #[prost(int32, tag = "1")]
    a: i32,
    #[prost(string, tag = "2")]
    b: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MidPb {
    #[prost(int64, tag = "1")]
    id: i64,
    #[prost(int32, tag = "2")]
    count: i32,
    #[prost(sint32, tag = "3")]
    level: i32,
    #[prost(bool, tag = "4")]
    flag: bool,
    #[prost(double, tag = "5")]
    score: f64,
    #[prost(float, tag = "6")]
    ratio: f32,
    #[prost(string, tag = "7")]
    name: String,
    #[prost(string, tag = "8")]
    description: String,
    #[prost(bytes = "bytes", tag = "9")]
    payload: Bytes,
    #[prost(btree_map = "string, string", tag = "10")]
    attrs: BTreeMap<String, String>,
    #[prost(sint32, repeated, packed = "true", tag = "11")]
    ids: Vec<i32>,
    #[prost(message, optional, tag = "12")]
    inner: Option<SmallPb>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MidBatchPb {
    #[prost(message, repeated, tag = "1")]
    items: Vec<MidPb>,
}

// ---------------------------------------------------------------------------------------------
// Field contents. Keep in sync with `midContents()` in bench/node/codec-bench.js.

const BATCH_LEN: usize = 20;

fn mid() -> Mid {
    Mid {
        id: 1_234_567_890_123,
        count: 1_000_000,
        level: -300,
        flag: true,
        score: 98.625,
        ratio: 0.25,
        name: "order-service.shard7".into(),
        description: "Settles card payments for the EU region and reports to the ledger.".into(),
        payload: (0..128u32).map(|i| (i * 7 + 3) as u8).collect(),
        attrs: [
            ("env", "production"),
            ("owner", "payments-team"),
            ("region", "eu-west-1"),
            ("zone", "b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect(),
        ids: (0..16).map(|i| i * 5003 - 20_000).collect(),
        inner: Small {
            a: 42,
            b: "nested-small".into(),
        },
    }
}

fn mid_pb(m: &Mid) -> MidPb {
    MidPb {
        id: m.id,
        count: m.count,
        level: i32::from(m.level),
        flag: m.flag,
        score: m.score,
        ratio: m.ratio,
        name: m.name.to_string(),
        description: m.description.to_string(),
        payload: m.payload.clone(),
        attrs: m
            .attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ids: m.ids.clone(),
        inner: Some(SmallPb {
            a: m.inner.a,
            b: m.inner.b.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------

fn bench_tars<T: TarsStruct + PartialEq + std::fmt::Debug>(
    c: &mut Criterion,
    group: &str,
    value: &T,
) {
    let encoded = value.encode_to_bytes();
    assert_eq!(
        &T::decode_from(&encoded).expect("round trip"),
        value,
        "{group}: tars round trip"
    );
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(encoded.len() as u64));

    let mut w = Writer::with_capacity(encoded.len());
    g.bench_function(BenchmarkId::new("encode", "tars-rs"), |b| {
        b.iter(|| {
            w.clear();
            black_box(value).write_fields(&mut w);
            black_box(w.as_slice());
        })
    });
    g.bench_function(BenchmarkId::new("encode_fresh", "tars-rs"), |b| {
        b.iter(|| black_box(black_box(value).encode_to_bytes()))
    });
    g.bench_function(BenchmarkId::new("decode", "tars-rs"), |b| {
        b.iter(|| {
            let mut r = Reader::from_bytes(black_box(&encoded), DecodeLimits::DEFAULT);
            black_box(T::read_fields(&mut r).expect("valid"))
        })
    });
    g.finish();
}

fn bench_prost<M: Message + Default + PartialEq>(c: &mut Criterion, group: &str, value: &M) {
    let encoded = Bytes::from(value.encode_to_vec());
    assert!(
        M::decode(encoded.clone()).expect("round trip") == *value,
        "{group}: prost round trip"
    );
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(encoded.len() as u64));

    let mut buf: Vec<u8> = Vec::with_capacity(encoded.len());
    g.bench_function(BenchmarkId::new("encode", "prost"), |b| {
        b.iter(|| {
            buf.clear();
            black_box(value).encode(&mut buf).expect("vec grows");
            black_box(buf.as_slice());
        })
    });
    g.bench_function(BenchmarkId::new("encode_fresh", "prost"), |b| {
        b.iter(|| black_box(black_box(value).encode_to_vec()))
    });
    g.bench_function(BenchmarkId::new("decode", "prost"), |b| {
        b.iter(|| black_box(M::decode(black_box(&encoded).clone()).expect("valid")))
    });
    g.finish();
}

/// Writes the Tars encodings for `bench/node/codec-bench.js --expect <dir>`.
fn dump(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("TARS_BENCH_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create TARS_BENCH_DUMP dir");
        std::fs::write(dir.join(name), bytes).expect("write TARS_BENCH_DUMP file");
    }
}

fn codec(c: &mut Criterion) {
    let m = mid();
    let batch = MidBatch {
        items: vec![m.clone(); BATCH_LEN],
    };
    let m_pb = mid_pb(&m);
    let batch_pb = MidBatchPb {
        items: vec![m_pb.clone(); BATCH_LEN],
    };

    let mid_bytes = m.encode_to_bytes();
    let batch_bytes = batch.encode_to_bytes();
    assert!(
        (380..=460).contains(&mid_bytes.len()),
        "Mid should encode to ~400 bytes, got {}",
        mid_bytes.len()
    );
    dump("mid.bin", &mid_bytes);
    dump("batch20.bin", &batch_bytes);
    eprintln!(
        "encoded sizes: mid tars {} B, prost {} B; batch20 tars {} B, prost {} B",
        mid_bytes.len(),
        m_pb.encoded_len(),
        batch_bytes.len(),
        batch_pb.encoded_len()
    );

    bench_tars(c, "mid", &m);
    bench_prost(c, "mid", &m_pb);
    bench_tars(c, "batch20", &batch);
    bench_prost(c, "batch20", &batch_pb);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = codec
}

// ---------------------------------------------------------------------------------------------
// Paired mode (`TARS_BENCH_PAIRED=1`): tars-rs and prost timed in alternating short batches, so
// that whatever else the machine does hits both alike; each pair of batches gives one ratio.
// Prints one JSON line per bench with the median ns/op of each side and the median, min and
// max of the per-pair ratios prost / tars-rs. `bench/compare-codec.sh` reports these ratios.

/// Time per operation of `iters` runs of `op`, in ns.
fn time_batch(iters: u32, mut op: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iters)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn paired(name: &str, iters: u32, pairs: usize, mut tars: impl FnMut(), mut prost: impl FnMut()) {
    // Warm up both sides.
    time_batch(iters, &mut tars);
    time_batch(iters, &mut prost);
    let (mut t, mut p, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..pairs {
        // Alternate which side goes first, so neither always follows the other.
        let (tn, pn) = if i % 2 == 0 {
            let tn = time_batch(iters, &mut tars);
            (tn, time_batch(iters, &mut prost))
        } else {
            let pn = time_batch(iters, &mut prost);
            (time_batch(iters, &mut tars), pn)
        };
        t.push(tn);
        p.push(pn);
        ratio.push(pn / tn);
    }
    let (min, max) = ratio
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    println!(
        "{{\"bench\":\"{name}\",\"tars_ns\":{:.1},\"prost_ns\":{:.1},\"ratio\":{:.3},\"ratio_min\":{:.3},\"ratio_max\":{:.3},\"pairs\":{pairs}}}",
        median(&mut t),
        median(&mut p),
        median(&mut ratio),
        min,
        max
    );
}

fn paired_main() {
    let m = mid();
    let batch = MidBatch {
        items: vec![m.clone(); BATCH_LEN],
    };
    let m_pb = mid_pb(&m);
    let batch_pb = MidBatchPb {
        items: vec![m_pb.clone(); BATCH_LEN],
    };
    let pairs = 41;
    let mut w = Writer::with_capacity(1 << 16);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mid_enc = m.encode_to_bytes();
    let mid_pb_enc = Bytes::from(m_pb.encode_to_vec());
    let batch_enc = batch.encode_to_bytes();
    let batch_pb_enc = Bytes::from(batch_pb.encode_to_vec());
    paired(
        "mid/encode",
        20_000,
        pairs,
        || {
            w.clear();
            black_box(&m).write_fields(&mut w);
            black_box(w.as_slice());
        },
        || {
            buf.clear();
            black_box(&m_pb).encode(&mut buf).expect("vec grows");
            black_box(buf.as_slice());
        },
    );
    paired(
        "mid/decode",
        20_000,
        pairs,
        || {
            let mut r = Reader::from_bytes(black_box(&mid_enc), DecodeLimits::DEFAULT);
            black_box(Mid::read_fields(&mut r).expect("valid"));
        },
        || {
            black_box(MidPb::decode(black_box(&mid_pb_enc).clone()).expect("valid"));
        },
    );
    paired(
        "batch20/encode",
        1_000,
        pairs,
        || {
            w.clear();
            black_box(&batch).write_fields(&mut w);
            black_box(w.as_slice());
        },
        || {
            buf.clear();
            black_box(&batch_pb).encode(&mut buf).expect("vec grows");
            black_box(buf.as_slice());
        },
    );
    paired(
        "batch20/decode",
        1_000,
        pairs,
        || {
            let mut r = Reader::from_bytes(black_box(&batch_enc), DecodeLimits::DEFAULT);
            black_box(MidBatch::read_fields(&mut r).expect("valid"));
        },
        || {
            black_box(MidBatchPb::decode(black_box(&batch_pb_enc).clone()).expect("valid"));
        },
    );
}

fn main() {
    if std::env::var_os("TARS_BENCH_PAIRED").is_some() {
        paired_main();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
