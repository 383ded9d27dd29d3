//! SeaORM (on sqlx) seen by the tracing layer: tests/e2e/rust-seaorm's suite, its own
//! workspace built by `scripts/setup-test-deps.sh seaorm`. It shows lazy loading per row
//! (`find_related` in a loop) found as an N+1 with its parent, child and N, and both fixes
//! (`find_with_related`, the loader's `load_many`) clean, with the assertions agreeing.

mod workspaces;

#[test]
fn seaorm_suite_passes_on_postgres() {
    workspaces::run_suite("rust-seaorm", 6);
}
