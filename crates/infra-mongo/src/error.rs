//! One place that maps driver errors to the domain's storage errors.

use domain::StorageError;
use mongodb::error::{Error, ErrorKind, WriteFailure};

const DUPLICATE_KEY: i32 = 11000;
/// Another transaction holds (or took) what this write touches.
const WRITE_CONFLICT: i32 = 112;

/// Server codes meaning "not now, try again": elections, shutdowns, network trouble, timeouts.
const TRANSIENT_CODES: &[i32] = &[
    6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 64,
];

fn code(err: &Error) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => Some(e.code),
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::InsertMany(e) => match (&e.write_concern_error, &e.write_errors) {
            (Some(wce), _) => Some(wce.code),
            (None, Some(errors)) => errors.first().map(|w| w.code),
            (None, None) => None,
        },
        _ => None,
    }
}

/// A unique index refused the write.
pub(crate) fn is_duplicate_key(err: &Error) -> bool {
    code(err) == Some(DUPLICATE_KEY)
}

/// Another transaction wrote what this write touches (a batch's transaction holding a `seq`).
pub(crate) fn is_write_conflict(err: &Error) -> bool {
    code(err) == Some(WRITE_CONFLICT)
}

/// The index at which an ordered `insertMany` stopped because a unique index refused that
/// document, or a batch's transaction holds its `seq` (the documents before it are stored,
/// those after it were not tried). `None` for any other failure, also when the write concern
/// failed.
pub(crate) fn duplicate_at(err: &Error) -> Option<usize> {
    match err.kind.as_ref() {
        ErrorKind::InsertMany(e) if e.write_concern_error.is_none() => e
            .write_errors
            .as_ref()?
            .iter()
            .find(|w| w.code == DUPLICATE_KEY || w.code == WRITE_CONFLICT)
            .map(|w| w.index),
        _ => None,
    }
}

/// For an unordered `insertMany` whose every refused document was refused by a unique index or
/// by a write conflict (a batch's open transaction holds that `seq`): the indexes refused by a
/// write conflict (empty when every refusal was a duplicate: those `seq`s are taken for good).
/// `None` for any other failure, also when the write concern failed.
pub(crate) fn held_by_transactions(err: &Error) -> Option<Vec<usize>> {
    match err.kind.as_ref() {
        ErrorKind::InsertMany(e) if e.write_concern_error.is_none() => {
            let errors = e.write_errors.as_ref()?;
            errors
                .iter()
                .all(|w| w.code == DUPLICATE_KEY || w.code == WRITE_CONFLICT)
                .then(|| {
                    errors
                        .iter()
                        .filter(|w| w.code == WRITE_CONFLICT)
                        .map(|w| w.index)
                        .collect()
                })
        }
        _ => None,
    }
}

pub(crate) fn storage_error(err: Error) -> StorageError {
    let transient = err.contains_label("SystemOverloadedError")
        || matches!(
            err.kind.as_ref(),
            ErrorKind::ServerSelection { .. }
                | ErrorKind::ConnectionPoolCleared { .. }
                | ErrorKind::Io(_)
                | ErrorKind::DnsResolve { .. }
                | ErrorKind::Write(WriteFailure::WriteConcernError(_))
        )
        || matches!(err.kind.as_ref(), ErrorKind::InsertMany(e) if e.write_concern_error.is_some())
        || err.contains_label("RetryableWriteError")
        || code(&err).is_some_and(|c| TRANSIENT_CODES.contains(&c));
    if transient {
        StorageError::Unavailable(err.to_string())
    } else {
        StorageError::Internal(err.to_string())
    }
}

/// `.storage()?` turns driver errors into any port error that embeds [`StorageError`].
pub(crate) trait MongoResultExt<T> {
    fn storage(self) -> Result<T, StorageError>;
}

impl<T> MongoResultExt<T> for Result<T, Error> {
    fn storage(self) -> Result<T, StorageError> {
        self.map_err(storage_error)
    }
}
