//! What a decode may allocate is bounded by its input: at most `memory_factor` (8) bytes per
//! input byte plus `memory_allowance` (16 MiB), whatever the shape of the input. A counting
//! global allocator measures the peak heap of each decode, for the shapes that inflate most
//! (values that are tiny on the wire and large in memory).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tars_codec::{DecodeError, DecodeLimits, Reader, TarsString, TarsValue, Writer};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A struct whose every field is optional: two bytes on the wire (`0a 0b` in a list), well
/// over a hundred in memory.
#[derive(Debug, Clone, PartialEq, tars_codec::TarsStruct)]
struct Item {
    #[tars(tag = 0)]
    name: TarsString,
    #[tars(tag = 1)]
    tags: Vec<TarsString>,
    #[tars(tag = 2)]
    attrs: BTreeMap<TarsString, TarsString>,
    #[tars(tag = 3)]
    blob: Bytes,
    #[tars(tag = 4)]
    counts: HashMap<i32, i64>,
    #[tars(tag = 5)]
    label: String,
    #[tars(tag = 6)]
    n: i64,
}

/// Input size of each shape: large enough that the unbounded decode of the worst shapes
/// would take hundreds of MiB.
const INPUT: usize = 8 << 20;

/// A list of `n` copies of the encoded element `element` (tag 0 heads included), at tag 0.
fn list_of(element: &[u8], n: usize) -> Bytes {
    let mut w = Writer::with_capacity(element.len() * n + 16);
    w.write_list_header(0, n);
    for _ in 0..n {
        w.write_raw(element);
    }
    w.into_bytes()
}

/// Decodes `input` as field 0 of type `T` and returns the outcome and the peak heap the decode
/// added (over what was live before it).
fn measure<T: TarsValue>(input: &Bytes) -> (Result<(), DecodeError>, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let outcome = {
        let mut r = Reader::from_bytes(input, DecodeLimits::DEFAULT);
        r.read_required::<T>(0, "value").map(drop)
    };
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    (outcome, peak)
}

fn bound(input: usize) -> usize {
    DecodeLimits::DEFAULT.budget_for(input)
}

/// One shape: decodes, checks the peak against the bound, and returns the outcome.
fn check<T: TarsValue>(shape: &str, input: &Bytes) -> Result<(), DecodeError> {
    let (outcome, peak) = measure::<T>(input);
    let limit = bound(input.len());
    println!(
        "{shape}: {} B in, peak {} B ({:.1}x), bound {} B, {:?}",
        input.len(),
        peak,
        peak as f64 / input.len() as f64,
        limit,
        outcome.as_ref().map_err(|e| e.to_string())
    );
    assert!(
        peak <= limit,
        "{shape}: peak heap {peak} B exceeds 8 x {} B + 16 MiB = {limit} B",
        input.len()
    );
    outcome
}

fn is_budget(e: &DecodeError) -> bool {
    matches!(e, DecodeError::MemoryBudget { .. })
}

// All shapes run in one test: the counting allocator is process-wide, so concurrent tests
// would disturb each other's peaks.
#[test]
fn decoding_allocates_at_most_eight_times_the_input_plus_a_constant() {
    // Empty structs: `0a 0b` each.
    let structs = list_of(&[0x0a, 0x0b], INPUT / 2);
    let e = check::<Vec<Item>>("vector<Item> of empty structs", &structs).unwrap_err();
    assert!(is_budget(&e), "{e}");

    // Empty lists: `09 0c` each, a Vec header each in memory.
    let lists = list_of(&[0x09, 0x0c], INPUT / 2);
    let e = check::<Vec<Vec<i32>>>("vector<vector<int>> of empty lists", &lists).unwrap_err();
    assert!(is_budget(&e), "{e}");

    // One-entry maps of empty strings: 7 bytes each, a whole B-tree node each in memory.
    let maps = list_of(&[0x08, 0x00, 0x01, 0x06, 0x00, 0x16, 0x00], INPUT / 7);
    let e = check::<Vec<BTreeMap<TarsString, TarsString>>>("vector<map<string,string>>", &maps)
        .unwrap_err();
    assert!(is_budget(&e), "{e}");

    // The same maps into hash maps.
    let e = check::<Vec<HashMap<TarsString, TarsString>>>("vector<hashmap<string,string>>", &maps)
        .unwrap_err();
    assert!(is_budget(&e), "{e}");

    // Strings that are not UTF-8: their lossy text is allocated (three bytes of U+FFFD for
    // each invalid byte).
    let mut invalid = vec![0x06, 8];
    invalid.extend([0xff; 8]);
    let raw = list_of(&invalid, INPUT / invalid.len());
    let e = check::<Vec<TarsString>>("vector<string> not UTF-8", &raw).unwrap_err();
    assert!(is_budget(&e), "{e}");

    // Empty std strings: a String header each.
    let strings = list_of(&[0x06, 0x00], INPUT / 2);
    let e = check::<Vec<String>>("vector<String> of empty strings", &strings).unwrap_err();
    assert!(is_budget(&e), "{e}");

    // Byte vectors as lists of bytes (not SIMPLE_LIST): copied into a buffer, within the
    // bound.
    let byte_lists = list_of(&[0x09, 0x00, 0x01, 0x00, 0x07], INPUT / 5);
    check::<Vec<Bytes>>("vector<vector<byte>> as LISTs", &byte_lists).unwrap();

    // Shapes that stay within the bound decode: UTF-8 strings and byte vectors are slices of
    // the input, so they cost their headers only.
    let text = list_of(
        &[0x06, 0x08, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h'],
        INPUT / 10,
    );
    check::<Vec<TarsString>>("vector<string> of 8-byte strings", &text).unwrap();
    let blobs = list_of(
        &[0x0d, 0x00, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8],
        INPUT / 12,
    );
    check::<Vec<Bytes>>("vector<vector<byte>> of 8 bytes", &blobs).unwrap();
    let ints = list_of(&[0x02, 0x7f, 0xff, 0xff, 0xff], INPUT / 5);
    check::<Vec<i32>>("vector<int>", &ints).unwrap();
}

/// Small messages whose memory form is far larger than their encoding still decode: the
/// allowance covers them.
#[test]
fn small_messages_with_large_memory_forms_decode() {
    let sparse = Item {
        name: TarsString::new(),
        tags: Vec::new(),
        attrs: BTreeMap::new(),
        blob: Bytes::new(),
        counts: HashMap::new(),
        label: String::new(),
        n: 7,
    };
    let mut items = vec![sparse; 2000];
    items[0].attrs.insert("k".into(), "v".into());
    items[1].tags = vec!["a".into(); 3];
    items[2].counts.insert(1, 2);
    let mut w = Writer::new();
    items.write_field(&mut w, 0);
    let input = w.into_bytes();
    // Far more than 8 bytes of memory per input byte: only the allowance lets it through.
    let memory = items.len() * std::mem::size_of::<Item>();
    assert!(memory > 8 * input.len(), "{memory} vs {}", input.len());
    let mut r = Reader::from_bytes(&input, DecodeLimits::DEFAULT);
    let back: Vec<Item> = r.read_required(0, "items").unwrap();
    assert_eq!(back, items);
    // Without the allowance the same message is refused, not half-decoded.
    let strict = DecodeLimits {
        memory_allowance: 0,
        ..DecodeLimits::DEFAULT
    };
    let e = Reader::from_bytes(&input, strict)
        .read_required::<Vec<Item>>(0, "items")
        .unwrap_err();
    assert!(is_budget(&e), "{e}");
}

/// A tighter budget is honoured, and reported with the field's tag.
#[test]
fn a_configured_budget_applies() {
    let limits = DecodeLimits {
        memory_factor: 0,
        memory_allowance: 64,
        ..DecodeLimits::DEFAULT
    };
    let input = list_of(&[0x02, 0x00, 0x00, 0x00, 0x01], 32); // 32 ints: 128 B in memory
    let mut r = Reader::from_bytes(&input, limits);
    let e = r.read_required::<Vec<i32>>(0, "v").unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::MemoryBudget {
                tag: 0,
                what: "list",
                needed: 128,
                ..
            }
        ),
        "{e:?}"
    );
    let mut r = Reader::from_bytes(&input, DecodeLimits::DEFAULT);
    assert_eq!(r.read_required::<Vec<i32>>(0, "v").unwrap(), vec![1; 32]);
}
