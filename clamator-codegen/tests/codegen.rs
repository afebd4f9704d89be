//! Contracts in, Rust and manifests out: hashes against clamator's vectors, errors for
//! broken contracts, drift detection, determinism, and the committed generated code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use clamator_codegen::{generate_module, Builder, CodegenError};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clamator-codegen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn manifest_hashes_equal_clamators_test_vectors() {
    let out = scratch("manifest");
    let files = Builder::new(repo().join("contracts"))
        .manifest(out.join("manifest.json"))
        .generate()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&files[0].contents).unwrap();
    let c = &manifest["contracts"];
    for (service, method, params, result) in [
        (
            "arith",
            "add",
            "70e6175edca7384fd05004b0efc43493bcee78a57bf4a72fd005beb890965b6a",
            Some("2b3c05f98f3a8af0c4efbffd67870cd52680734f78db11305104fb4c34c600a5"),
        ),
        (
            "arith",
            "slowAdd",
            "32167ef0441857b9cc4ba2839cb3eacf7a583564cf07bc3e66d8cbe84d233a82",
            Some("2b3c05f98f3a8af0c4efbffd67870cd52680734f78db11305104fb4c34c600a5"),
        ),
        (
            "arith",
            "divide",
            "70e6175edca7384fd05004b0efc43493bcee78a57bf4a72fd005beb890965b6a",
            Some("c01d75c2443d03c2302d3ee1d65ad808e20c42c5b08cbf030d6bef8aaafe4356"),
        ),
        (
            "arith",
            "echoText",
            "adc3e4cfa9ab969042bfcaf0dd86a64d9016afb817b8ee1a566faedc7b9c0688",
            Some("adc3e4cfa9ab969042bfcaf0dd86a64d9016afb817b8ee1a566faedc7b9c0688"),
        ),
        (
            "notifications",
            "ping",
            "8c0dc31e45bc656504171a30f477aa20e6894cd5c0f7e9f742c853c2d441df05",
            None,
        ),
    ] {
        assert_eq!(
            c[service][method]["paramsHash"], params,
            "{service}.{method} params"
        );
        assert_eq!(
            c[service][method]["resultHash"].as_str(),
            result,
            "{service}.{method} result"
        );
    }
    // clamator's manifest layout: key order, method order, two spaces, trailing newline.
    let text = &files[0].contents;
    assert!(text.starts_with("{\n  \"generatedBy\": \"clamator-rs/codegen v"));
    assert!(text.ends_with("}\n"));
    let arith: Vec<&String> = c["arith"].as_object().unwrap().keys().collect();
    assert_eq!(arith, ["add", "divide", "echoText", "slowAdd"]);
    let services: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(services, ["arith", "inventory", "notifications", "orders"]);
    // Events sit in a top-level `events` object, so `contracts` keeps clamator's layout.
    let events = &manifest["events"];
    let orders: Vec<&String> = events["orders"].as_object().unwrap().keys().collect();
    assert_eq!(orders, ["orderCancelled", "orderPlaced"]);
    assert_eq!(
        events["orders"]["orderPlaced"]["payloadHash"], c["orders"]["getOrder"]["resultHash"],
        "both are the schema of an Order"
    );
    assert!(c["orders"].get("orderPlaced").is_none());
}

#[test]
fn a_manifest_without_events_has_no_events_key() {
    let src = scratch("no-events");
    std::fs::copy(repo().join("contracts/arith.json"), src.join("arith.json")).unwrap();
    let files = Builder::new(&src)
        .manifest(src.join("manifest.json"))
        .generate()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&files[0].contents).unwrap();
    let keys: Vec<&String> = manifest.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["generatedBy", "contracts"]);
}

#[test]
fn the_launch_fixture_params_hash_matches() {
    let src = scratch("launch");
    std::fs::write(
        src.join("launch.json"),
        r#"{"service":"launch","methods":{"start":{"params":{"type":"object","properties":{"processId":{"type":"string"}},"required":["processId"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"},"result":{}}}}"#,
    )
    .unwrap();
    let files = Builder::new(&src)
        .manifest(src.join("manifest.json"))
        .generate()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&files[0].contents).unwrap();
    assert_eq!(
        manifest["contracts"]["launch"]["start"]["paramsHash"],
        "3f69e29b9c88cb2bf0272cb3e8a58152feebda3f6c97c1e2f1b05ba51fc9c345"
    );
}

/// The error generating `text` as the contract file `<scratch>/contracts/broken.json`, with
/// that path.
fn error_of(text: &str) -> (String, String) {
    let dir = scratch("broken").join("contracts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.json");
    std::fs::write(&path, text).unwrap();
    match generate_module(&path) {
        Ok(_) => panic!("accepted a broken contract: {text}"),
        Err(e) => (e.to_string(), path.display().to_string()),
    }
}

#[test]
fn broken_contracts_name_the_file_the_pointer_and_the_reason() {
    let obj = r#"{"type":"object","properties":{},"additionalProperties":false}"#;
    for (contract, pointer, reason) in [
        ("{", "the root", "not valid JSON"),
        (
            r#"{"service":"Arith","methods":{}}"#,
            "/service",
            "invalid service name",
        ),
        (
            &format!(
                r#"{{"service":"a","methods":{{"do-thing":{{"params":{obj},"result":{obj}}}}}}}"#
            ),
            "/methods/do-thing",
            "hyphens are not allowed",
        ),
        (
            &format!(
                r#"{{"service":"a","methods":{{"ping":{{"params":{obj},"result":{obj},"notification":true}}}}}}"#
            ),
            "/methods/ping/result",
            "must not include result",
        ),
        (
            &format!(r#"{{"service":"a","methods":{{"get":{{"params":{obj}}}}}}}"#),
            "/methods/get",
            "must include result schema",
        ),
        (
            r##"{"service":"a","methods":{"get":{"params":{"$ref":"#/$defs/Nope"},"result":{}}}}"##,
            "/methods/get/params/$ref",
            "unresolvable $ref",
        ),
        (
            r#"{"service":"a","methods":{"get":{"params":{"type":"object","patternProperties":{}},"result":{}}}}"#,
            "/methods/get/params/patternProperties",
            "unsupported JSON Schema keyword",
        ),
        (
            r#"{"service":"a","methods":{"get":{"params":{"type":"array","items":[{"type":"string"}]},"result":{}}}}"#,
            "/methods/get/params/items",
            "tuple schemas",
        ),
        (
            r#"{"service":"a","methods":{"get":{"params":{"enum":[1,2]},"result":{}}}}"#,
            "/methods/get/params/enum/0",
            "only string enums",
        ),
        (
            r##"{"service":"a","methods":{"get":{"params":{"$ref":"#/$defs/Node"},"result":{}}},"$defs":{"Node":{"type":"object","properties":{"next":{"$ref":"#/$defs/Node"}}}}}"##,
            "/$defs/Node/properties/next/$ref",
            "recursive $ref",
        ),
        (
            r#"{"service":"a","methods":{"get":{"params":{"type":"object","properties":{"n":{"type":"integer","default":"x"}}},"result":{}}}}"#,
            "/methods/get/params/properties/n/default",
            "unsupported default",
        ),
        (
            r#"{"service":"a","methods":{"get":{"params":{},"result":{}}},"extra":1}"#,
            "/extra",
            "unknown key",
        ),
        // Declared application errors.
        (
            r#"{"service":"a","errors":{"Nope":{"code":-32001}},"methods":{}}"#,
            "/errors/Nope/code",
            "JSON-RPC reserves",
        ),
        (
            r#"{"service":"a","errors":{"A":{"code":1},"B":{"code":1}},"methods":{}}"#,
            "/errors/B/code",
            "already the code of A",
        ),
        (
            r#"{"service":"a","errors":{"notPascal":{"code":1}},"methods":{}}"#,
            "/errors/notPascal",
            "invalid error name",
        ),
        (
            r#"{"service":"a","errors":{"A":{"code":"1"}},"methods":{}}"#,
            "/errors/A/code",
            "code must be an integer",
        ),
        (
            r#"{"service":"a","errors":{"A":{"code":1,"status":2}},"methods":{}}"#,
            "/errors/A/status",
            "unknown key",
        ),
        (
            r#"{"service":"a","errors":{"A":{"code":1}},"methods":{"get":{"params":{},"result":{},"errors":["B"]}}}"#,
            "/methods/get/errors/0",
            "not declared",
        ),
        (
            r#"{"service":"a","errors":{"A":{"code":1}},"methods":{"ping":{"params":{},"notification":true,"errors":["A"]}}}"#,
            "/methods/ping/errors",
            "has no errors",
        ),
        // Events.
        (
            r#"{"service":"a","methods":{},"events":[]}"#,
            "/events",
            "events must be an object",
        ),
        (
            r#"{"service":"a","methods":{},"events":{"order-placed":{"payload":{}}}}"#,
            "/events/order-placed",
            "invalid event name",
        ),
        (
            r#"{"service":"a","methods":{},"events":{"placed":{}}}"#,
            "/events/placed",
            "must include a payload schema",
        ),
        (
            r#"{"service":"a","methods":{},"events":{"placed":"yes"}}"#,
            "/events/placed",
            "an event must be an object",
        ),
        (
            r#"{"service":"a","methods":{},"events":{"placed":{"payload":{},"params":{}}}}"#,
            "/events/placed/params",
            "unknown key",
        ),
        (
            r#"{"service":"a","methods":{},"events":{"placed":{"payload":{},"description":1}}}"#,
            "/events/placed/description",
            "description must be a string",
        ),
        (
            r#"{"service":"a","methods":{"ping":{"params":{},"notification":true}},"events":{"ping":{"payload":{}}}}"#,
            "/events/ping",
            "has the name of a method",
        ),
        (
            r#"{"service":"a","methods":{},"events":{"placed":{"payload":{"type":"object","patternProperties":{}}}}}"#,
            "/events/placed/payload/patternProperties",
            "unsupported JSON Schema keyword",
        ),
        (
            r##"{"service":"a","methods":{},"events":{"placed":{"payload":{"$ref":"#/$defs/Nope"}}}}"##,
            "/events/placed/payload/$ref",
            "unresolvable $ref",
        ),
    ] {
        let (message, path) = error_of(contract);
        assert!(message.starts_with(&format!("{path}: at ")), "{message}");
        assert!(
            message.contains(pointer),
            "expected pointer {pointer} in: {message}"
        );
        assert!(
            message.contains(reason),
            "expected reason {reason:?} in: {message}"
        );
    }
}

#[test]
fn check_finds_drift_and_names_the_files() {
    let src = scratch("drift-src");
    let out = scratch("drift-out");
    std::fs::copy(repo().join("contracts/arith.json"), src.join("arith.json")).unwrap();
    let builder = Builder::new(&src)
        .out_rust(&out)
        .out_py(out.join("py"))
        .out_ts(out.join("ts"))
        .manifest(out.join("manifest.json"));
    assert!(
        matches!(builder.check(), Err(CodegenError::Drift { .. })),
        "empty output dir passed the check"
    );
    let written = builder.write().unwrap();
    assert_eq!(written.len(), 5, "{written:?}");
    builder.check().unwrap();
    // Writing again changes nothing.
    assert!(builder.write().unwrap().is_empty());
    // `--check` covers every output.
    for edited in [
        out.join("arith.rs"),
        out.join("py/arith.py"),
        out.join("ts/arith.ts"),
    ] {
        let kept = std::fs::read_to_string(&edited).unwrap();
        std::fs::write(&edited, "// edited by hand\n").unwrap();
        match builder.check() {
            Err(CodegenError::Drift { files, .. }) => assert_eq!(files, vec![edited.clone()]),
            other => panic!("expected drift, got {other:?}"),
        }
        std::fs::write(&edited, kept).unwrap();
    }
}

/// `text` with `from` replaced by `to`, which must occur in it.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the generated file");
    text.replacen(from, to, 1)
}

#[test]
fn check_compares_rust_by_syntax_not_layout() {
    let src = scratch("syntax-src");
    let out = scratch("syntax-out");
    std::fs::copy(repo().join("contracts/arith.json"), src.join("arith.json")).unwrap();
    let builder = Builder::new(&src).out_rust(&out).out_py(out.join("py"));
    builder.write().unwrap();
    let rust = out.join("arith.rs");
    let printed = std::fs::read_to_string(&rust).unwrap();

    // What another release of the printer might make of the same code: more blank lines,
    // two-space indents, a signature on one line (its trailing comma gone), a struct
    // expression broken over lines (with one).
    let relaid = printed.replace("\n\n", "\n\n\n");
    let relaid: String = relaid
        .lines()
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            format!("{}{}\n", " ".repeat(indent / 2), line.trim_start())
        })
        .collect();
    let relaid = edit(
        &relaid,
        "pub async fn add_with(\n    &self,\n    params: &AddParams,\n    options: __c::CallOptions,\n  )",
        "pub async fn add_with(&self, params: &AddParams, options: __c::CallOptions)",
    );
    let relaid = edit(
        &relaid,
        "Self { a, b }",
        "Self {\n      a,\n      b,\n    }",
    );
    assert_ne!(relaid, printed);
    std::fs::write(&rust, &relaid).unwrap();
    builder.check().unwrap();
    // `write` puts the printer's layout back.
    assert_eq!(builder.write().unwrap(), vec![rust.clone()]);
    assert_eq!(std::fs::read_to_string(&rust).unwrap(), printed);

    // Real changes are drift, the file named as for any other.
    for (from, to) in [
        ("pub sum: f64,", "pub total: f64,"),
        ("/// The `a` property.", "/// The `a` operand."),
        (
            "/// Params of `arith.add`.",
            "/// Params of `arith.add`.\n/// Added by hand.",
        ),
        (r#"call("arith", "divide""#, r#"call("arith", "div""#),
        ("// Re-run clamator-codegen to update.", "// Edited."),
    ] {
        std::fs::write(&rust, edit(&printed, from, to)).unwrap();
        let e = builder.check().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "generated files are out of date (re-run clamator-codegen): {}",
                rust.display()
            ),
            "{from:?} -> {to:?}"
        );
    }

    // A file that does not parse is drift that says so, not a panic.
    std::fs::write(&rust, format!("{printed}\nfn broken( {{\n")).unwrap();
    match builder.check() {
        Err(e @ CodegenError::Drift { .. }) => {
            let message = e.to_string();
            let CodegenError::Drift { files, unparsable } = e else {
                unreachable!()
            };
            assert_eq!(files, vec![rust.clone()]);
            assert_eq!(unparsable.len(), 1, "{unparsable:?}");
            assert_eq!(unparsable[0].0, rust);
            assert!(
                message.contains(&format!("; {} does not parse as Rust: ", rust.display())),
                "{message}"
            );
        }
        other => panic!("expected drift, got {other:?}"),
    }
    std::fs::write(&rust, &printed).unwrap();
    builder.check().unwrap();

    // Python is written by our own code, not the printer: compared byte for byte.
    let python = out.join("py/arith.py");
    let kept = std::fs::read_to_string(&python).unwrap();
    std::fs::write(&python, kept.replace("\n\n", "\n\n\n")).unwrap();
    match builder.check() {
        Err(CodegenError::Drift { files, unparsable }) => {
            assert_eq!(files, vec![python.clone()]);
            assert!(unparsable.is_empty());
        }
        other => panic!("expected drift, got {other:?}"),
    }
}

#[test]
fn output_is_deterministic() {
    let a = Builder::new(repo().join("contracts"))
        .out_rust("x")
        .generate()
        .unwrap();
    let b = Builder::new(repo().join("contracts"))
        .out_rust("x")
        .generate()
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn committed_generated_code_is_current() {
    // The golden files: what the examples compile against.
    Builder::new(repo().join("contracts"))
        .out_rust(repo().join("examples/src/generated"))
        .manifest(repo().join("contracts/manifest.json"))
        .check()
        .unwrap();
}

/// One golden file per construct and language: `tests/golden/<construct>.json` must generate
/// exactly `tests/golden/<construct>.rs`, `.py` and `.ts`. `CLAMATOR_BLESS=1` rewrites the
/// expected files.
#[test]
fn every_construct_matches_its_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("CLAMATOR_BLESS").is_some();
    let mut seen = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    type Generate = fn(&Path) -> Result<String, CodegenError>;
    let languages: [(&str, Generate); 3] = [
        ("rs", |p| clamator_codegen::generate_module(p)),
        ("py", |p| clamator_codegen::generate_python_module(p)),
        ("ts", |p| clamator_codegen::generate_typescript_module(p)),
    ];
    for contract in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        for (extension, generate) in languages {
            let expected_path = contract.with_extension(extension);
            let actual = generate(contract).unwrap();
            if bless {
                std::fs::write(&expected_path, &actual).unwrap();
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
                panic!(
                    "missing {}; run with CLAMATOR_BLESS=1",
                    expected_path.display()
                )
            });
            assert_eq!(
                actual,
                expected,
                "{} no longer generates {} (CLAMATOR_BLESS=1 rewrites it)",
                contract.display(),
                expected_path.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 11, "only {seen} golden files");
}

#[test]
fn committed_generated_python_is_current() {
    // What the interop suite's Python peers import (tests/interop/py/generated).
    Builder::new(repo().join("contracts"))
        .out_py(repo().join("tests/interop/py/generated"))
        .check()
        .unwrap();
}
