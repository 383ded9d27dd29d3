//! The Diesel hook (feature `diesel`) on a real Diesel PostgreSQL connection:
//! tests/e2e/rust-diesel's suite, its own workspace built by
//! `scripts/setup-test-deps.sh diesel`. It shows an N+1 found with its parent, child and N;
//! its `eq_any` twin clean (transaction control not counted); a loop over one id reported as
//! a repeat because Diesel's events carry the bind values; statements outside a request
//! ignored; the default instrumentation reaching connections made later; and
//! `assert_max_queries!`/`assert_no_n_plus_one!` passing on the twin and failing on the N+1.

mod workspaces;

#[test]
fn diesel_suite_passes_on_postgres() {
    workspaces::run_suite("rust-diesel", 8);
}
