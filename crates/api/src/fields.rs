//! Turning a parsed JSON body into domain values, one field at a time, collecting every
//! offending field instead of stopping at the first.

use domain::{InvalidValue, JsonObject, Timestamp, TooLarge};
use serde_json::{Map, Value};

use crate::problem::{ApiError, ErrorCode, FieldError};

pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
    too_large: Option<(&'static str, TooLarge)>,
}

impl Fields {
    /// The body must be a JSON object.
    pub fn of(body: Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(map) => Ok(Self {
                map,
                errors: Vec::new(),
                too_large: None,
            }),
            _ => Err(ApiError::validation(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )])),
        }
    }

    /// A field that must be present.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.map.remove(name) {
            Some(value) => self.check(name, parse(value)),
            None => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
        }
    }

    /// A field that may be absent. `null` counts as absent only when `nullable`.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        nullable: bool,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.map.remove(name) {
            None => None,
            Some(Value::Null) if nullable => None,
            Some(value) => self.check(name, parse(value)),
        }
    }

    /// An optional JSON object field with a size limit (413 when exceeded).
    pub fn object(&mut self, name: &'static str, limit: usize) -> JsonObject {
        let map = self.optional(name, false, |v| match v {
            Value::Object(map) => Ok(map),
            _ => Err("must be a JSON object".to_owned()),
        });
        match map.map(|m| JsonObject::from_map(&m, limit)) {
            None => JsonObject::empty(),
            Some(Ok(object)) => object,
            Some(Err(too_large)) => {
                self.too_large.get_or_insert((name, too_large));
                JsonObject::empty()
            }
        }
    }

    fn check<T>(&mut self, name: &'static str, parsed: Result<T, String>) -> Option<T> {
        parsed
            .map_err(|message| self.errors.push(FieldError::new(name, message)))
            .ok()
    }

    /// Refuses unknown fields, then reports what was collected: 400 for invalid fields, else
    /// 413 for an object over its limit.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<String> = self.map.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.errors
                .push(FieldError::new(name, "is not a known field"));
        }
        if !self.errors.is_empty() {
            return Err(ApiError::validation(self.errors));
        }
        if let Some((name, too_large)) = self.too_large {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("{name} {too_large}"),
            ));
        }
        Ok(())
    }
}

/// A JSON string, handed to a domain constructor.
pub fn string<T>(
    parse: impl FnOnce(String) -> Result<T, InvalidValue>,
) -> impl FnOnce(Value) -> Result<T, String> {
    move |value| match value {
        Value::String(s) => parse(s).map_err(|e| e.0),
        _ => Err("must be a string".to_owned()),
    }
}

/// An RFC 3339 timestamp string.
pub fn timestamp(value: Value) -> Result<Timestamp, String> {
    string(|s| Timestamp::parse_rfc3339(&s))(value)
}

/// A string that must be one of `allowed` (names of an enum).
pub fn one_of<T>(
    parse: impl FnOnce(&str) -> Option<T>,
    allowed: &'static str,
) -> impl FnOnce(Value) -> Result<T, String> {
    move |value| match value {
        Value::String(s) => parse(&s).ok_or_else(|| format!("must be one of {allowed}")),
        _ => Err("must be a string".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::SessionId;
    use serde_json::json;

    #[test]
    fn collects_every_problem() {
        let mut f = Fields::of(json!({"sessionId": 5, "extra": 1, "other": 2})).unwrap();
        let id = f.required("sessionId", string(SessionId::parse));
        let _missing = f.required("type", string(SessionId::parse));
        assert!(id.is_none());
        let err = f.finish().unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["sessionId", "type", "extra", "other"]);
    }

    #[test]
    fn null_is_absent_only_when_nullable() {
        let mut f = Fields::of(json!({"language": null, "status": null})).unwrap();
        assert!(
            f.optional("language", true, string(SessionId::parse))
                .is_none()
        );
        assert!(
            f.optional("status", false, string(SessionId::parse))
                .is_none()
        );
        let err = f.finish().unwrap_err();
        assert_eq!(
            err.errors,
            vec![FieldError::new("status", "must be a string")]
        );
    }

    #[test]
    fn oversized_objects_are_413_after_validation() {
        let mut f = Fields::of(json!({"payload": {"k": "0123456789"}})).unwrap();
        let _ = f.object("payload", 5);
        assert_eq!(f.finish().unwrap_err().code, ErrorCode::PayloadTooLarge);
        assert!(Fields::of(json!([])).is_err());
    }
}
