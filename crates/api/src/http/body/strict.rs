//! The strict JSON parse of request bodies: it refuses duplicate keys, nesting deeper than
//! [`MAX_DEPTH`] and integers outside the signed 64-bit range. Not valid JSON at all →
//! `malformed-json`; valid JSON breaking a rule → `validation-failed`.
//!
//! Memory: a tree of JSON costs many times the body's bytes when the body is made of tiny
//! values (`[0,0,0,…]`: 2 bytes of text, 32 or more of tree each). So the fields with a size
//! limit of their own ([`Bounds`]: `payload`, `metadata`, the bulk of every body) never become
//! a tree: they are written, while they are parsed, as the compact JSON text they are stored as
//! (exactly what `serde_json::to_string` of their value writes), and the parse's value holds
//! that text as a JSON string in their place. Past its limit nothing more of a field is written
//! (the rest is still read and checked, so syntax and the rules above keep their answers), and
//! the body is refused with 413 `payload-too-large`. What is left of a body (ids, types, times)
//! is a small tree.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;
use std::io;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::http::problem::{ApiError, ErrorCode, FieldError};

/// The deepest nesting of arrays and objects in a request body, counting the body itself.
pub const MAX_DEPTH: usize = 32;

/// Fields with a size limit of their own, by name (wherever they are in the body), in bytes of
/// compact JSON: measured while parsing.
pub type Bounds<'a> = &'a [(&'static str, usize)];

/// Parses `bytes` as one JSON value under the rules of this module, no field bounded.
#[cfg(test)]
pub fn parse_strict(bytes: &[u8]) -> Result<Value, ApiError> {
    parse_bounded(bytes, &[])
}

/// [`parse_strict`], with the fields named in `bounds` (not inside another one) written as
/// their compact JSON text, in a JSON string in their place: one beyond its limit is 413
/// `payload-too-large` (after syntax errors and the rules, which come first).
pub fn parse_bounded(bytes: &[u8], bounds: Bounds<'_>) -> Result<Value, ApiError> {
    let violation = RefCell::new(None);
    let oversized = RefCell::new(None);
    let context = Context {
        violation: &violation,
        bounds,
        oversized: &oversized,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictSeed {
        depth: 0,
        path: None,
        context: &context,
        text: None,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(value) => match (out_of_range_integer(bytes), oversized.into_inner()) {
            (Some(err), _) => Err(ApiError::validation(vec![err])),
            (None, Some((field, limit))) => Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "{field} is more than {limit} bytes serialized; the limit is {limit} bytes"
                ),
            )),
            (None, None) => Ok(value),
        },
        Err(err) => match violation.into_inner() {
            Some(field_error) => Err(ApiError::validation(vec![field_error])),
            None => Err(ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON ({})", describe(&err)),
            )),
        },
    }
}

/// A short, position-bearing description of a syntax error, with no input echoed.
fn describe(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Eof => "unexpected end of input",
        Category::Syntax => "syntax error",
        Category::Io | Category::Data => "unreadable input",
    };
    format!("{what} at line {} column {}", err.line(), err.column())
}

/// A location in the document being parsed, kept on the stack and rendered only on error.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

struct PathNode<'a> {
    parent: Option<&'a PathNode<'a>>,
    segment: Segment<'a>,
}

fn render(path: Option<&PathNode<'_>>) -> String {
    let mut segments = Vec::new();
    let mut node = path;
    while let Some(n) = node {
        segments.push(&n.segment);
        node = n.parent;
    }
    let mut out = String::new();
    for segment in segments.into_iter().rev() {
        match segment {
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "body".to_owned()
    } else {
        out
    }
}

/// What every level of one parse shares.
struct Context<'a> {
    /// The first rule broken.
    violation: &'a RefCell<Option<FieldError>>,
    bounds: Bounds<'a>,
    /// The first bounded field found beyond its limit, and the limit.
    oversized: &'a RefCell<Option<(String, usize)>>,
}

/// The compact JSON text of a bounded field, written while it is parsed (no tree of it is ever
/// built). Past its limit nothing more is written: the field is refused.
struct Text {
    out: RefCell<Vec<u8>>,
    limit: usize,
    spent: Cell<bool>,
}

impl Text {
    fn new(limit: usize) -> Self {
        Self {
            out: RefCell::new(Vec::new()),
            limit,
            spent: Cell::new(false),
        }
    }

    fn len(&self) -> usize {
        self.out.borrow().len()
    }

    /// Appends `n` bytes written by `write`, unless the text would exceed its limit.
    fn append(&self, n: usize, write: impl FnOnce(&mut Vec<u8>)) {
        if self.spent.get() {
            return;
        }
        let mut out = self.out.borrow_mut();
        if out.len() + n > self.limit {
            self.spent.set(true);
            *out = Vec::new();
        } else {
            write(&mut out);
        }
    }

    fn raw(&self, bytes: &[u8]) {
        self.append(bytes.len(), |out| out.extend_from_slice(bytes));
    }

    /// A string or number, as `serde_json` writes it.
    fn json(&self, value: &(impl serde::Serialize + ?Sized)) {
        self.append(compact_len(value), |out| {
            serde_json::to_writer(out, value).expect("a scalar serializes");
        });
    }

    /// Takes back what was written since `len` (a comma before an item that was not there).
    fn truncate(&self, len: usize) {
        if !self.spent.get() {
            self.out.borrow_mut().truncate(len);
        }
    }

    /// The text, or `None` if the field went past its limit.
    fn into_string(self) -> Option<String> {
        if self.spent.get() {
            return None;
        }
        Some(String::from_utf8(self.out.into_inner()).expect("serde_json writes UTF-8"))
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The length of `value` as compact JSON (what `serde_json::to_string` writes).
fn compact_len(value: &(impl serde::Serialize + ?Sized)) -> usize {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).expect("a scalar serializes");
    counter.0
}

/// An object's key, borrowed from the body when it holds no escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Reads one value under the rules. Outside bounded fields it builds the value's tree; inside
/// one (`text`) it writes the compact JSON text instead and yields `null`.
struct StrictSeed<'a, 'p> {
    /// How many arrays and objects enclose the value.
    depth: usize,
    path: Option<&'p PathNode<'p>>,
    context: &'a Context<'a>,
    /// Inside a bounded field: its text.
    text: Option<&'p Text>,
}

impl<'a> StrictSeed<'a, '_> {
    fn refuse<E: de::Error>(&self, path: Option<&PathNode<'_>>, message: String) -> E {
        self.context
            .violation
            .borrow_mut()
            .get_or_insert_with(|| FieldError::new(render(path), message));
        E::custom("rule violated")
    }

    fn nested<E: de::Error>(&self) -> Result<usize, E> {
        if self.depth >= MAX_DEPTH {
            Err(self.refuse(
                self.path,
                format!("nesting deeper than {MAX_DEPTH} levels is not allowed"),
            ))
        } else {
            Ok(self.depth + 1)
        }
    }

    /// The seed of a value inside this one.
    fn child<'q>(
        &self,
        depth: usize,
        node: &'q PathNode<'q>,
        text: Option<&'q Text>,
    ) -> StrictSeed<'a, 'q> {
        StrictSeed {
            depth,
            path: Some(node),
            context: self.context,
            text,
        }
    }

    /// A scalar: written to the text inside a bounded field, else the value itself.
    fn scalar(&self, value: Value) -> Value {
        match self.text {
            Some(text) => {
                text.json(&value);
                Value::Null
            }
            None => value,
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(self.scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(self.scalar(Value::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(v) => Ok(self.scalar(Value::Number(v.into()))),
            Err(_) => Err(self.refuse(self.path, out_of_range_message(&v.to_string()))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(|n| self.scalar(Value::Number(n)))
            .ok_or_else(|| self.refuse(self.path, "number cannot be stored exactly".into()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        match self.text {
            Some(text) => {
                text.json(v);
                Ok(Value::Null)
            }
            None => Ok(Value::String(v.to_owned())),
        }
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        match self.text {
            Some(text) => {
                text.json(&v);
                Ok(Value::Null)
            }
            None => Ok(Value::String(v)),
        }
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(self.scalar(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.nested()?;
        let mut items = Vec::new();
        if let Some(text) = self.text {
            text.raw(b"[");
        }
        for index in 0.. {
            let node = PathNode {
                parent: self.path,
                segment: Segment::Index(index),
            };
            let before = self.text.map(Text::len);
            if let (Some(text), true) = (self.text, index > 0) {
                text.raw(b",");
            }
            match seq.next_element_seed(self.child(depth, &node, self.text))? {
                Some(item) if self.text.is_none() => items.push(item),
                Some(_) => {}
                None => {
                    if let (Some(text), Some(len)) = (self.text, before) {
                        text.truncate(len);
                    }
                    break;
                }
            }
        }
        match self.text {
            Some(text) => {
                text.raw(b"]");
                Ok(Value::Null)
            }
            None => Ok(Value::Array(items)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let depth = self.nested()?;
        let mut map = Map::new();
        // The keys seen, for the duplicate rule (in a tree, the map itself).
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        if let Some(text) = self.text {
            text.raw(b"{");
        }
        while let Some(key) = access.next_key_seed(KeySeed)? {
            let node = PathNode {
                parent: self.path,
                segment: Segment::Key(&key),
            };
            if map.contains_key(key.as_ref()) || seen.contains(&key) {
                return Err(self.refuse(Some(&node), "duplicate key".into()));
            }
            if let Some(text) = self.text {
                if !seen.is_empty() {
                    text.raw(b",");
                }
                text.json(key.as_ref());
                text.raw(b":");
                access.next_value_seed(self.child(depth, &node, Some(text)))?;
                seen.insert(key);
                continue;
            }
            // A bounded field is written as text, by its own limit.
            let bound = self.context.bounds.iter().find(|(name, _)| *name == key);
            let value = match bound {
                Some(&(_, limit)) => {
                    let text = Text::new(limit);
                    access.next_value_seed(self.child(depth, &node, Some(&text)))?;
                    match text.into_string() {
                        Some(text) => Value::String(text),
                        None => {
                            self.context
                                .oversized
                                .borrow_mut()
                                .get_or_insert_with(|| (render(Some(&node)), limit));
                            Value::Null
                        }
                    }
                }
                None => access.next_value_seed(self.child(depth, &node, None))?,
            };
            map.insert(key.into_owned(), value);
        }
        match self.text {
            Some(text) => {
                text.raw(b"}");
                Ok(Value::Null)
            }
            None => Ok(Value::Object(map)),
        }
    }
}

fn out_of_range_message(literal: &str) -> String {
    format!("integer {literal} is outside the signed 64-bit range")
}

/// serde_json reads integer literals beyond `u64` as floats, losing them; find such literals in
/// the (already valid) document. Names the top-level key that holds the first one.
fn out_of_range_integer(bytes: &[u8]) -> Option<FieldError> {
    let mut i = 0;
    let mut depth = 0usize;
    let mut last_string = (0, 0);
    let mut top_key: Option<(usize, usize)> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                last_string = (start, i.min(bytes.len()));
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b':' => {
                if depth == 1 {
                    top_key = Some(last_string);
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let literal = &bytes[start..i];
                let integer = !literal.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
                let literal = std::str::from_utf8(literal).unwrap_or("");
                if integer && literal.parse::<i64>().is_err() {
                    let field = top_key
                        .and_then(|(s, e)| serde_json::from_slice::<String>(&bytes[s..e]).ok())
                        .unwrap_or_else(|| "body".to_owned());
                    return Some(FieldError::new(field, out_of_range_message(literal)));
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(input: &str) -> ErrorCode {
        parse_strict(input.as_bytes()).unwrap_err().code
    }

    fn field(input: &str) -> String {
        let err = parse_strict(input.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed, "{input}");
        err.errors[0].field.clone()
    }

    #[test]
    fn accepts_ordinary_json_exactly() {
        let input = r#"{"$where":"x","a.b":1,"":[1,[2,[3]]],"ü":"日本","max":9223372036854775807,"min":-9223372036854775808,"f":1.5}"#;
        let v = parse_strict(input.as_bytes()).unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(input).unwrap());
        assert_eq!(v["max"], json!(i64::MAX));
        // key order is preserved
        assert_eq!(v.as_object().unwrap().keys().next().unwrap(), "$where");
    }

    #[test]
    fn syntax_errors_are_malformed() {
        for input in [
            "",
            "{",
            "{\"a\":}",
            "{\"a\":1} x",
            "nul",
            "{'a':1}",
            "[1,]",
            "{\"a\":1,}",
        ] {
            assert_eq!(code(input), ErrorCode::MalformedJson, "{input}");
        }
        assert_eq!(
            parse_strict(b"{\"a\":\"\xff\"}").unwrap_err().code,
            ErrorCode::MalformedJson
        );
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        assert_eq!(field(r#"{"a":1,"a":2}"#), "a");
        assert_eq!(
            field(r#"{"payload":{"x":[{"k":1,"k":1}]}}"#),
            "payload.x[0].k"
        );
    }

    #[test]
    fn depth_is_limited() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_strict(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(code(&deep), ErrorCode::ValidationFailed);
        let very_deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(code(&very_deep), ErrorCode::ValidationFailed);
        let deep_obj = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(code(&deep_obj), ErrorCode::ValidationFailed);
    }

    /// `{"p": value}` parsed with `p` bounded to `limit`.
    fn bounded(value: &str, limit: usize) -> Result<Value, ApiError> {
        parse_bounded(format!(r#"{{"p": {value}}}"#).as_bytes(), &[("p", limit)])
    }

    #[test]
    fn a_bounded_field_is_measured_as_the_compact_json_it_is_stored_as() {
        for value in [
            r#"{}"#,
            r#"[]"#,
            r#"{"a": 1, "b": [true, false, null], "c": {"d": -12.5e3, "e": ""}}"#,
            r#"{"quote\"d": "tab\t, \u0001, \\ and é 日本 😀 \u00e9", "x": [[], {}, [1, [2, {"y": 0}]]]}"#,
            r#"{"f": 1.0, "g": 1e300, "h": -0.0, "i": 9223372036854775807, "j": -9223372036854775808}"#,
            r#"[ 1 , 2 ,	3 ]"#,
            r#""just text""#,
        ] {
            let exact = serde_json::to_string(&serde_json::from_str::<Value>(value).unwrap())
                .unwrap()
                .len();
            let parsed = bounded(value, exact).unwrap_or_else(|e| panic!("{value}: {e}"));
            // The field's value is its text, exactly what serde_json writes for it.
            let compact =
                serde_json::to_string(&serde_json::from_str::<Value>(value).unwrap()).unwrap();
            assert_eq!(parsed["p"], Value::String(compact), "{value}");
            let err = bounded(value, exact - 1).unwrap_err();
            assert_eq!(err.code, ErrorCode::PayloadTooLarge, "{value}");
            assert!(err.detail.starts_with("p is more than"), "{}", err.detail);
        }
    }

    #[test]
    fn bounded_fields_are_text_wherever_they_are_and_the_rest_a_tree() {
        let body = r#"{"events":[{"eventId":"a","payload":{"n":[1, 2],"payload":{}}},{"payload":"x"}],"metadata":{"k":null}}"#;
        let parsed =
            parse_bounded(body.as_bytes(), &[("payload", 100), ("metadata", 100)]).unwrap();
        assert_eq!(
            parsed,
            json!({"events": [
                {"eventId": "a", "payload": r#"{"n":[1,2],"payload":{}}"#},
                {"payload": r#""x""#},
            ], "metadata": r#"{"k":null}"#})
        );
    }

    #[test]
    fn an_oversized_field_is_refused_while_parsing_wherever_it_is() {
        // 2 million tiny values: a tree of tens of MB, a refusal after the first 64 KiB.
        let zeros = format!("[{}0]", "0,".repeat(2_000_000));
        let body = format!(r#"{{"events":[{{"eventId":"a","payload":{{"z":{zeros}}}}}]}}"#);
        let err = parse_bounded(body.as_bytes(), &[("payload", 65_536)]).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(
            err.detail
                .starts_with("events[0].payload is more than 65536 bytes"),
            "{}",
            err.detail
        );
        // Unbounded, the same body is a whole tree.
        assert!(parse_strict(body.as_bytes()).is_ok());
    }

    #[test]
    fn syntax_and_the_rules_still_come_before_the_size() {
        let big = format!("[{}0]", "0,".repeat(100_000));
        let limit = &[("payload", 1_000)];
        for (body, code) in [
            // The syntax error lies after the limit was passed: still malformed.
            (
                format!(r#"{{"payload":{{"z":{big}, }}}}"#),
                ErrorCode::MalformedJson,
            ),
            (
                format!(r#"{{"payload":{{"z":{big}}}"#),
                ErrorCode::MalformedJson,
            ),
            // A duplicate key, nesting or an integer out of range past the limit: still named.
            (
                format!(r#"{{"payload":{{"z":{big},"z":1}}}}"#),
                ErrorCode::ValidationFailed,
            ),
            (
                format!(
                    r#"{{"payload":{{"z":{big},"d":{}{}}}}}"#,
                    "[".repeat(40),
                    "]".repeat(40)
                ),
                ErrorCode::ValidationFailed,
            ),
            (
                format!(r#"{{"payload":{{"z":{big},"n":99999999999999999999}}}}"#),
                ErrorCode::ValidationFailed,
            ),
            (
                format!(r#"{{"payload":{{"z":{big}}}}}"#),
                ErrorCode::PayloadTooLarge,
            ),
        ] {
            assert_eq!(
                parse_bounded(body.as_bytes(), limit).unwrap_err().code,
                code,
                "{}",
                &body[..40]
            );
        }
        assert_eq!(
            field_of(parse_bounded(
                format!(r#"{{"payload":{{"z":{big},"z":1}}}}"#).as_bytes(),
                limit
            )),
            "payload.z"
        );
    }

    fn field_of(result: Result<Value, ApiError>) -> String {
        result.unwrap_err().errors[0].field.clone()
    }

    #[test]
    fn integers_outside_i64_are_refused() {
        assert_eq!(
            field(r#"{"payload":{"n":9223372036854775808}}"#),
            "payload.n"
        );
        assert_eq!(
            field(r#"{"payload":{"n":-9223372036854775809}}"#),
            "payload"
        );
        assert_eq!(
            field(r#"{"payload":{"s":"\"","n":[123456789012345678901234567890]}}"#),
            "payload"
        );
        assert_eq!(field("[18446744073709551616]"), "body");
        // floats are fine, also in exponent form
        assert!(parse_strict(br#"{"a":1e300,"b":-2.5E-3,"c":"99999999999999999999"}"#).is_ok());
    }
}
