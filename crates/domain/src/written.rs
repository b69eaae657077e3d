//! [`Written`]: the answer of every idempotent write.

/// The result of an idempotent write: the stored value, and whether it was already stored
/// (`replayed`) rather than written by this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Written<T> {
    /// Written by this call.
    pub fn created(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }

    /// Stored already: this call changed nothing.
    pub fn replayed(value: T) -> Self {
        Self {
            value,
            replayed: true,
        }
    }
}
