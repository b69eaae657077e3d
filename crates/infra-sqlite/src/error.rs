//! One place that maps SQLite errors to the domain's storage errors.

use domain::StorageError;
use rusqlite::ErrorCode;

/// IO trouble, a full disk, a busy or read-only database: worth a retry later (HTTP 503).
/// Anything else is internal.
pub(crate) fn storage_error(err: rusqlite::Error) -> StorageError {
    let unavailable = matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
        )
    );
    if unavailable {
        StorageError::Unavailable(err.to_string())
    } else {
        StorageError::Internal(err.to_string())
    }
}

/// `.storage()?` turns SQLite errors into any port error that embeds [`StorageError`].
pub(crate) trait SqlResultExt<T> {
    fn storage(self) -> Result<T, StorageError>;
}

impl<T> SqlResultExt<T> for Result<T, rusqlite::Error> {
    fn storage(self) -> Result<T, StorageError> {
        self.map_err(storage_error)
    }
}
