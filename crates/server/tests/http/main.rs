//! The HTTP tests: one test binary, one module per concern, all on the real application bound
//! to a random port (`common::TestApp`), against the store `TEST_STORE` names (`sqlite` by
//! default, `mongo`). One binary compiles the shared helpers once and links once; a new concern
//! is a new module here. Run one module with `cargo test -p server --test http contract::`.
//!
//! Tests that need their own process or their own MongoDB (`crash.rs`, `lifecycle.rs`,
//! `outage.rs`), or a store to themselves (`scale_out.rs` and `contention.rs`: two instances
//! racing on one session must not share a slow test MongoDB with 60 other tests), stay separate
//! binaries next to this folder.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod batch;
mod concurrency;
mod contract;
mod corrections;
mod deliveries;
mod erasure;
mod fair_use;
mod fidelity;
mod hostile;
mod list;
mod observability;
mod pagination;
mod repair;
mod streams;
mod webhooks;
