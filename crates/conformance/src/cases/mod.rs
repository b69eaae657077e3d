//! The cases of the suite, one module per capability. Each case is a
//! `pub async fn name(repo: Repo)` taking a fresh, empty store (those of `instances`:
//! `(repo: Repo, other: Repo)`, two instances of one store); `build.rs` lists every one of
//! them (see `CASE_FILES` there), so no adapter can skip one. Helpers stay private to their
//! module, or in `support` when several share them.

pub mod appends;
pub mod batches;
pub mod corrections;
pub mod deliveries;
pub mod erasure;
pub mod fidelity;
pub mod instances;
pub mod keys;
pub mod lists;
pub mod pages;
pub mod projects;
pub mod repair;
pub mod seal;
pub mod sessions;
mod support;
pub mod tails;
pub mod webhooks;
