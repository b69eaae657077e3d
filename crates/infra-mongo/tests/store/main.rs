//! The MongoDB adapter's integration tests, one binary (`cargo test -p infra-mongo --test store`;
//! one module: `--test store list_plans::`), each test on its own database of the MongoDB for
//! tests (`testkit::mongo_uri`): the conformance suite, round trips per operation, batches racing
//! across two stores, the query plans, the upgrade from migration 1, erased content gone from
//! every document.

mod batch_races;
mod conformance;
mod erased_content;
mod list_plans;
mod plans;
mod query_plans;
mod round_trips;
mod trusted_hints;
mod upgrade;
