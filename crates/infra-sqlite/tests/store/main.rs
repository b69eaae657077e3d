//! The SQLite adapter's integration tests, one binary (`cargo test -p infra-sqlite --test store`;
//! one module: `--test store list_plans::`), each test on its own SQLite file in a temporary
//! folder: the conformance suite, the adapter's own behaviour, the query plans, the upgrade from
//! schema version 1, erased bytes gone from the files, webhook deliveries fanned out in steps.

mod conformance;
mod erased_bytes;
mod fan_out;
mod list_plans;
mod plans;
mod query_plans;
mod sqlite;
mod upgrade;
