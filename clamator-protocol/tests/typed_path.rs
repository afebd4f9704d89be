//! The typed path. `SchemaValidator::surely_accepts` (its check, read from JSON text) never says
//! "surely" of a value `validate` (the `jsonschema` crate) refuses: on generated schemas and
//! payloads, and on every schema of the golden contracts and the example contracts with
//! payloads made from them, valid ones and broken ones, strict and with `null` for optional
//! properties. Where it is not sure, the server takes the `jsonschema` path, so agreeing this
//! way is agreeing on every answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use clamator_protocol::SchemaValidator;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// A small deterministic generator (xorshift), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: [&str; 5] = ["a", "b", "c", "d", "é~/"];

const STRINGS: [&str; 14] = [
    "",
    "a",
    "aa",
    "12",
    "abc",
    "héllo wörld",
    "2024-02-29T12:30:00Z",
    "2024-13-01T00:00:00Z",
    "2024-02-29",
    "08:30:06",
    "123e4567-e89b-12d3-a456-426614174000",
    "someone@example.com",
    "b\"q\\u0000",
    "red",
];

fn numbers() -> Vec<Value> {
    vec![
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(3),
        json!(10),
        json!(100),
        json!(1.0),
        json!(2.5),
        json!(-0.5),
        json!(1e20),
        json!(9_007_199_254_740_993_u64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e300),
    ]
}

/// A random value, up to `depth` levels of arrays and objects.
fn any_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => rng.pick(&numbers()).clone(),
        3 | 4 => Value::String((*rng.pick(&STRINGS)).to_owned()),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| any_value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert((*rng.pick(&KEYS)).to_owned(), any_value(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

/// A random schema of the kinds contracts use, and some they do not.
fn any_schema(rng: &mut Rng, depth: usize, defs: bool) -> Value {
    if defs && rng.chance(10) {
        return json!({"$ref": *rng.pick(&["#/definitions/x", "#/$defs/y", "#"])});
    }
    if rng.chance(5) {
        return json!({});
    }
    if rng.chance(4) {
        return json!(true);
    }
    let mut m = Map::new();
    let kinds = [
        "null", "boolean", "integer", "number", "string", "array", "object",
    ];
    let kind = if depth == 0 {
        *rng.pick(&kinds[..5])
    } else {
        *rng.pick(&kinds)
    };
    if rng.chance(85) {
        m.insert(
            "type".into(),
            if rng.chance(15) {
                json!([kind, *rng.pick(&kinds)])
            } else {
                json!(kind)
            },
        );
    }
    let maybe = |m: &mut Map<String, Value>, rng: &mut Rng, key: &str, v: Value| {
        if rng.chance(25) {
            m.insert(key.into(), v);
        }
    };
    let num = |rng: &mut Rng| rng.pick(&numbers()[..11]).clone();
    match kind {
        "integer" | "number" => {
            for key in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
                let v = num(rng);
                maybe(&mut m, rng, key, v);
            }
            let v = rng.pick(&[json!(2), json!(3), json!(0.5)]).clone();
            maybe(&mut m, rng, "multipleOf", v);
        }
        "string" => {
            let v = json!(rng.below(4));
            maybe(&mut m, rng, "minLength", v);
            let v = json!(rng.below(6));
            maybe(&mut m, rng, "maxLength", v);
            let v = json!(*rng.pick(&["^a", "b+$", "^[0-9]{2}$", "\\d", "^\\w+$", "(?=a)a", "é"]));
            maybe(&mut m, rng, "pattern", v);
            let v =
                json!(*rng.pick(&["date-time", "date", "time", "uuid", "email", "uri", "int64"]));
            maybe(&mut m, rng, "format", v);
            let v = json!(["a", "red", "", null, true]);
            maybe(&mut m, rng, "enum", v);
        }
        "array" if depth > 0 => {
            let v = any_schema(rng, depth - 1, defs);
            maybe(&mut m, rng, "items", v);
            let v = json!(rng.below(3));
            maybe(&mut m, rng, "minItems", v);
            let v = json!(rng.below(4));
            maybe(&mut m, rng, "maxItems", v);
            maybe(&mut m, rng, "uniqueItems", json!(true));
        }
        "object" if depth > 0 => {
            let mut props = Map::new();
            let mut required = Vec::new();
            for key in KEYS {
                if rng.chance(50) {
                    props.insert(key.into(), any_schema(rng, depth - 1, defs));
                    if rng.chance(50) {
                        required.push(json!(key));
                    }
                }
            }
            m.insert("properties".into(), Value::Object(props));
            m.insert("required".into(), Value::Array(required));
            let v = match rng.below(3) {
                0 => json!(false),
                1 => json!(true),
                _ => any_schema(rng, depth - 1, defs),
            };
            maybe(&mut m, rng, "additionalProperties", v);
            let v = json!(rng.below(4));
            maybe(&mut m, rng, "maxProperties", v);
            let v = json!(rng.below(3));
            maybe(&mut m, rng, "minProperties", v);
        }
        _ => {}
    }
    if rng.chance(5) {
        m.insert("const".into(), json!(*rng.pick(&["a", "red"])));
    }
    if rng.chance(5) && depth > 0 {
        m.insert(
            "anyOf".into(),
            json!([any_schema(rng, depth - 1, defs), {"type": "null"}]),
        );
    }
    Value::Object(m)
}

/// A value made after `schema` (mostly conforming), with now and then a part of another
/// kind; `root` resolves `$ref`s.
fn value_for(rng: &mut Rng, schema: &Value, root: &Value, depth: usize) -> Value {
    if depth == 0 || rng.chance(8) {
        return any_value(rng, 1);
    }
    let Some(m) = schema.as_object() else {
        return any_value(rng, 2);
    };
    if let Some(target) = m.get("$ref").and_then(Value::as_str) {
        let pointer = target.trim_start_matches('#');
        return match root.pointer(pointer) {
            Some(s) => value_for(rng, s, root, depth - 1),
            None => any_value(rng, 2),
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = m.get(key) {
            if !branches.is_empty() {
                let branch = rng.pick(branches).clone();
                return value_for(rng, &branch, root, depth - 1);
            }
        }
    }
    if let Some(Value::Array(values)) = m.get("enum") {
        if !values.is_empty() {
            return rng.pick(values).clone();
        }
    }
    if let Some(c) = m.get("const") {
        return c.clone();
    }
    let kind = match m.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) if !ts.is_empty() => {
            rng.pick(ts).as_str().unwrap_or("null").to_owned()
        }
        _ => (*rng.pick(&["string", "object", "integer"])).to_owned(),
    };
    match kind.as_str() {
        "null" => Value::Null,
        "boolean" => Value::Bool(rng.chance(50)),
        "integer" => rng
            .pick(&[
                json!(0),
                json!(1),
                json!(2),
                json!(5),
                json!(-3),
                json!(42),
                json!(4.0),
            ])
            .clone(),
        "number" => rng.pick(&numbers()[..11]).clone(),
        "string" => Value::String((*rng.pick(&STRINGS)).to_owned()),
        "array" => {
            let items = m.get("items").cloned().unwrap_or(json!({}));
            Value::Array(
                (0..rng.below(4))
                    .map(|_| value_for(rng, &items, root, depth - 1))
                    .collect(),
            )
        }
        _ => {
            let mut out = Map::new();
            let required: Vec<&str> = m
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(Value::Object(props)) = m.get("properties") {
                for (name, sub) in props {
                    let wanted = required.contains(&name.as_str()) || rng.chance(60);
                    if wanted && !rng.chance(3) {
                        let v = if rng.chance(10) {
                            Value::Null
                        } else {
                            value_for(rng, sub, root, depth - 1)
                        };
                        out.insert(name.clone(), v);
                    }
                }
            }
            if rng.chance(10) {
                let extra = m.get("additionalProperties").cloned().unwrap_or(json!({}));
                let v = value_for(rng, &extra, root, depth - 1);
                out.insert((*rng.pick(&KEYS)).to_owned(), v);
            }
            Value::Object(out)
        }
    }
}

/// `value` as text, sometimes spaced out, sometimes with an object member written twice
/// (the first one another value: JSON readers keep the last).
fn text_of(rng: &mut Rng, value: &Value) -> String {
    match value {
        Value::Object(m) => {
            let mut parts = Vec::new();
            for (k, v) in m {
                if rng.chance(5) {
                    let other = any_value(rng, 1);
                    parts.push(format!("{}:{}", json!(k), text_of(rng, &other)));
                }
                parts.push(format!("{}: {}", json!(k), text_of(rng, v)));
            }
            format!("{{ {} }}", parts.join(" ,"))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|v| text_of(rng, v)).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// Checks one text against one schema, strictly and with `null` for optional properties;
/// returns how many times it was surely accepted.
fn agree(schema: &Value, text: &str) -> usize {
    let Ok(strict) = SchemaValidator::new(schema.clone()) else {
        return 0;
    };
    let value: Value = serde_json::from_str(text).expect("the generated text is JSON");
    let mut sure = 0;
    for v in [strict.clone(), strict.accepting_null_for_optional()] {
        let refused = v.validate(&value).is_err();
        if v.surely_accepts(text) {
            sure += 1;
            assert!(
                !refused,
                "surely accepted but refused\nschema: {schema}\ntext: {text}"
            );
        }
        // The same value checked as it is serialized (a typed result before it is written).
        assert!(
            !(v.surely_accepts_value(&value) && refused),
            "value surely accepted but refused\nschema: {schema}\nvalue: {value}"
        );
    }
    sure
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn never_sure_of_what_jsonschema_refuses(seed in 1u64..) {
        let mut rng = Rng(seed);
        let mut schema = any_schema(&mut rng, 3, true);
        if let Value::Object(m) = &mut schema {
            m.insert("definitions".into(), json!({"x": any_schema(&mut rng, 2, false)}));
            m.insert("$defs".into(), json!({"y": any_schema(&mut rng, 2, false)}));
        }
        for _ in 0..4 {
            let value = if rng.chance(70) {
                value_for(&mut rng, &schema, &schema, 5)
            } else {
                any_value(&mut rng, 3)
            };
            let text = text_of(&mut rng, &value);
            agree(&schema, &text);
        }
    }
}

/// Every `*_SCHEMA` constant of the committed generated code: the golden files of the code
/// generator and the example contracts.
fn generated_schemas() -> Vec<(String, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["clamator-codegen/tests/golden", "examples/src/generated"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let Some(rest) = line.split_once("_SCHEMA: &str = r#\"").map(|(_, r)| r) else {
                continue;
            };
            let schema = rest.strip_suffix("\"#;").unwrap();
            let name = format!("{}: {}", file.display(), line.split(':').next().unwrap());
            out.push((name, serde_json::from_str(schema).unwrap()));
        }
    }
    out
}

#[test]
fn golden_and_example_contracts_agree_on_a_corpus_of_payloads() {
    let schemas = generated_schemas();
    assert!(schemas.len() >= 50, "found {} schemas", schemas.len());
    let (mut checked, mut sure) = (0, 0);
    for (i, (_, schema)) in schemas.iter().enumerate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
        for _ in 0..300 {
            let value = value_for(&mut rng, schema, schema, 6);
            let text = text_of(&mut rng, &value);
            sure += agree(schema, &text);
            checked += 2;
        }
    }
    // Not a speed figure: that the check reads these schemas at all (a check never sure
    // would agree trivially and leave the typed path unused).
    assert!(sure * 5 > checked, "surely accepted {sure} of {checked}");
}

#[test]
fn the_example_contracts_params_are_read_from_their_text() {
    let schemas = generated_schemas();
    let add = schemas
        .iter()
        .find(|(name, _)| name.contains("arith.rs") && name.contains("ADD_PARAMS"))
        .map(|(_, s)| {
            SchemaValidator::new(s.clone())
                .unwrap()
                .accepting_null_for_optional()
        })
        .expect("arith's add params");
    assert!(add.surely_accepts(r#"{"a": 1, "b": 2.5}"#));
    assert!(!add.surely_accepts(r#"{"a": 1}"#));
    assert!(!add.surely_accepts(r#"{"a": 1, "b": "2"}"#));
}

#[test]
fn what_it_reads_and_what_it_leaves() {
    let v = |s: Value| SchemaValidator::new(s).unwrap();
    let object = v(json!({
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 9007199254740993u64},
            "s": {"type": "string", "maxLength": 3, "pattern": "^a"},
            "k": {"enum": ["x", "y"]},
            "o": {"type": "string"}
        },
        "required": ["n"],
        "additionalProperties": false
    }));
    assert!(object.surely_accepts(r#"{"n": 1, "s": "abé", "k": "y"}"#));
    assert!(object.surely_accepts(r#"{"n": 9007199254740993}"#));
    for unsure in [
        r#"{"n": 0}"#,
        r#"{"n": 1.0}"#,
        r#"{"n": 1, "s": "abcd"}"#,
        r#"{"n": 1, "s": "ba"}"#,
        r#"{"n": 1, "k": "z"}"#,
        r#"{"n": 1, "x": 1}"#,
        r#"{"s": "a"}"#,
        r#"{"n": 1, "o": null}"#,
        r#"{"n": 1} x"#,
        r#"{"n": 1"#,
    ] {
        assert!(!object.surely_accepts(unsure), "{unsure}");
    }
    // Null for an optional property, as params are checked.
    assert!(object
        .clone()
        .accepting_null_for_optional()
        .surely_accepts(r#"{"n": 1, "o": null}"#));
    // A part it does not read is never sure, the rest still is.
    let partly = v(json!({
        "type": "object",
        "properties": {"u": {"anyOf": [{"type": "string"}, {"type": "null"}]}, "n": {"type": "integer"}}
    }));
    assert!(partly.surely_accepts(r#"{"n": 1}"#));
    assert!(!partly.surely_accepts(r#"{"n": 1, "u": "x"}"#));
    // Deep values are left to the full check.
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(!v(json!({"$ref": "#/definitions/a", "definitions": {"a": {"type": "array", "items": {"$ref": "#/definitions/a"}}}})).surely_accepts(&deep));
}

// ---------------------------------------------------------------------------------------
// The typed path answers as the `Value` path does
// ---------------------------------------------------------------------------------------

mod dispatch {
    use super::*;
    use clamator_protocol::envelope::{parse_envelope, Envelope, Json};
    use clamator_protocol::{Method, RpcError, Service};
    use serde::{Deserialize, Serialize};

    const PARAMS: &str = r#"{"type":"object","properties":{"a":{"type":"integer","minimum":0},"b":{"type":"number"},"tag":{"type":"string","maxLength":4,"pattern":"^[a-z]*$"},"kind":{"enum":["x","y"]},"items":{"type":"array","items":{"type":"integer"},"maxItems":3},"extra":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}},"required":["a","b"],"additionalProperties":false}"#;
    const RESULT: &str = r#"{"type":"object","properties":{"sum":{"type":"number","maximum":1000}},"required":["sum"],"additionalProperties":false}"#;

    thread_local! {
        /// Whether the last `a` was read from text (the typed path) or from a `Value`.
        static FROM_TEXT: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    }

    /// An integer that notes what it was read from.
    struct Noted(i64);

    impl<'de> Deserialize<'de> for Noted {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let from_text = std::any::type_name::<D>().contains("serde_json::de::Deserializer");
            FROM_TEXT.with(|f| f.set(Some(from_text)));
            i64::deserialize(d).map(Noted)
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct P {
        a: Noted,
        b: f64,
        #[serde(default)]
        tag: Option<String>,
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        items: Option<Vec<i64>>,
        #[serde(default)]
        extra: Option<Value>,
    }

    #[derive(Serialize)]
    struct R {
        sum: f64,
    }

    fn service() -> Service {
        let add = Method::new(|p: P| async move {
            if p.a.0 == 13 {
                return Err(RpcError::new(-32000, "unlucky"));
            }
            if p.a.0 == 66 {
                panic!("handler gave up");
            }
            Ok(R {
                sum: p.a.0 as f64 + p.b,
            })
        })
        .params_validator(
            SchemaValidator::from_json(PARAMS)
                .unwrap()
                .accepting_null_for_optional(),
        )
        .result_validator(SchemaValidator::from_json(RESULT).unwrap());
        let unchecked = Method::new(|p: P| async move { Ok(R { sum: p.b }) });
        Service::builder("calc")
            .add("add", add)
            .add("unchecked", unchecked)
            .build()
            .unwrap()
    }

    /// The reply to `params` sent as text (the typed path where it applies) and as a value
    /// (the `Value` path, always).
    async fn both(service: &Service, method: &str, params: &str) -> (String, String) {
        let text =
            format!(r#"{{"jsonrpc":"2.0","method":"calc.{method}","params":{params},"id":"r1"}}"#);
        let Ok(Envelope::Request(typed)) = parse_envelope(text.as_bytes()) else {
            panic!("not a request: {text}");
        };
        let mut valued = typed.clone();
        valued.params = Json::from(typed.params.value().clone());
        assert!(valued.params.text().is_none());
        let a = service
            .dispatch_encoded(Envelope::Request(typed))
            .await
            .unwrap();
        let b = service
            .dispatch_encoded(Envelope::Request(valued))
            .await
            .unwrap();
        (a.json, b.json)
    }

    #[tokio::test]
    async fn a_corpus_of_params_gets_the_same_replies_both_ways() {
        let service = service();
        let corpus = [
            r#"{"a": 1, "b": 2.5}"#,
            r#"{"a": 1, "b": 2}"#,
            r#"{"a": 1.0, "b": 2}"#,
            r#"{"a": -1, "b": 2}"#,
            r#"{"a": 1}"#,
            r#"{"a": 1, "b": "2"}"#,
            r#"{"a": 1, "b": 2, "tag": null, "kind": null}"#,
            r#"{"a": 1, "b": 2, "tag": "abcde"}"#,
            r#"{"a": 1, "b": 2, "tag": "AB"}"#,
            r#"{"a": 1, "b": 2, "kind": "z"}"#,
            r#"{"a": 1, "b": 2, "kind": "y", "items": [1, 2, 3]}"#,
            r#"{"a": 1, "b": 2, "items": [1, 2, 3, 4]}"#,
            r#"{"a": 1, "b": 2, "extra": {"n": 1, "m": [1]}}"#,
            r#"{"a": 1, "b": 2, "extra": {}}"#,
            r#"{"a": 1, "b": 2, "unknown": true}"#,
            r#"{"a": 1, "a": 2, "b": 2}"#,
            r#"{"a": 13, "b": 2}"#,
            r#"{"a": 66, "b": 2}"#,
            r#"{"a": 1, "b": 999999}"#,
            r#"{"a": 1, "b": 1e308}"#,
            r#"{"a": 9223372036854775808, "b": 1}"#,
            r#"[1, 2]"#,
            r#""text""#,
            r#"null"#,
            r#"{"a": 1, "b": 2, "tag": "\u00e9"}"#,
        ];
        for params in corpus {
            for method in ["add", "unchecked"] {
                let (typed, valued) = both(&service, method, params).await;
                assert_eq!(typed, valued, "{method} {params}");
            }
        }
        // Which path read the params: the text when they surely conform, a value otherwise.
        let read_from_text = |service: &Service, params: &'static str| {
            let service = service.clone();
            async move {
                let text = format!(
                    r#"{{"jsonrpc":"2.0","method":"calc.add","params":{params},"id":"r1"}}"#
                );
                FROM_TEXT.with(|f| f.set(None));
                let reply = service
                    .dispatch_encoded(parse_envelope(text.as_bytes()).unwrap())
                    .await
                    .unwrap();
                (FROM_TEXT.with(std::cell::Cell::get), reply.json)
            }
        };
        assert_eq!(
            read_from_text(&service, r#"{"a": 1, "b": 2.5}"#).await,
            (
                Some(true),
                r#"{"jsonrpc":"2.0","id":"r1","result":{"sum":3.5}}"#.to_owned()
            )
        );
        // `1.0` is an integer to the schema, not to serde: the `Value` path integralizes it.
        assert_eq!(
            read_from_text(&service, r#"{"a": 1.0, "b": 2.5}"#).await.0,
            Some(false)
        );
        // Refused by the schema: the handler's type never reads it.
        assert_eq!(
            read_from_text(&service, r#"{"a": -1, "b": 2.5}"#).await.0,
            None
        );
    }

    #[tokio::test]
    async fn generated_params_get_the_same_replies_both_ways() {
        let service = service();
        let schema: Value = serde_json::from_str(PARAMS).unwrap();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..2000 {
            let value = value_for(&mut rng, &schema, &schema, 4);
            let text = text_of(&mut rng, &value);
            let (typed, valued) = both(&service, "add", &text).await;
            assert_eq!(typed, valued, "{text}");
        }
    }
}

#[test]
fn typed_values_are_checked_as_they_are_written() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        X,
        Y,
    }
    #[derive(serde::Serialize)]
    struct Item {
        n: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        kind: Kind,
        ratio: f64,
        tags: Vec<String>,
        extra: std::collections::BTreeMap<u32, bool>,
    }
    let v = SchemaValidator::new(json!({
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 0},
            "note": {"type": "string"},
            "kind": {"enum": ["x", "y"]},
            "ratio": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2},
            "extra": {"type": "object", "additionalProperties": {"type": "boolean"}}
        },
        "required": ["n", "kind", "ratio", "tags"],
        "additionalProperties": false
    }))
    .unwrap();
    let item = || Item {
        n: 1,
        note: None,
        kind: Kind::Y,
        ratio: 0.5,
        tags: vec!["a".into()],
        extra: [(7, true)].into(),
    };
    let cases: Vec<(Item, bool)> = vec![
        (item(), true),
        (Item { n: -1, ..item() }, false),
        (
            Item {
                note: Some("n".into()),
                ..item()
            },
            true,
        ),
        (
            Item {
                kind: Kind::X,
                ..item()
            },
            true,
        ),
        // NaN is written as `null`, which is not a number.
        (
            Item {
                ratio: f64::NAN,
                ..item()
            },
            false,
        ),
        (
            Item {
                tags: vec!["abcd".into()],
                ..item()
            },
            false,
        ),
        (
            Item {
                tags: vec!["a".into(); 3],
                ..item()
            },
            false,
        ),
    ];
    for (i, (value, sure)) in cases.into_iter().enumerate() {
        let written = serde_json::to_value(&value).unwrap();
        assert_eq!(v.surely_accepts_value(&value), sure, "case {i}: {written}");
        assert_eq!(v.validate(&written).is_ok(), sure, "case {i}: {written}");
    }
}
