//! The retention sweep (SPEC "Retention"): on every instance, every `RETENTION_SWEEP_INTERVAL`,
//! the sessions that ended (or, never ended, were last updated) longer ago than `RETENTION` are
//! erased exactly as `DELETE` erases them, and tombstones older than `TOMBSTONE_RETENTION` are
//! removed, and so are webhook messages recorded longer ago than `RETENTION` (with their
//! deliveries, decision 41). Each erasure is the [`Lifecycle::erase`] of `DELETE` (counted and
//! logged with the reason `retention`), on the condition that the session is still expired when
//! the store removes it (`EraseIf::ExpiredBefore` the cutoff): one written after the sweep chose
//! it is kept. Bounded batches ([`BATCH`] per store call), each erasure its own store call (on
//! SQLite one small writer job among the requests' jobs), so a sweep never holds the store for
//! long. Several instances sweeping at once find the same sessions; the store erases each once,
//! and only the call that removed it counts it (`sessions_erased_total{reason="retention"}`).

use std::time::Duration;

use crate::background::Background;
use crate::lifecycle::Lifecycle;
use domain::{EraseIf, EraseSessionError, StorageError, Timestamp};

/// Sessions, or tombstones, asked for per store call.
pub const BATCH: u32 = 100;

/// What the sweep keeps, and how often it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `RETENTION`: `None` keeps sessions forever.
    pub sessions: Option<Duration>,
    /// `TOMBSTONE_RETENTION`.
    pub tombstones: Duration,
    /// `RETENTION_SWEEP_INTERVAL`.
    pub every: Duration,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Sessions this sweep erased (not those another instance erased first).
    pub erased: u64,
    /// Tombstones removed.
    pub purged: u64,
    /// Webhook messages removed (with their deliveries).
    pub pruned: u64,
}

/// `now` minus `age`, or `None` before the start of time (nothing is that old).
fn before(now: Timestamp, age: Duration) -> Option<Timestamp> {
    let age = i64::try_from(age.as_millis()).ok()?;
    Timestamp::from_millis(now.millis().checked_sub(age)?).ok()
}

/// One sweep at `now`, batch after batch until nothing expired is left, or until `go_on` says
/// stop (asked between two store calls, so no erasure is cut short by a shutdown).
pub async fn sweep(
    lifecycle: &Lifecycle,
    policy: &Retention,
    now: Timestamp,
    go_on: impl Fn() -> bool,
) -> Result<Swept, StorageError> {
    let mut swept = Swept::default();
    if let Some(cutoff) = policy.sessions.and_then(|age| before(now, age)) {
        loop {
            let batch = lifecycle.expired(cutoff, BATCH).await?;
            for (project, id) in &batch {
                if !go_on() {
                    return Ok(swept);
                }
                match lifecycle
                    .erase(project, id, EraseIf::ExpiredBefore(cutoff))
                    .await
                {
                    Ok(erased) if !erased.replayed => swept.erased += 1,
                    // Another instance (or a request) erased it first, or it was written
                    // since it was chosen (the erasure checks again: kept, not counted).
                    Ok(_) | Err(EraseSessionError::NotFound | EraseSessionError::NotExpired) => {}
                    Err(EraseSessionError::Storage(e)) => {
                        // Cut short, it may have begun (see privacy.md, "Retention").
                        tracing::warn!(project = %project, session = %id, "erasure by retention failed; DELETE finishes it");
                        return Err(e);
                    }
                }
            }
            if batch.len() < BATCH as usize {
                break;
            }
        }
    }
    // A webhook message is kept no longer than the change it announces (decision 41).
    if let Some(cutoff) = policy.sessions.and_then(|age| before(now, age)) {
        while go_on() {
            let pruned = lifecycle.prune_messages(cutoff, BATCH).await?;
            swept.pruned += pruned;
            if pruned == 0 {
                break;
            }
        }
    }
    if let Some(cutoff) = before(now, policy.tombstones) {
        while go_on() {
            let purged = lifecycle.purge_tombstones(cutoff, BATCH).await?;
            swept.purged += purged;
            if purged < u64::from(BATCH) {
                break;
            }
        }
    }
    Ok(swept)
}

/// The background sweep of this instance; stopped by [`Sweeper::stop`] or when dropped.
pub struct Sweeper(Background);

impl Sweeper {
    /// Starts sweeping every `policy.every`, the first time at once.
    pub fn spawn(lifecycle: Lifecycle, policy: Retention) -> Self {
        Self(Background::spawn(|mut stopped| async move {
            loop {
                let go_on = || !*stopped.borrow();
                match sweep(&lifecycle, &policy, Timestamp::now(), go_on).await {
                    Ok(s) if s != Swept::default() => {
                        tracing::info!(
                            erased = s.erased,
                            purged = s.purged,
                            pruned = s.pruned,
                            "retention sweep"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(
                        error = %e,
                        "retention sweep stopped early; the next one runs at the interval"
                    ),
                }
                if *stopped.borrow() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(policy.every) => {}
                    _ = stopped.changed() => return,
                }
            }
        }))
    }

    /// Ends the sweep after the store call in flight and waits for it.
    pub async fn stop(self) {
        self.0.stop().await;
    }
}
