//! Free-form JSON objects (session metadata, event payloads).

use serde_json::{Map, Value};

use crate::canonical::{self, Form};
use crate::ids::InvalidValue;

/// A JSON object kept as its compact serialization. Reads hand the text out as it is (no
/// re-parsing on the hot path); equality is JSON value equality, not text equality: two objects
/// are equal when their [canonical forms](JsonObject::canonical) are (decision 34).
#[derive(Debug, Clone)]
pub struct JsonObject(String);

impl JsonObject {
    /// `{}`.
    pub fn empty() -> Self {
        Self("{}".to_owned())
    }

    /// Serializes `map`, refusing it when the text exceeds `max_bytes`.
    pub fn from_map(map: &Map<String, Value>, max_bytes: usize) -> Result<Self, TooLarge> {
        let text = serde_json::to_string(map).expect("a JSON map always serializes");
        if text.len() > max_bytes {
            return Err(TooLarge {
                size: text.len(),
                limit: max_bytes,
            });
        }
        Ok(Self(text))
    }

    /// Wraps `text`, one JSON object (as the API's body parser writes it: compact, never a
    /// tree), refusing it when it exceeds `max_bytes` or is not one JSON object. Checked by a
    /// scan that builds nothing.
    pub fn from_text(text: String, max_bytes: usize) -> Result<Self, ObjectTextError> {
        if text.len() > max_bytes {
            return Err(ObjectTextError::TooLarge(TooLarge {
                size: text.len(),
                limit: max_bytes,
            }));
        }
        let object = text.trim_start().starts_with('{')
            && serde_json::from_str::<&serde_json::value::RawValue>(&text).is_ok();
        if !object {
            return Err(ObjectTextError::Invalid(InvalidValue(
                "must be a JSON object".into(),
            )));
        }
        Ok(Self(text))
    }

    /// Wraps text an adapter stored from [`JsonObject::as_str`]. Reads are hot, so only the
    /// shape (`{…}`) is checked; the text is trusted to be the JSON it was when stored.
    pub fn from_stored(text: String) -> Result<Self, InvalidValue> {
        let t = text.trim();
        if t.starts_with('{') && t.ends_with('}') {
            Ok(Self(text))
        } else {
            Err(InvalidValue("stored JSON is not an object".into()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The parsed value; fails only on corrupt stored text.
    pub fn to_value(&self) -> Result<Value, InvalidValue> {
        serde_json::from_str(&self.0).map_err(|_| InvalidValue("stored JSON is corrupt".into()))
    }

    /// The object's one canonical text (RFC 8785 with exact integers, see [`canonical`]): what
    /// equality compares and what a [`Fingerprint`](crate::Fingerprint) hashes, so that the two
    /// can never disagree. Stored text that is not JSON is its own canonical text (no JSON
    /// text equals it).
    pub fn canonical(&self) -> String {
        self.in_form(Form::Jcs)
    }

    /// The object in `form`; corrupt stored text as it is.
    pub(crate) fn in_form(&self, form: Form) -> String {
        match self.to_value() {
            Ok(value) => canonical::to_string(&value, form),
            Err(_) => self.0.clone(),
        }
    }
}

impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.canonical() == other.canonical()
    }
}

impl Eq for JsonObject {}

/// A JSON object whose serialization exceeds its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is {size} bytes serialized; the limit is {limit} bytes")]
pub struct TooLarge {
    pub size: usize,
    pub limit: usize,
}

/// Why [`JsonObject::from_text`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectTextError {
    #[error(transparent)]
    TooLarge(TooLarge),
    #[error(transparent)]
    Invalid(InvalidValue),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn equality_is_value_equality() {
        let a = JsonObject::from_stored(r#"{"a":1,"b":[1,2]}"#.into()).unwrap();
        let b = JsonObject::from_stored(r#"{ "b": [1, 2], "a": 1 }"#.into()).unwrap();
        let c = JsonObject::from_stored(r#"{"a":1,"b":[2,1]}"#.into()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // One canonical form: -0.0 is 0, 1.0 is 1, escapes are the characters they denote.
        let d = JsonObject::from_stored(r#"{"z":-0.0,"n":1.0,"s":"\u00e9"}"#.into()).unwrap();
        let e = JsonObject::from_stored(r#"{"s":"é","n":1,"z":0}"#.into()).unwrap();
        assert_eq!(d, e);
        assert_eq!(d.canonical(), r#"{"n":1,"s":"é","z":0}"#);
        assert_ne!(
            d,
            JsonObject::from_stored(r#"{"s":"é","n":1.5,"z":0}"#.into()).unwrap()
        );
    }

    #[test]
    fn from_text_takes_one_object_within_its_limit() {
        let text = r#"{"a":[1,{"b":"é"}]}"#;
        let object = JsonObject::from_text(text.into(), text.len()).unwrap();
        assert_eq!(object.as_str(), text);
        assert_eq!(
            JsonObject::from_text(text.into(), text.len() - 1),
            Err(ObjectTextError::TooLarge(TooLarge {
                size: text.len(),
                limit: text.len() - 1
            }))
        );
        for not_one in [
            r#"[1]"#,
            r#""{}""#,
            "1",
            "{",
            r#"{"a":1}{"#,
            r#"{"a":1} x"#,
            "",
        ] {
            assert!(
                matches!(
                    JsonObject::from_text(not_one.into(), 100),
                    Err(ObjectTextError::Invalid(_))
                ),
                "{not_one}"
            );
        }
    }

    #[test]
    fn size_limit_counts_serialized_bytes() {
        let m = obj(json!({"k": "x".repeat(100)}));
        let size = serde_json::to_string(&m).unwrap().len();
        assert!(JsonObject::from_map(&m, size).is_ok());
        assert_eq!(
            JsonObject::from_map(&m, size - 1).unwrap_err(),
            TooLarge {
                size,
                limit: size - 1
            }
        );
    }

    #[test]
    fn stored_text_must_be_an_object() {
        assert!(JsonObject::from_stored("[]".into()).is_err());
        assert!(JsonObject::from_stored("\"{\"".into()).is_err());
        assert_eq!(JsonObject::empty().to_value().unwrap(), json!({}));
        let corrupt = JsonObject::from_stored("{oops}".into()).unwrap();
        assert!(corrupt.to_value().is_err());
        assert_ne!(corrupt, JsonObject::empty());
    }
}
