//! The generated TypeScript, checked with a pinned toolchain (`tests/ts/package-lock.json`:
//! typescript and zod, installed into `target/ts-toolchain` with `npm ci` on first use; Node
//! and npm come from the machine): the golden modules and those of `contracts/` compile
//! under `tsc --strict` together with `tests/ts/usage.ts`, which uses them as a TypeScript
//! team would against a declaration of clamator's runtime API; and their Zod schemas accept
//! and refuse the same payloads as the Rust validator, failing at the same JSON Pointers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clamator_codegen::Builder;
use clamator_protocol::schema::SchemaValidator;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ts")
}

/// Runs `cmd`, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `target/ts-toolchain` with the locked packages installed; reinstalled when the lock changes.
fn toolchain() -> PathBuf {
    clamator_testkit::tools::require("node", 3);
    clamator_testkit::tools::require("npm", 3);
    let dir = repo().join("target/ts-toolchain");
    let lock = std::fs::read_to_string(here().join("package-lock.json")).unwrap();
    let marker = dir.join("installed-lock.json");
    let installed = std::fs::read_to_string(&marker).ok();
    if installed.as_deref() != Some(lock.as_str()) || !dir.join("node_modules/zod").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(here().join(file), dir.join(file)).unwrap();
        }
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir),
            "npm ci of the pinned typescript and zod",
        );
        std::fs::write(&marker, lock).unwrap();
    }
    dir
}

/// A fresh project under the toolchain (so that Node finds `zod` in its `node_modules`):
/// the golden modules in `src/golden`, those of `contracts/` in `src/contracts`, the runtime
/// declaration and the usage file, compiled with `tsc`.
fn compiled(name: &str) -> PathBuf {
    let project = toolchain().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    let src = project.join("src");
    std::fs::create_dir_all(src.join("golden")).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for entry in std::fs::read_dir(&golden).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "ts") {
            std::fs::copy(&path, src.join("golden").join(path.file_name().unwrap())).unwrap();
        }
    }
    Builder::new(repo().join("contracts"))
        .out_ts(src.join("contracts"))
        .write()
        .unwrap();
    std::fs::copy(here().join("tsconfig.json"), project.join("tsconfig.json")).unwrap();
    std::fs::copy(here().join("check.mjs"), project.join("check.mjs")).unwrap();
    for file in ["clamator-protocol.d.ts", "usage.ts"] {
        std::fs::copy(here().join(file), src.join(file)).unwrap();
    }
    let tsc = project.join("../node_modules/typescript/bin/tsc");
    run(
        Command::new("node")
            .arg(tsc)
            .arg("-p")
            .arg(project.join("tsconfig.json")),
        "tsc --strict over the generated TypeScript",
    );
    project
}

/// Payloads for the schemas: `(module, method, "params" | "result", value)`, where `module`
/// is `golden/<construct>` or `contracts/<service>`. Valid and invalid ones; an invalid one
/// breaks one rule, so that both validators name the same places. (Inside a union, the Rust
/// validator reports the union, and so does `z.union` when every branch fails on its shape;
/// a branch that fits but breaks a bound is reported inside it by Zod, so those are left out.)
fn fixtures() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let lamp = json!({"id": "lamp-1", "name": "Lamp", "price": 12.5, "kind": "physical",
                      "dimensions": {"width": 1, "height": 2}, "attributes": {"a": "x", "b": 1, "c": true}});
    let with_item = |item: Value| json!({"item": item});
    let lamp_with = |key: &str, v: Value| {
        let mut item = lamp.clone();
        item[key] = v;
        with_item(item)
    };
    let scalars =
        json!({"i": 0, "n": 0.5, "s": "2024-01-01T00:00:00Z", "b": true, "z": null, "any": [1]});
    let scalar = |key: &str, v: Value| {
        let mut s = scalars.clone();
        s[key] = v;
        s
    };
    vec![
        (
            "golden/objects",
            "get",
            "params",
            json!({"name": "a", "age": 3}),
        ),
        (
            "golden/objects",
            "get",
            "params",
            json!({"name": "a", "age": 3.0, "nickName": "n"}),
        ),
        ("golden/objects", "get", "params", json!({"name": "a"})),
        (
            "golden/objects",
            "get",
            "params",
            json!({"name": "a", "age": 3, "x": 1}),
        ),
        (
            "golden/objects",
            "get",
            "params",
            json!({"name": "a", "age": 3.5}),
        ),
        (
            "golden/objects",
            "get",
            "params",
            json!({"name": "a", "age": 3, "nickName": null}),
        ),
        (
            "golden/objects",
            "get",
            "result",
            json!({"ok": true, "extra": 1}),
        ),
        ("golden/objects", "get", "result", json!({"ok": "yes"})),
        ("golden/objects", "notify", "params", json!({})),
        ("golden/scalars", "get", "params", scalars.clone()),
        ("golden/scalars", "get", "params", scalar("i", json!(-1))),
        ("golden/scalars", "get", "params", scalar("n", json!(1))),
        (
            "golden/scalars",
            "get",
            "params",
            scalar("s", json!("2024-01-01")),
        ),
        (
            "golden/scalars",
            "get",
            "params",
            scalar("s", json!("2024-01-01T00:00:00")),
        ),
        (
            "golden/scalars",
            "get",
            "params",
            scalar("s", json!("2024-01-01T00:00:00+02:00")),
        ),
        ("golden/scalars", "get", "params", scalar("z", json!(1))),
        (
            "golden/scalars",
            "get",
            "params",
            scalar("any", json!(null)),
        ),
        (
            "golden/scalars",
            "get",
            "params",
            json!({"i": 0, "n": 0.5, "s": "2024-01-01T00:00:00Z", "b": true, "z": null}),
        ),
        ("golden/scalars", "get", "result", json!("x")),
        ("golden/scalars", "get", "result", json!(1)),
        (
            "golden/arrays",
            "get",
            "params",
            json!({"tags": ["t"], "points": [{"x": 1, "y": 2}], "anything": [1, "a"]}),
        ),
        (
            "golden/arrays",
            "get",
            "params",
            json!({"tags": [], "points": [], "anything": []}),
        ),
        (
            "golden/arrays",
            "get",
            "params",
            json!({"tags": ["a", "b", "c", "d", "e", "f"], "points": [], "anything": []}),
        ),
        (
            "golden/arrays",
            "get",
            "params",
            json!({"tags": ["t"], "points": [{"x": 1}], "anything": []}),
        ),
        (
            "golden/arrays",
            "get",
            "params",
            json!({"tags": ["t"], "points": [{"x": "1", "y": 2}], "anything": []}),
        ),
        ("golden/arrays", "get", "result", json!([1, 2])),
        ("golden/arrays", "get", "result", json!([1, 1.5])),
        ("golden/defaults", "get", "params", json!({})),
        ("golden/defaults", "get", "params", json!({"limit": "x"})),
        ("golden/defaults", "get", "params", json!({"sort": "up"})),
        (
            "golden/defaults",
            "get",
            "params",
            json!({"list": ["a"], "on": false, "ratio": 2}),
        ),
        (
            "golden/enums",
            "get",
            "params",
            json!({"color": "2nd", "kind": "fixed"}),
        ),
        (
            "golden/enums",
            "get",
            "params",
            json!({"color": "green", "kind": "fixed"}),
        ),
        (
            "golden/enums",
            "get",
            "params",
            json!({"color": "red", "kind": "moving"}),
        ),
        (
            "golden/nullable",
            "get",
            "params",
            json!({"a": null, "b": null}),
        ),
        (
            "golden/nullable",
            "get",
            "params",
            json!({"a": 1, "b": "x", "c": null}),
        ),
        ("golden/nullable", "get", "params", json!({"b": null})),
        (
            "golden/nullable",
            "get",
            "params",
            json!({"a": "x", "b": null}),
        ),
        (
            "golden/records",
            "get",
            "params",
            json!({"counts": {"a": 1}, "anyObject": {"k": [1]}}),
        ),
        (
            "golden/records",
            "get",
            "params",
            json!({"counts": {"a": "x"}, "anyObject": {}}),
        ),
        (
            "golden/records",
            "get",
            "params",
            json!({"counts": {}, "anyObject": []}),
        ),
        (
            "golden/records",
            "get",
            "result",
            json!({"known": "k", "extra": 1.5}),
        ),
        (
            "golden/records",
            "get",
            "result",
            json!({"known": "k", "extra": "x"}),
        ),
        (
            "golden/refs",
            "get",
            "params",
            json!({"from": {"x": 1, "y": 2}, "to": {"x": 1, "y": 2}, "label": "l"}),
        ),
        (
            "golden/refs",
            "get",
            "params",
            json!({"from": {"x": 1, "y": 2}, "to": {"x": 1, "y": 2}, "label": "x".repeat(21)}),
        ),
        (
            "golden/refs",
            "get",
            "params",
            json!({"from": {"x": 1}, "to": {"x": 1, "y": 2}}),
        ),
        ("golden/refs", "get", "result", json!({"x": 1, "y": 2})),
        ("golden/refs", "get", "result", json!({"x": 1})),
        (
            "golden/tagged-union",
            "get",
            "result",
            json!({"kind": "rect", "w": 1, "h": 2}),
        ),
        (
            "golden/tagged-union",
            "get",
            "result",
            json!({"kind": "empty"}),
        ),
        (
            "golden/tagged-union",
            "get",
            "result",
            json!({"kind": "circle"}),
        ),
        (
            "golden/tagged-union",
            "get",
            "result",
            json!({"kind": "triangle"}),
        ),
        (
            "golden/untagged-union",
            "get",
            "params",
            json!({"id": "a", "value": "v"}),
        ),
        (
            "golden/untagged-union",
            "get",
            "params",
            json!({"id": 5, "value": {"n": 1}}),
        ),
        (
            "golden/untagged-union",
            "get",
            "params",
            json!({"id": true, "value": "v"}),
        ),
        (
            "golden/untagged-union",
            "get",
            "params",
            json!({"id": "a", "value": {"m": 1}}),
        ),
        (
            "golden/untagged-union",
            "get",
            "result",
            json!({"ok": true, "pid": 1}),
        ),
        (
            "golden/untagged-union",
            "get",
            "result",
            json!({"ok": true, "error": "x"}),
        ),
        (
            "golden/nested",
            "get",
            "params",
            json!({"outer": {"inner": {"leaf": "l"}}, "list": [{"v": 1}]}),
        ),
        (
            "golden/nested",
            "get",
            "params",
            json!({"outer": {"inner": {}}, "list": []}),
        ),
        (
            "golden/nested",
            "get",
            "params",
            json!({"outer": {"inner": {"leaf": "l"}}, "list": [{"v": "1"}]}),
        ),
        (
            "golden/named",
            "place",
            "params",
            json!({"address": {"city": "c"}, "status": "open"}),
        ),
        (
            "golden/named",
            "place",
            "params",
            json!({"address": {"city": "c"}, "status": "ajar"}),
        ),
        ("contracts/arith", "add", "params", json!({"a": 2, "b": 3})),
        (
            "contracts/arith",
            "add",
            "params",
            json!({"a": "two", "b": 3}),
        ),
        (
            "contracts/arith",
            "slowAdd",
            "params",
            json!({"a": 1, "b": 2, "sleepMs": 10.0}),
        ),
        (
            "contracts/arith",
            "slowAdd",
            "params",
            json!({"a": 1, "b": 2, "sleepMs": -1}),
        ),
        (
            "contracts/arith",
            "echoText",
            "result",
            json!({"text": "héllo ✓"}),
        ),
        ("contracts/notifications", "ping", "params", json!({})),
        (
            "contracts/notifications",
            "ping",
            "params",
            json!({"tag": 1}),
        ),
        (
            "contracts/notifications",
            "ping",
            "params",
            json!({"tag": null}),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            json!({"item": lamp.clone(), "tags": ["a"], "dryRun": true}),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            lamp_with("name", json!("")),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            lamp_with("price", json!(1_000_000)),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            lamp_with("kind", json!("liquid")),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            lamp_with("attributes", json!({"a": null})),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            lamp_with("dimensions", json!({"width": 1})),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            json!({"item": lamp.clone(), "tags": [""]}),
        ),
        (
            "contracts/inventory",
            "addItem",
            "params",
            json!({"item": lamp.clone(), "tags": vec!["t"; 11]}),
        ),
        (
            "contracts/inventory",
            "addItem",
            "result",
            json!({"status": "created", "id": "3b241101-e2bb-4255-8caf-4136c566a962", "createdAt": "2024-05-01T12:00:00Z"}),
        ),
        (
            "contracts/inventory",
            "addItem",
            "result",
            json!({"status": "rejected", "reason": "duplicate", "detail": null}),
        ),
        (
            "contracts/inventory",
            "addItem",
            "result",
            json!({"status": "rejected", "reason": "nope", "detail": null}),
        ),
        (
            "contracts/inventory",
            "getItem",
            "params",
            json!({"id": "lamp-1"}),
        ),
        (
            "contracts/inventory",
            "getItem",
            "params",
            json!({"id": "UPPER"}),
        ),
        (
            "contracts/inventory",
            "getItem",
            "params",
            json!({"id": ""}),
        ),
        (
            "contracts/inventory",
            "getItem",
            "result",
            json!({"item": lamp.clone(), "stock": {"a": 1}}),
        ),
        (
            "contracts/inventory",
            "getItem",
            "result",
            json!({"item": null, "stock": {"a": -1}}),
        ),
        (
            "contracts/inventory",
            "getItem",
            "result",
            json!({"stock": {}}),
        ),
        (
            "contracts/inventory",
            "itemChanged",
            "params",
            json!({"id": "a", "version": "v1", "change": 2, "at": "2024-05-01T12:00:00+02:00"}),
        ),
        (
            "contracts/inventory",
            "itemChanged",
            "params",
            json!({"id": "a", "version": "v2", "change": "x"}),
        ),
        (
            "contracts/inventory",
            "itemChanged",
            "params",
            json!({"id": "a", "version": "v1", "change": true}),
        ),
        (
            "contracts/inventory",
            "itemChanged",
            "params",
            json!({"id": "a", "version": "v1", "change": 1, "at": "yesterday"}),
        ),
        (
            "contracts/inventory",
            "reserve",
            "params",
            json!({"id": "lamp-1", "quantity": 0}),
        ),
        (
            "contracts/inventory",
            "reserve",
            "params",
            json!({"id": "", "quantity": 1}),
        ),
        (
            "contracts/inventory",
            "search",
            "params",
            json!({"query": "q"}),
        ),
        (
            "contracts/inventory",
            "search",
            "params",
            json!({"query": "q", "limit": 0}),
        ),
        (
            "contracts/inventory",
            "search",
            "params",
            json!({"query": "q", "limit": 101}),
        ),
        (
            "contracts/inventory",
            "search",
            "params",
            json!({"query": "q", "limit": 5.5}),
        ),
        (
            "contracts/inventory",
            "search",
            "params",
            json!({"query": "q", "filters": {"minPrice": -1}}),
        ),
        (
            "contracts/inventory",
            "search",
            "params",
            json!({"query": "q", "filters": {"kinds": ["x"]}}),
        ),
        (
            "contracts/inventory",
            "search",
            "result",
            json!({"items": [], "total": 0, "next": null}),
        ),
        (
            "contracts/inventory",
            "search",
            "result",
            json!({"items": [], "total": -1, "next": null}),
        ),
        (
            "contracts/inventory",
            "setMetadata",
            "params",
            json!({"id": "x", "metadata": null}),
        ),
        (
            "contracts/inventory",
            "setMetadata",
            "params",
            json!({"id": "x"}),
        ),
        (
            "contracts/inventory",
            "setMetadata",
            "params",
            json!({"id": "x", "metadata": 1, "labels": {"a": 1}}),
        ),
    ]
}

/// The contract file behind a fixture's module.
fn contract_of(module: &str) -> Value {
    let path = match module.split_once('/') {
        Some(("golden", name)) => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.json"))
        }
        Some(("contracts", name)) => repo().join(format!("contracts/{name}.json")),
        _ => panic!("no module {module}"),
    };
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the Rust validator says of a fixture: `None` when valid, else its issues' pointers.
fn rust_verdict(module: &str, method: &str, kind: &str, value: &Value) -> Option<Vec<String>> {
    let contract = contract_of(module);
    let schema = &contract["methods"][method][kind];
    assert!(!schema.is_null(), "{module}: no {method} {kind}");
    // `$ref`s point into the contract's `$defs`; `allOf` leaves pointers into the value as
    // they are.
    let document =
        json!({"allOf": [schema], "$defs": contract.get("$defs").cloned().unwrap_or(json!({}))});
    let validator = SchemaValidator::new(document).unwrap();
    validator.validate(value).err().map(|issues| {
        let paths: BTreeSet<String> = issues.into_iter().map(|i| i.path).collect();
        paths.into_iter().collect()
    })
}

#[test]
fn generated_typescript_type_checks_and_its_zod_schemas_agree_with_the_rust_validator() {
    let project = compiled("check");
    let fixtures = fixtures();
    let input: Vec<Value> = fixtures
        .iter()
        .map(|(module, method, kind, value)| {
            json!({"module": module, "method": method, "kind": kind, "value": value})
        })
        .collect();
    let file = project.join("fixtures.json");
    std::fs::write(&file, serde_json::to_string(&input).unwrap()).unwrap();
    let out = run(
        Command::new("node")
            .arg(project.join("check.mjs"))
            .arg(&file),
        "the Zod schemas on the fixtures",
    );
    let zod: Vec<Option<Vec<String>>> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(zod.len(), fixtures.len());
    let mut valid = 0;
    for ((module, method, kind, value), zod) in fixtures.iter().zip(zod) {
        let rust = rust_verdict(module, method, kind, value);
        assert_eq!(
            zod, rust,
            "{module}.{method} {kind} {value}: Zod says {zod:?}, the Rust validator {rust:?}"
        );
        valid += usize::from(rust.is_none());
    }
    // Both kinds are exercised.
    assert!(
        valid >= 20 && fixtures.len() - valid >= 40,
        "{valid} valid of {}",
        fixtures.len()
    );
    let _ = std::fs::remove_dir_all(&project);
}
