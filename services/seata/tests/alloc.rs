//! Allocation follows the bytes received, never the lengths announced: a counting global
//! allocator (per thread, so parallel tests do not mix) measures the decoder.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use proptest::prelude::*;
use tars_seata::{Frame, FrameDecoder, Message};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ALLOCATED.try_with(|a| a.set(a.get() + size));
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: forwards to the system allocator; the counters are const-initialised thread locals
// without destructors, so touching them allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f`, returning (total bytes allocated, largest single allocation) on this thread.
fn measure(f: impl FnOnce()) -> (usize, usize) {
    ALLOCATED.with(|a| a.set(0));
    LARGEST.with(|l| l.set(0));
    f();
    (ALLOCATED.with(Cell::get), LARGEST.with(Cell::get))
}

fn unhex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|b| (b as char).to_digit(16).unwrap() as u8)
        .collect();
    d.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// Drives the decoder over `input` already in a buffer, decoding every frame's body.
fn drive(buf: &mut BytesMut) {
    let mut d = FrameDecoder::new();
    while let Ok(Some(frame)) = d.decode(buf) {
        let _ = frame.message();
    }
}

#[test]
fn announced_lengths_allocate_nothing() {
    let cases = [
        // A header announcing 8 MiB (the cap) with nothing behind it.
        "dada 01 00800000 0010 00 01 00 00000001",
        // A head map string of 32767 bytes, 1 present.
        "dada 01 00000100 0100 00 01 00 00000001 7fff 61",
    ];
    for case in cases {
        let mut buf = BytesMut::from(&unhex(case)[..]);
        let (total, _) = measure(|| drive(&mut buf));
        assert_eq!(total, 0, "{case}");
    }
    let bodies = [
        "0007 7fff 61",                       // str16 of 32767
        "000b 0000 00 0000 7fffffff 61",      // str32 of 2^31-1
        "003b 7fffffff 0000",                 // batch of 2^31-1 bytes
        "003b 00000004 7fff 0001",            // 32767 messages announced, 1 half there
        "0079 0000000a 0001 000e 01 00 0000", // ids missing
    ];
    for case in bodies {
        let body = unhex(case);
        let (total, largest) = measure(|| {
            let _ = Message::decode(&body);
        });
        assert!(largest <= 64 && total <= 256, "{case}: {total} / {largest}");
    }
}

proptest! {
    #[test]
    fn allocation_is_bounded_by_the_input(
        head in proptest::collection::vec(any::<u8>(), 0..24),
        rest in proptest::collection::vec(any::<u8>(), 0..400),
        valid_prefix in any::<bool>(),
    ) {
        let mut input = if valid_prefix {
            // Header of a plausible frame, with arbitrary lengths and contents.
            let mut v = vec![0xDA, 0xDA, 1];
            v.extend_from_slice(&head);
            v
        } else {
            head
        };
        input.extend_from_slice(&rest);
        let mut buf = BytesMut::from(&input[..]);
        let (total, largest) = measure(|| drive(&mut buf));
        // Strings are copies of bytes present; vectors of entries grow with entries present
        // (each at least 2 bytes of input); a few small headers come on top.
        prop_assert!(largest <= 64 * input.len() + 256, "largest {} for {}", largest, input.len());
        prop_assert!(total <= 128 * input.len() + 1024, "total {} for {}", total, input.len());
    }

    #[test]
    fn consistent_headers_allocate_in_proportion(
        head_map in proptest::collection::vec(any::<u8>(), 0..120),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        kind in 0u8..3,
    ) {
        // Lengths that agree with the bytes, so the head map and body are really parsed.
        let head_len = 16 + head_map.len();
        let full_len = head_len + body.len();
        let mut input = vec![0xDA, 0xDA, 1];
        input.extend_from_slice(&(full_len as i32).to_be_bytes());
        input.extend_from_slice(&(head_len as i16).to_be_bytes());
        input.extend_from_slice(&[kind, 1, 0, 0, 0, 0, 9]);
        input.extend_from_slice(&head_map);
        input.extend_from_slice(&body);
        let mut buf = BytesMut::from(&input[..]);
        let (total, largest) = measure(|| drive(&mut buf));
        prop_assert!(largest <= 64 * input.len() + 256, "largest {} for {}", largest, input.len());
        prop_assert!(total <= 128 * input.len() + 1024, "total {} for {}", total, input.len());
    }

    #[test]
    fn message_decoding_allocates_in_proportion(
        code in prop_oneof![Just(59i16), Just(60i16), Just(121i16), 0i16..130],
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(&rest);
        let (total, _) = measure(|| {
            let _ = Frame::new(tars_seata::MessageType::Request, 1, body.clone().into()).message();
        });
        prop_assert!(total <= 128 * body.len() + 1024, "total {} for {}", total, body.len());
    }
}
