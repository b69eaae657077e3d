//! Identifier newtypes. Each constructor enforces the SPEC pattern, so a value of these types is
//! always valid and safe to put in a URL path, an SQL parameter or a MongoDB filter.

use std::fmt;

/// Why a value was refused by a validating constructor. The message is meant for API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A short human text (a key's name, a webhook's description): 1 to `max_chars` characters, none
/// of them a control character. `what` names the field in the message.
pub(crate) fn bounded_text(
    what: &str,
    value: String,
    max_chars: usize,
) -> Result<String, InvalidValue> {
    let len = value.chars().count();
    if len == 0 || len > max_chars {
        return Err(InvalidValue(format!(
            "{what} must be 1–{max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidValue(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(value)
}

/// The character rules shared by the identifier types.
struct Rule {
    what: &'static str,
    max_len: usize,
    first: fn(u8) -> bool,
    rest: fn(u8) -> bool,
    pattern: &'static str,
}

impl Rule {
    fn check(&self, value: &str) -> Result<(), InvalidValue> {
        let bytes = value.as_bytes();
        if bytes.is_empty() {
            return Err(InvalidValue(format!("{} must not be empty", self.what)));
        }
        if bytes.len() > self.max_len {
            return Err(InvalidValue(format!(
                "{} must be at most {} characters",
                self.what, self.max_len
            )));
        }
        let valid = (self.first)(bytes[0]) && bytes[1..].iter().all(|b| (self.rest)(*b));
        if !valid {
            return Err(InvalidValue(format!(
                "{} must match {}",
                self.what, self.pattern
            )));
        }
        Ok(())
    }
}

fn id_rest(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

const ID_RULE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:-]*$";

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The rule this type enforces, as a regular expression.
            pub const PATTERN: &'static str = $rule.pattern;
            /// The maximum length in characters.
            pub const MAX_LEN: usize = $rule.max_len;

            /// Validates and wraps `value`.
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
                let value = value.into();
                $rule.check(&value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

validated_string!(
    /// A client-chosen session id: 1–128 chars, `^[A-Za-z0-9][A-Za-z0-9._:-]*$`.
    SessionId,
    Rule {
        what: "sessionId",
        max_len: 128,
        first: |b: u8| b.is_ascii_alphanumeric(),
        rest: id_rest,
        pattern: ID_RULE_PATTERN,
    }
);

validated_string!(
    /// A project: the unit of isolation. Every session belongs to one project, and a
    /// `sessionId` is unique within its project only. Same rules as [`SessionId`].
    ProjectId,
    Rule {
        what: "project",
        max_len: 128,
        first: |b: u8| b.is_ascii_alphanumeric(),
        rest: id_rest,
        pattern: ID_RULE_PATTERN,
    }
);

impl ProjectId {
    /// The project of open mode, and of every session stored before projects existed.
    pub const DEFAULT: &'static str = "default";

    /// The project `default`.
    pub fn default_project() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

validated_string!(
    /// A client-chosen event id, unique within its session; same rules as [`SessionId`].
    EventId,
    Rule {
        what: "eventId",
        max_len: 128,
        first: |b: u8| b.is_ascii_alphanumeric(),
        rest: id_rest,
        pattern: ID_RULE_PATTERN,
    }
);

validated_string!(
    /// An event type: 1–64 chars, `^[A-Za-z][A-Za-z0-9_.:-]*$`.
    EventType,
    Rule {
        what: "type",
        max_len: 64,
        first: |b: u8| b.is_ascii_alphabetic(),
        rest: id_rest,
        pattern: "^[A-Za-z][A-Za-z0-9_.:-]*$",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_accepts_the_pattern() {
        for ok in ["a", "A1", "call-1", "x.y_z:w-v", "0abc", &"a".repeat(128)] {
            assert!(SessionId::parse(ok).is_ok(), "{ok}");
            assert!(EventId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn session_id_refuses_everything_else() {
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            ":a",
            "a b",
            "a/b",
            "../x",
            "$gt",
            "a%2Fb",
            "é",
            "ａ",
            "a\n",
            "a\0",
            &"a".repeat(129),
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?}");
            assert!(EventId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_rule() {
        assert_eq!(
            SessionId::parse("").unwrap_err().0,
            "sessionId must not be empty"
        );
        assert_eq!(
            EventId::parse("a".repeat(129)).unwrap_err().0,
            "eventId must be at most 128 characters"
        );
        assert!(
            SessionId::parse("a b")
                .unwrap_err()
                .0
                .contains("must match")
        );
    }

    #[test]
    fn event_type_rules() {
        for ok in [
            "user_speech",
            "bot_speech",
            "system",
            "TRANSCRIPT",
            "a.b:c-d_e",
            &"t".repeat(64),
        ] {
            assert!(EventType::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "_x", "a b", "a/b", &"t".repeat(65)] {
            assert!(EventType::parse(bad).is_err(), "{bad:?}");
        }
    }
}
