//! A transparent PostgreSQL wire-protocol proxy that turns traffic into query events.
