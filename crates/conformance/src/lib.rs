//! The adapter conformance suite: every behaviour the domain's ports promise, written once and
//! run against every storage adapter.
//!
//! An adapter's test file provides a fixture (a fresh, empty store per test) and calls
//! [`conformance_suite!`], which expands to one `#[tokio::test]` per case:
//!
//! ```text
//! conformance::conformance_suite!(async { my_adapter_fixture().await });
//! ```

pub mod cases;

use std::any::Any;
use std::sync::Arc;

use domain::Repository;

/// A fresh store for one test, and whatever must live as long as it (a temporary folder, a
/// database to drop).
pub struct Fixture {
    pub repo: Arc<dyn Repository>,
    pub guard: Box<dyn Any + Send + Sync>,
}

/// Expands to one test per case of [`cases`], each with a fresh store from `$fixture` (an
/// expression evaluating to a future of [`Fixture`]).
#[macro_export]
macro_rules! conformance_suite {
    ($fixture:expr) => {
        $crate::conformance_suite!(@cases $fixture;
            create_then_get,
            create_replays_the_first_write,
            concurrent_identical_creates_store_one,
            get_unknown_session,
            append_counts_and_activates,
            append_to_unknown_session,
            append_replay_and_conflict,
            event_ids_are_scoped_to_their_session,
            concurrent_identical_appends_store_one,
            concurrent_mixed_appends_lose_nothing,
            complete_seals_the_session,
            complete_replay_and_state_conflict,
            complete_unknown_session,
            concurrent_completes_agree,
            appends_racing_complete_respect_the_seal,
            pages_walk_both_orders,
            page_of_unknown_and_empty_sessions,
            walk_during_appends_is_exact_and_tail_safe,
            get_event_found_and_not_found,
            payload_and_metadata_fidelity,
            timestamps_and_defaults,
            ping_and_shared_secret,
        );
    };
    (@cases $fixture:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture: $crate::Fixture = $fixture.await;
                $crate::cases::$case(fixture.repo.clone()).await;
                drop(fixture);
            }
        )*
    };
}
