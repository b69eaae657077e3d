//! The one canonical form of a JSON value (decision 34): what "the same payload" means for a
//! replay, and what a redacted payload's fingerprint is the hash of.
//!
//! RFC 8785 (the JSON Canonicalization Scheme): no whitespace; object members sorted by their
//! keys' UTF-16 code units; strings as RFC 8785 §3.2.2.2 writes them (which is what serde_json
//! writes: `\"`, `\\`, `\b \f \n \r \t`, other controls as lowercase `\u00xx`, all else as is);
//! floats as ECMAScript's `Number.prototype.toString` writes the shortest decimal that reads back
//! as the same double (§3.2.2.3: `-0.0` is `0`, `1.0` is `1`, `1e21` is `1e+21`). One deviation:
//! integers, which serde_json keeps exactly as `i64`/`u64`, are written exactly, where RFC 8785
//! would first round them to a double (so that 9007199254740993 and 9007199254740992, two values
//! the API stores and returns exactly, stay two values). An integral float below 10^21 and the
//! integer with the same digits are written alike: `1` and `1.0` are the same number.

use serde_json::{Number, Value};

/// A form of JSON text that [`write`] can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// RFC 8785 with exact integers: the form of replays and of fingerprints.
    Jcs,
    /// The form fingerprints were taken of before decision 34 (keys sorted by their UTF-8 bytes,
    /// numbers as serde_json writes them: `-0.0`, `1.0`, `1e21`). Still read, never written: a
    /// redacted payload cannot be fingerprinted again.
    BeforeJcs,
}

/// `value` in `form`.
pub fn to_string(value: &Value, form: Form) -> String {
    let mut out = String::new();
    write(value, form, &mut out);
    out
}

fn write(value: &Value, form: Form, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            match form {
                Form::Jcs => entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16())),
                Form::BeforeJcs => entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes())),
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(item, form, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, form, out);
            }
            out.push(']');
        }
        Value::Number(number) if form == Form::Jcs => write_number(number, out),
        leaf => out.push_str(&leaf.to_string()),
    }
}

/// Integers exactly; floats as ECMAScript writes them (RFC 8785 §3.2.2.3).
fn write_number(number: &Number, out: &mut String) {
    match number.as_f64() {
        Some(float) if number.is_f64() => write_float(float, out),
        _ => out.push_str(&number.to_string()),
    }
}

/// ECMAScript's `Number::toString` (ECMA-262 §6.1.6.1.20) of a finite double, from the shortest
/// round-trip digits that serde_json writes (the digits ECMAScript chooses too: checked against
/// RFC 8785 Appendix B here, and once against node on 270 000 doubles).
fn write_float(float: f64, out: &mut String) {
    if float == 0.0 {
        out.push('0');
        return;
    }
    if float < 0.0 {
        out.push('-');
    }
    let text = Number::from_f64(float.abs())
        .expect("a JSON number is finite")
        .to_string();
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (
            m,
            e.parse::<i32>()
                .expect("serde_json writes a decimal exponent"),
        ),
        None => (text.as_str(), 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The value is 0.digits × 10^n, digits without leading or trailing zeros.
    let all = format!("{whole}{fraction}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0');
    let k = digits.len() as i32;
    let n = whole.len() as i32 + exponent - leading as i32;
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&e.abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jcs(text: &str) -> String {
        to_string(&serde_json::from_str(text).unwrap(), Form::Jcs)
    }

    /// RFC 8785 Appendix B, every row (the bits of a double → its text).
    #[test]
    fn floats_are_written_as_rfc_8785_appendix_b() {
        for (bits, text) in [
            (0x0000000000000000_u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ] {
            let value = json!(f64::from_bits(bits));
            assert_eq!(to_string(&value, Form::Jcs), text, "{bits:#018x}");
        }
    }

    #[test]
    fn integers_are_exact_and_integral_floats_are_integers() {
        assert_eq!(jcs("9007199254740993"), "9007199254740993");
        assert_eq!(jcs("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(jcs("1.0"), "1");
        assert_eq!(jcs("1"), "1");
        assert_eq!(jcs("-0"), "0");
        assert_eq!(jcs("-0.0"), "0");
        assert_eq!(jcs("1E2"), "100");
        assert_eq!(jcs("0.5e-6"), "5e-7");
        assert_eq!(jcs("123.456e5"), "12345600");
        // A float is the shortest decimal of its double.
        assert_eq!(jcs("0.10000000000000001"), "0.1");
        assert_eq!(jcs("1.152921504606847e18"), "1152921504606847000");
    }

    /// RFC 8785 §3.2.3: keys sorted by UTF-16 code units (U+10000, a surrogate pair, before
    /// U+E000); strings escaped as §3.2.2.2 says.
    #[test]
    fn members_are_sorted_by_utf16_and_strings_escaped_minimally() {
        assert_eq!(
            jcs(r#"{"\ue000":1,"\ud800\udc00":2,"b":3,"a":{"z":[],"y":null}}"#),
            "{\"a\":{\"y\":null,\"z\":[]},\"b\":3,\"\u{10000}\":2,\"\u{e000}\":1}"
        );
        assert_eq!(
            jcs(r#"{"s":"\u0041\/\u001F\b\u007f\u00e9\"\\"}"#),
            "{\"s\":\"A/\\u001f\\b\u{7f}é\\\"\\\\\"}"
        );
        // The form of fingerprints before decision 34: UTF-8 order, serde_json's numbers.
        let before = serde_json::from_str(r#"{"\ue000":-0.0,"\ud800\udc00":1.0}"#).unwrap();
        assert_eq!(
            to_string(&before, Form::BeforeJcs),
            "{\"\u{e000}\":-0.0,\"\u{10000}\":1.0}"
        );
    }
}
