//! Timestamps: UTC, millisecond precision, RFC 3339 on the wire.

use chrono::{DateTime, Utc};
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

/// How far ahead of the server's clock a client-supplied time may be: one hour.
pub const CLIENT_TIME_AHEAD_MS: i64 = 3_600_000;

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

    /// `ms` later (earlier when negative), held within the representable years.
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms).clamp(MIN_MILLIS, MAX_MILLIS))
    }

    /// A time a client supplied (`startedAt`, `endedAt`, an event's `timestamp`): refused when
    /// more than [`CLIENT_TIME_AHEAD_MS`] ahead of `now`, the server's clock (so a client cannot
    /// push a session's times, and what is computed from them, into the future).
    pub fn client_time(self, now: Timestamp) -> Result<Self, InvalidValue> {
        if self.0 > now.0.saturating_add(CLIENT_TIME_AHEAD_MS) {
            Err(InvalidValue(
                "must not be more than 1 hour ahead of the server's clock".into(),
            ))
        } else {
            Ok(self)
        }
    }

    /// Renders as `YYYY-MM-DDTHH:MM:SS.mmmZ` (on every read of every event: kept cheap).
    pub fn to_rfc3339(self) -> String {
        String::from_utf8(self.rfc3339_bytes().to_vec()).expect("ASCII digits and separators")
    }

    /// The ASCII bytes of [`Timestamp::to_rfc3339`], with no allocation (a response writes
    /// them straight into its body).
    pub fn rfc3339_bytes(self) -> [u8; 24] {
        let secs = self.0.div_euclid(1000);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let second_of_day = secs.rem_euclid(86_400);
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, second_of_day / 3600);
        put(14, 2, second_of_day % 3600 / 60);
        put(17, 2, second_of_day % 60);
        put(20, 3, self.0.rem_euclid(1000));
        out
    }
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A duration written as a positive whole number and a unit — `500ms`, `30s`, `15m`, `12h`,
/// `90d` — in milliseconds (at most about a thousand years). Settings and schedules use it.
pub fn parse_duration_ms(text: &str) -> Result<u64, InvalidValue> {
    let text = text.trim();
    let bad = || {
        InvalidValue(format!(
            "must be a duration such as 90d, 12h, 15m, 30s or 500ms, not {text:?}"
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    match n.checked_mul(millis_per) {
        Some(ms) if n > 0 && ms <= 1_000 * 365 * 86_400_000 => Ok(ms),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;

    #[test]
    fn client_times_may_be_at_most_an_hour_ahead() {
        let now = Timestamp::from_millis(1_000_000_000_000).unwrap();
        let at = |ms: i64| Timestamp::from_millis(now.millis() + ms).unwrap();
        assert!(at(-86_400_000).client_time(now).is_ok(), "the past");
        assert!(
            at(CLIENT_TIME_AHEAD_MS).client_time(now).is_ok(),
            "an hour ahead"
        );
        assert!(at(CLIENT_TIME_AHEAD_MS + 1).client_time(now).is_err());
        let end = Timestamp::parse_rfc3339("9999-12-31T00:00:00Z").unwrap();
        assert!(end.client_time(now).is_err());
    }

    #[test]
    fn renders_utc_with_millis() {
        let t = Timestamp::parse_rfc3339("2024-05-01T14:00:00.123456+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00.123Z");
        let t = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00.000Z");
    }

    #[test]
    fn formatting_agrees_with_chrono_across_the_range() {
        let mut ms = MIN_MILLIS;
        let step = 99_991_000_037; // ~3 000 points through 0001..9999, odd millis included
        while ms <= MAX_MILLIS {
            let expected = DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(Timestamp(ms).to_rfc3339(), expected, "{ms}");
            ms += step;
        }
        for ms in [
            -1,
            0,
            1,
            951_782_400_000,
            1_709_164_800_000,
            4_107_542_400_000,
        ] {
            let expected = DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(Timestamp(ms).to_rfc3339(), expected, "{ms}");
        }
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
