//! `scan` allocates nothing, on every shape of input (counted per thread by a wrapping global
//! allocator, so tests running in parallel do not see each other's allocations).

// A global allocator can only be written with `unsafe impl GlobalAlloc`; the crate denies
// unsafe code everywhere else (Cargo.toml) and its library forbids it (lib.rs).
#![allow(unsafe_code)]

use querycomb_sql::{Dialect, Fingerprinter};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

include!("corpus/orm.rs");

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Allocations made by the calling thread so far.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the thread-local may already be gone while a thread shuts down.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn scan_does_not_allocate() {
    let mut statements: Vec<(bool, String)> = ORM_QUERIES
        .iter()
        .map(|(_, my, q)| (*my, q.to_string()))
        .collect();
    statements.push((false, in_list(100)));
    statements.push((false, multi_insert(50)));
    statements.push((
        false,
        "SELECT $t$x$t$, E'\\'', data ?| ARRAY['a'] FROM t /* querycomb:allow */;".to_owned(),
    ));
    statements.push((
        true,
        "SELECT /*! STRAIGHT_JOIN */ a FROM t WHERE s = \"x\" AND id IN (?, ?) # c".to_owned(),
    ));
    let mut pg = Fingerprinter::new(Dialect::Postgres);
    let mut my = Fingerprinter::new(Dialect::MySql);
    let before = allocations();
    let mut sum = 0u64;
    for (mysql, sql) in &statements {
        let fp = if *mysql { &mut my } else { &mut pg };
        sum = sum.wrapping_add(fp.scan(sql).fingerprint);
    }
    let after = allocations();
    assert_ne!(sum, 0);
    assert_eq!(after - before, 0, "scan allocated");
}

#[test]
fn reading_trace_ids_and_routes_does_not_allocate() {
    let sql = "SELECT 1 /*route='/orders/{id}',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/";
    let before = allocations();
    let tags = querycomb_sql::comment::tags(sql);
    let trace = tags.trace_id();
    let route_len = tags.route().map(|r| r.len());
    let after = allocations();
    assert_eq!(trace, Some("0af7651916cd43dd8448eb211c80319c"));
    assert_eq!(route_len, Some(12));
    assert_eq!(after - before, 0, "tags allocated");
}
