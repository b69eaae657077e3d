//! [`Health`]: whether the store answers (readiness).

use std::sync::Arc;

use domain::{Repository, StorageError};

/// The readiness use case.
pub struct Health {
    repo: Arc<dyn Repository>,
}

impl Health {
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Self { repo }
    }

    /// The store answers a round trip (within the storage timeout): its kind.
    pub async fn ready(&self) -> Result<&'static str, StorageError> {
        self.repo.ping().await?;
        Ok(self.repo.kind())
    }
}
