//! `scan` allocates nothing, on every shape of input (counted with a wrapping global allocator;
//! this file is its own test binary, so the counter sees only this test).

use querycomb_sql::{Dialect, Fingerprinter};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

include!("corpus/orm.rs");

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut sum = 0u64;
    for (mysql, sql) in &statements {
        let fp = if *mysql { &mut my } else { &mut pg };
        sum = sum.wrapping_add(fp.scan(sql).fingerprint);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_ne!(sum, 0);
    assert_eq!(after - before, 0, "scan allocated");
}
