//! SQL lexing, fingerprinting, sqlcommenter tags and batched-query rewrites for PostgreSQL and MySQL dialects.
