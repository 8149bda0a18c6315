//! Hostile length prefixes must not make readers allocate what they declare.
//!
//! A counting global allocator records the largest single allocation; this
//! file holds one test so nothing else runs while it measures.

#![allow(unsafe_code)] // a counting global allocator needs `unsafe impl GlobalAlloc`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use loom_shared::capture::{
    CaptureError, MAX_RECORD_LEN, StreamDecoder, decode_batch, file_header, read_capture,
};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const LIMIT: usize = 1 << 20;

/// Runs `f` and returns the largest single allocation it (or anything running
/// at the same time) made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    f();
    LARGEST.load(Ordering::Relaxed)
}

fn varint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(value, &mut out);
    out
}

#[test]
fn declared_lengths_are_not_allocated() {
    // 2^40: rejected outright, by every reader.
    let mut huge = file_header().to_vec();
    huge.extend(varint(1 << 40));
    huge.extend_from_slice(b"a few bytes");
    let too_large = CaptureError::RecordTooLarge {
        offset: 13,
        len: 1 << 40,
    };
    let largest = largest_allocation(|| {
        assert_eq!(read_capture(&huge), Err(too_large.clone()));
        let mut decoder = StreamDecoder::new();
        for byte in &huge {
            if decoder.push(std::slice::from_ref(byte)).is_err() {
                break;
            }
        }
        assert_eq!(decoder.finish(), Err(too_large.clone()));
        assert!(decode_batch(&huge[13..]).is_err());
    });
    assert!(largest < LIMIT, "largest allocation {largest} bytes");

    // Exactly the limit: allowed, so the tail is a truncation; but only the
    // bytes that actually arrived are held.
    let mut big = file_header().to_vec();
    big.extend(varint(MAX_RECORD_LEN as u64));
    big.extend_from_slice(&[0; 100]);
    let largest = largest_allocation(|| {
        let capture = read_capture(&big).unwrap();
        let truncation = capture.truncated.unwrap();
        assert_eq!(
            truncation.missing_bytes_hint,
            Some(MAX_RECORD_LEN as u64 - 100)
        );
        let mut decoder = StreamDecoder::new();
        for chunk in big.chunks(7) {
            assert_eq!(decoder.push(chunk), Ok(vec![]));
        }
        assert_eq!(decoder.finish(), Ok(Some(truncation)));
        assert!(decode_batch(&big[13..]).is_err());
    });
    assert!(largest < LIMIT, "largest allocation {largest} bytes");
}
