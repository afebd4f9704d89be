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

/// serde's message with Rust type names (`expected i64`) said in the caller's terms: the
/// caller wrote JSON, perhaps from Python or TypeScript.
fn plain_words(message: &str) -> String {
    const TYPES: [(&str, &str); 10] = [
        ("expected i64", "expected an integer that fits in 64 bits"),
        (
            "expected u64",
            "expected a non-negative integer that fits in 64 bits",
        ),
        ("expected i32", "expected an integer that fits in 32 bits"),
        (
            "expected u32",
            "expected a non-negative integer that fits in 32 bits",
        ),
        ("expected i16", "expected an integer that fits in 16 bits"),
        (
            "expected u16",
            "expected a non-negative integer that fits in 16 bits",
        ),
        ("expected i8", "expected an integer that fits in 8 bits"),
        (
            "expected u8",
            "expected a non-negative integer that fits in 8 bits",
        ),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ];
    TYPES.iter().fold(message.to_owned(), |m, (rust, plain)| {
        m.replace(rust, plain)
    })
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
        assert!(!issues[0].message.contains("i64"), "{}", issues[0].message);
        assert!(
            issues[0].message.contains("64 bits"),
            "{}",
            issues[0].message
        );
        assert_eq!(
            plain_words("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
    }
}
