//! Redaction never changes a replay's answer (issue 22 item 5): for generated pairs of payloads,
//! a retry is decided the same way against the stored event and against that event redacted
//! (decision 34: both compare the payloads' one canonical form, the fingerprint is its SHA-256).
//!
//! The retry is the stored payload written another way that is the same JSON (keys in another
//! order, `-0.0`/`0`, `1`/`1.0`, `e`/`E+`, strings with `\u` escapes, whitespace), or a payload
//! with one member more, or another payload altogether; either side may be the rewritten one.

use domain::{
    AppendOutcome, Event, EventId, EventType, JsonObject, NewEvent, SessionId, SessionState,
    Timestamp,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// A small deterministic stream of choices (xorshift64), so that one generated seed decides
/// every way the payload is rewritten.
struct Choices(u64);

impl Choices {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn flip(&mut self) -> bool {
        self.below(2) == 0
    }
}

fn space(c: &mut Choices, out: &mut String) {
    out.push_str(["", "", " ", "\n\t"][c.below(4) as usize]);
}

/// `value` as JSON text, written one of the many ways that denote the same JSON value.
fn rewrite(value: &Value, c: &mut Choices, out: &mut String) {
    space(c, out);
    match value {
        Value::Null | Value::Bool(_) => out.push_str(&value.to_string()),
        Value::String(s) => string(s, c, out),
        Value::Number(n) => number(n, c, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                rewrite(item, c, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            for i in (1..entries.len()).rev() {
                entries.swap(i, c.below(i as u64 + 1) as usize);
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(c, out);
                string(key, c, out);
                space(c, out);
                out.push(':');
                rewrite(item, c, out);
            }
            out.push('}');
        }
    }
    space(c, out);
}

/// Each character as itself (escaped where JSON needs it) or as `\u` escapes (a surrogate pair
/// beyond the BMP, upper or lower case hex); `/` maybe as `\/`.
fn string(s: &str, c: &mut Choices, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        if c.below(3) == 0 {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                if c.flip() {
                    out.push_str(&format!("\\u{unit:04x}"));
                } else {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        } else if ch == '/' && c.flip() {
            out.push_str("\\/");
        } else {
            let quoted = Value::String(ch.to_string()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
    }
    out.push('"');
}

/// The same number: a zero with either sign, in integer, fraction or exponent form; an integer
/// (or an integral float) up to 10^9 as an integer or as a float (small enough for every
/// spelling to parse exactly); any other number as serde_json writes it, its exponent maybe as
/// `E`, or without its `+`.
fn number(n: &serde_json::Number, c: &mut Choices, out: &mut String) {
    let as_f64 = n.as_f64().expect("a JSON number");
    if as_f64 == 0.0 {
        out.push_str(["0", "-0", "0.0", "-0.0", "0e7", "-0E-2"][c.below(6) as usize]);
        return;
    }
    if as_f64.fract() == 0.0 && as_f64.abs() <= 1e9 {
        let digits = format!("{as_f64:.0}");
        match c.below(4) {
            0 => out.push_str(&digits),
            1 => out.push_str(&format!("{digits}.0")),
            2 => out.push_str(&format!("{digits}e0")),
            _ => out.push_str(&n.to_string()),
        }
        return;
    }
    let text = n.to_string();
    match c.below(3) {
        0 => out.push_str(&text.replace('e', "E")),
        1 if text.contains("e+") => out.push_str(&text.replace("e+", "e")),
        _ => out.push_str(&text),
    }
}

fn chars() -> impl Strategy<Value = String> {
    let interesting = prop::sample::select(vec![
        'a',
        'b',
        'é',
        '"',
        '\\',
        '/',
        '\n',
        '\u{1}',
        '\u{1f}',
        '\u{7f}',
        '\u{2028}',
        '\u{e000}',
        '\u{ffff}',
        '\u{10000}',
        '\u{1f600}',
    ]);
    prop::collection::vec(prop_oneof![interesting, any::<char>()], 0..5)
        .prop_map(|chars| chars.into_iter().collect())
}

fn leaf() -> impl Strategy<Value = Value> {
    let integers = prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            -1,
            10,
            9_007_199_254_740_993,
            i64::MAX,
            i64::MIN
        ]),
        -1000i64..1000,
        any::<i64>(),
    ];
    let floats = prop_oneof![
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e21,
            1e-7,
            5e-324,
            f64::MAX,
            1e23
        ]),
        (-1000i32..1000).prop_map(f64::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ];
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        integers.prop_map(Value::from),
        floats.prop_map(Value::from),
        chars().prop_map(Value::String),
    ]
}

fn object(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((chars(), inner), 0..5).prop_map(|members| members.into_iter().collect())
}

fn payload() -> impl Strategy<Value = Map<String, Value>> {
    let value = leaf().prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            object(inner).prop_map(Value::Object),
        ]
    });
    object(value)
}

/// How the retry's payload relates to the stored one.
#[derive(Debug, Clone)]
enum Retry {
    /// The same JSON, written another way.
    Same,
    /// One member more.
    Extra(Value),
    /// Another generated payload.
    Other(Map<String, Value>),
}

fn retry() -> impl Strategy<Value = Retry> {
    prop_oneof![
        2 => Just(Retry::Same),
        1 => leaf().prop_map(Retry::Extra),
        1 => payload().prop_map(Retry::Other),
    ]
}

/// The payload as the API hands it to the domain: the text parsed, then serialized.
fn received(text: &str) -> JsonObject {
    let map: Map<String, Value> = serde_json::from_str(text).expect("rewritten text is JSON");
    JsonObject::from_map(&map, usize::MAX).expect("no limit")
}

fn new_event(payload: JsonObject) -> NewEvent {
    NewEvent::new(
        EventId::parse("e1").unwrap(),
        EventType::parse("user_speech").unwrap(),
        payload,
    )
}

fn stored(payload: JsonObject) -> Event {
    new_event(payload).to_event(
        &SessionId::parse("s").unwrap(),
        1,
        Timestamp::from_millis(50).unwrap(),
    )
}

const OPEN: SessionState = SessionState::Open { last_seq: 1 };

/// The retry decided against the stored event, then against it redacted.
fn before_and_after(stored_text: &str, retry_text: &str) -> (AppendOutcome, AppendOutcome) {
    let mut existing = stored(received(stored_text));
    let retry = new_event(received(retry_text));
    let before = retry.decide(OPEN, Some(&existing));
    assert!(existing.redact(Timestamp::from_millis(60).unwrap()));
    assert_eq!(existing.payload, JsonObject::empty());
    (before, retry.decide(OPEN, Some(&existing)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn redaction_keeps_the_answer_to_a_retry(
        original in payload(),
        relation in retry(),
        seed in any::<u64>(),
        swap in any::<bool>(),
    ) {
        let mut choices = Choices::new(seed);
        let plain = Value::Object(original.clone()).to_string();
        let mut other = match &relation {
            Retry::Same => original.clone(),
            Retry::Extra(value) => {
                let mut more = original.clone();
                more.insert("\u{0}extra".to_owned(), value.clone());
                more
            }
            Retry::Other(map) => map.clone(),
        };
        let mut rewritten = String::new();
        rewrite(&Value::Object(std::mem::take(&mut other)), &mut choices, &mut rewritten);
        let (stored_text, retry_text) = if swap {
            (rewritten.as_str(), plain.as_str())
        } else {
            (plain.as_str(), rewritten.as_str())
        };
        let (before, after) = before_and_after(stored_text, retry_text);
        prop_assert_eq!(before, after, "stored {} retry {}", stored_text, retry_text);
        match relation {
            Retry::Same => prop_assert_eq!(before, AppendOutcome::Replay),
            Retry::Extra(_) => prop_assert_eq!(before, AppendOutcome::Conflict),
            Retry::Other(_) => {}
        }
    }
}

/// The case of the issue, and its neighbours, spelled out.
#[test]
fn equal_numbers_replay_before_and_after_redaction() {
    for (stored_text, retry_text) in [
        (r#"{"x":-0.0}"#, r#"{"x":0.0}"#),
        (r#"{"x":0.0}"#, r#"{"x":-0.0}"#),
        (r#"{"x":-0.0}"#, r#"{"x":0}"#),
        (r#"{"x":1}"#, r#"{"x":1.0}"#),
        (
            r#"{"x":[1.0,{"b":1e21,"a":-0}]}"#,
            r#"{"x":[1,{"a":0,"b":1E+21}]}"#,
        ),
        (r#"{"é":"\u00e9"}"#, r#"{"\u00E9":"é"}"#),
    ] {
        assert_eq!(
            before_and_after(stored_text, retry_text),
            (AppendOutcome::Replay, AppendOutcome::Replay),
            "stored {stored_text} retry {retry_text}"
        );
    }
    for (stored_text, retry_text) in [
        (r#"{"x":1}"#, r#"{"x":1.5}"#),
        (r#"{"x":9007199254740993}"#, r#"{"x":9007199254740992}"#),
        (r#"{"x":0.1}"#, r#"{"x":0.2}"#),
        (r#"{"x":"1"}"#, r#"{"x":1}"#),
    ] {
        assert_eq!(
            before_and_after(stored_text, retry_text),
            (AppendOutcome::Conflict, AppendOutcome::Conflict),
            "stored {stored_text} retry {retry_text}"
        );
    }
}
