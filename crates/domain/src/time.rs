//! Timestamps: UTC, millisecond precision, RFC 3339 on the wire.

use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt;

use crate::ids::InvalidValue;

/// A point in time in whole milliseconds since the Unix epoch (UTC), limited to the years
/// 0001–9999 so that it always renders as an RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// 0001-01-01T00:00:00.000Z
const MIN_MILLIS: i64 = -62_135_596_800_000;
/// 9999-12-31T23:59:59.999Z
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// The current time, truncated to milliseconds.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// Wraps milliseconds since the epoch, as stored by an adapter.
    pub fn from_millis(millis: i64) -> Result<Self, InvalidValue> {
        if (MIN_MILLIS..=MAX_MILLIS).contains(&millis) {
            Ok(Self(millis))
        } else {
            Err(InvalidValue(
                "timestamp must lie between years 0001 and 9999".into(),
            ))
        }
    }

    /// Parses an RFC 3339 timestamp with any offset; sub-millisecond digits are truncated.
    pub fn parse_rfc3339(value: &str) -> Result<Self, InvalidValue> {
        let parsed = DateTime::parse_from_rfc3339(value).map_err(|_| {
            InvalidValue("must be an RFC 3339 timestamp such as 2024-05-01T12:00:00.000Z".into())
        })?;
        Self::from_millis(parsed.timestamp_millis())
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Renders as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .expect("a Timestamp is always in range")
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utc_with_millis() {
        let t = Timestamp::parse_rfc3339("2024-05-01T14:00:00.123456+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00.123Z");
        let t = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00.000Z");
    }

    #[test]
    fn refuses_non_rfc3339_and_out_of_range() {
        for bad in [
            "",
            "2024-05-01",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-05-01T12:00:00",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert!(Timestamp::from_millis(MAX_MILLIS + 1).is_err());
        assert!(Timestamp::from_millis(MIN_MILLIS - 1).is_err());
        assert_eq!(
            Timestamp::from_millis(MAX_MILLIS).unwrap().to_rfc3339(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::from_millis(MIN_MILLIS).unwrap().to_rfc3339(),
            "0001-01-01T00:00:00.000Z"
        );
    }
}
