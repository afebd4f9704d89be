//! Params into the handler's type: integral floats forgiven, failures reported as JSON
//! Pointers in words a caller who wrote JSON understands.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ValidationIssue;

/// Decodes params into the handler's type, reporting where decoding failed as a JSON Pointer.
///
/// Peers may write integers as `5.0` (Python floats, JavaScript numbers); when decoding
/// fails, integral floats are turned into integers and decoding is tried once more. Float
/// fields take integers anyway, so this only ever helps.
pub(super) fn decode<P: DeserializeOwned>(params: Value) -> Result<P, Vec<ValidationIssue>> {
    if let Ok(p) = P::deserialize(&params) {
        return Ok(p);
    }
    let mut normalized = params;
    integralize(&mut normalized);
    serde_path_to_error::deserialize(normalized).map_err(|e| {
        let mut pointer = String::new();
        for seg in e.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        vec![ValidationIssue::new(
            pointer,
            plain_words(&e.inner().to_string()),
        )]
    })
}

/// serde's message said in the caller's terms (the caller wrote JSON, perhaps from Python or
/// TypeScript): JSON kinds instead of Rust type names (`expected i64`), and, as validation
/// messages do, the value itself never quoted (`invalid type: string "secret"` becomes
/// `value is a string`), so params do not leak into logs through a decoding error.
fn plain_words(message: &str) -> String {
    const TYPES: [(&str, &str); 10] = [
        ("i64", "an integer that fits in 64 bits"),
        ("u64", "a non-negative integer that fits in 64 bits"),
        ("i32", "an integer that fits in 32 bits"),
        ("u32", "a non-negative integer that fits in 32 bits"),
        ("i16", "an integer that fits in 16 bits"),
        ("u16", "a non-negative integer that fits in 16 bits"),
        ("i8", "an integer that fits in 8 bits"),
        ("u8", "a non-negative integer that fits in 8 bits"),
        ("f64", "a number"),
        ("f32", "a number"),
    ];
    let expected = |e: &str| {
        TYPES
            .iter()
            .find(|(rust, _)| *rust == e)
            .map_or_else(|| e.to_owned(), |(_, plain)| (*plain).to_owned())
    };
    // serde's `Unexpected` display, by what it starts with, as the JSON kind it was.
    let kind = |unexpected: &str| {
        const KINDS: [(&str, &str); 10] = [
            (
                "floating point",
                "a number that is not an integer within ±2^53",
            ),
            ("integer", "an integer"),
            ("string", "a string"),
            ("char", "a string"),
            ("boolean", "a boolean"),
            ("null", "null"),
            ("unit", "null"),
            ("sequence", "an array"),
            ("map", "an object"),
            ("Option value", "a value"),
        ];
        KINDS
            .iter()
            .find(|(serde, _)| unexpected.starts_with(serde))
            .map_or("a value of another kind", |(_, plain)| plain)
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((unexpected, wanted)) = rest.rsplit_once(", expected ") {
            return format!(
                "value is {}, expected {}",
                kind(unexpected),
                expected(wanted)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((unexpected, wanted)) = rest.rsplit_once(", expected ") {
            return format!(
                "value is {} out of range, expected {}",
                kind(unexpected),
                expected(wanted)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        if let Some((_, wanted)) = rest.split_once(", expected ") {
            return format!("value is not one of the allowed values, expected {wanted}");
        }
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|f| f.strip_suffix('`'))
    {
        return format!("missing required property \"{field}\"");
    }
    message.to_owned()
}

/// Turns every float with no fraction (within ±2^53) into an integer.
fn integralize(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                // The range check makes the cast exact.
                *v = Value::from(f as i64);
            }
            _ => {}
        },
        Value::Array(items) => items.iter_mut().for_each(integralize),
        Value::Object(map) => map.values_mut().for_each(integralize),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_errors_do_not_name_rust_types() {
        let issues = decode::<i64>(serde_json::json!(1e30)).unwrap_err();
        assert_eq!(
            issues[0].message,
            "value is a number that is not an integer within ±2^53, expected an integer that \
             fits in 64 bits"
        );
        assert_eq!(
            plain_words("invalid type: string \"x\", expected f64"),
            "value is a string, expected a number"
        );
    }

    #[test]
    fn decoding_errors_never_quote_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            n: u8,
            kind: Kind,
            name: String,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            A,
        }
        let cases = [
            (
                serde_json::json!({"n": 300, "kind": "a", "name": "x"}),
                "/n",
                "value is an integer out of range, expected a non-negative integer that fits \
                 in 8 bits",
            ),
            (
                serde_json::json!({"n": "secret-1", "kind": "a", "name": "x"}),
                "/n",
                "value is a string, expected a non-negative integer that fits in 8 bits",
            ),
            (
                serde_json::json!({"n": 1, "kind": "secret-2", "name": "x"}),
                "/kind",
                "value is not one of the allowed values, expected `a`",
            ),
            (
                serde_json::json!({"n": 1, "kind": "a"}),
                "",
                "missing required property \"name\"",
            ),
            (
                serde_json::json!({"n": 1, "kind": "a", "name": true}),
                "/name",
                "value is a boolean, expected a string",
            ),
        ];
        for (params, path, message) in cases {
            let issues = decode::<P>(params).unwrap_err();
            assert_eq!(
                (issues[0].path.as_str(), issues[0].message.as_str()),
                (path, message)
            );
            assert!(!issues[0].message.contains("secret"));
        }
    }
}
