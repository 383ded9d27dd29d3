//! Throwaway database servers for integration tests.
//!
//! Every test that needs a database starts its own server from the machine's binaries, on a
//! free loopback port, in a temporary directory that is deleted when the handle drops. Tests
//! never depend on a server that happens to be running.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI does) the server and
//! its tools run as the `postgres` system user through `runuser`.

pub mod deps;
mod mariadb;
mod postgres;
mod process;

pub use mariadb::*;
pub use postgres::{Auth, PgOptions, PgServer};
pub use process::{free_port, start_with_retries};
