//! The compatibility check (`clamator_codegen::breaking`, `--breaking-against`): one fixture
//! pair per kind of change under `tests/fixtures/breaking/<case>/{old,new}`, each with the
//! exact lines it must produce, and the command's output and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clamator_codegen::breaking::{breaking_changes, summary, Change, Part};
use clamator_codegen::Builder;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/breaking")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clamator-breaking-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every fixture and the lines it must produce, in order; `ok` lines are compatible.
const CASES: &[(&str, &[&str])] = &[
    (
        "annotations-changed",
        &[
            "ok svc.m params: description changed",
            "ok svc.m params /properties/a: title changed",
            "ok svc.m params /properties/b: default changed from 1 to 2",
        ],
    ),
    (
        "array-items",
        &[
            "BREAKING svc.m params /properties/tags/items: type changed from string to integer",
        ],
    ),
    (
        "defs-ref",
        &[
            "BREAKING svc.m params /properties/item/properties/price: type narrowed from number to integer (in $defs/Item)",
            "ok svc.m result /properties/item/properties/price: type narrowed from number to integer (in $defs/Item)",
        ],
    ),
    ("defs-restructured", &[]),
    (
        "errors-changed",
        &[
            "ok svc /errors/Fresh: new error",
            "ok svc /errors/Gone: error removed (old callers just never see it)",
            "BREAKING svc /errors/Limited/data/properties/limit: type widened from integer to number",
            "BREAKING svc /errors/Moved/code: code changed from 1001 to 2001 (old callers no longer recognise the error)",
            "ok svc /errors/Plain/data: data added",
            "BREAKING svc /errors/Tagged/data: data removed (old callers expect it)",
        ],
    ),
    (
        "events-changed",
        &[
            "ok svc.cancelled payload /properties/orderId: maxLength tightened from 10 to 8",
            "ok svc.cancelled payload /properties/reason: new required property",
            "BREAKING svc.held payload /additionalProperties: additional properties allowed (were forbidden)",
            "BREAKING svc.placed payload /properties/coupon: new optional property, and the old additionalProperties: false refuses it (old subscribers dead-letter the payload)",
            "BREAKING svc.placed payload /properties/note: required property became optional",
            "BREAKING svc.placed payload /properties/total: lower bound loosened from >= 0 to >= -10",
            "ok svc.refunded: new event",
            "BREAKING svc.shipped: event removed (old subscribers wait for it in vain)",
        ],
    ),
    (
        "method-removed",
        &[
            "BREAKING svc.gone: method removed",
        ],
    ),
    (
        "nested-object",
        &[
            "BREAKING svc.m params /properties/point/properties/z: new required property",
        ],
    ),
    (
        "new-method",
        &[
            "ok svc.extra: new method",
        ],
    ),
    (
        "new-service",
        &[
            "ok other: new service",
        ],
    ),
    (
        "notification-flip",
        &[
            "BREAKING svc.ping: request became a notification (old callers wait for a reply that never comes)",
            "BREAKING svc.poke: notification became a request (old senders never read its reply)",
        ],
    ),
    (
        "params-additional-allowed",
        &[
            "ok svc.m params /additionalProperties: additional properties allowed (were forbidden)",
        ],
    ),
    (
        "params-additional-forbidden",
        &[
            "BREAKING svc.m params /additionalProperties: additionalProperties became false",
        ],
    ),
    (
        "params-const-changed",
        &[
            "BREAKING svc.m params /properties/version: const changed from \"v1\" to \"v2\"",
        ],
    ),
    (
        "params-constraints-loosened",
        &[
            "ok svc.m params /properties/lo: lower bound loosened from >= 1 to >= 0",
            "ok svc.m params /properties/name: maxLength removed (was 10)",
            "ok svc.m params /properties/name: pattern removed (was \"^[a-z]+$\")",
            "ok svc.m params /properties/when: format removed (was \"date\")",
        ],
    ),
    (
        "params-constraints-tightened",
        &[
            "BREAKING svc.m params /properties/below: upper bound added: < 100",
            "BREAKING svc.m params /properties/code: pattern added: \"^[A-Z]+$\"",
            "BREAKING svc.m params /properties/hi: upper bound tightened from <= 10 to <= 5",
            "BREAKING svc.m params /properties/id: format changed from \"uuid\" to \"email\"",
            "BREAKING svc.m params /properties/lo: lower bound tightened from >= 0 to >= 1",
            "BREAKING svc.m params /properties/name: maxLength tightened from 64 to 32",
            "BREAKING svc.m params /properties/name: minLength added: 1",
            "BREAKING svc.m params /properties/pos: lower bound tightened from >= 0 to > 0",
            "BREAKING svc.m params /properties/slug: pattern changed from \"^[a-z]+$\" to \"^[a-z0-9]+$\"",
            "BREAKING svc.m params /properties/step: multipleOf tightened from 2 to 4",
            "BREAKING svc.m params /properties/tags: maxItems tightened from 10 to 5",
            "BREAKING svc.m params /properties/tags: minItems added: 1",
            "BREAKING svc.m params /properties/uniq: uniqueItems added",
            "BREAKING svc.m params /properties/when: format added: \"date-time\"",
        ],
    ),
    (
        "params-enum-gains",
        &[
            "ok svc.m params /properties/color: enum gains \"blue\"",
        ],
    ),
    (
        "params-enum-loses",
        &[
            "BREAKING svc.m params /properties/color: enum loses \"blue\"",
        ],
    ),
    (
        "params-new-optional",
        &[
            "ok svc.m params /properties/b: new optional property",
        ],
    ),
    (
        "params-new-required",
        &[
            "BREAKING svc.m params /properties/b: new required property",
        ],
    ),
    (
        "params-nullable-removed",
        &[
            "BREAKING svc.m params /properties/a: nullable removed",
        ],
    ),
    (
        "params-number-to-integer",
        &[
            "BREAKING svc.m params /properties/a: type narrowed from number to integer",
        ],
    ),
    (
        "params-object-to-array",
        &[
            "BREAKING svc.m params /properties/p: type changed from object to array",
        ],
    ),
    (
        "params-optional-to-required",
        &[
            "BREAKING svc.m params /properties/b: optional property became required",
        ],
    ),
    (
        "params-removed-closed",
        &[
            "BREAKING svc.m params /properties/b: property removed, and additionalProperties: false refuses it (old clients still send it)",
        ],
    ),
    (
        "params-removed-open",
        &[
            "ok svc.m params /properties/b: property removed (still accepted as an unlisted property)",
        ],
    ),
    (
        "params-required-to-optional",
        &[
            "ok svc.m params /properties/b: required property became optional",
        ],
    ),
    (
        "params-string-to-integer",
        &[
            "BREAKING svc.m params /properties/a: type changed from string to integer",
        ],
    ),
    (
        "params-tagged-union-loses",
        &[
            "BREAKING svc.m params /properties/shape/anyOf/1: union loses the branch kind = \"square\"",
        ],
    ),
    (
        "params-type-list-loses",
        &[
            "BREAKING svc.m params /properties/a: type loses integer",
        ],
    ),
    (
        "params-type-widened",
        &[
            "ok svc.m params /properties/a: type widened from integer to number",
            "ok svc.m params /properties/b: nullable added",
            "ok svc.m params /properties/c: type gains integer",
        ],
    ),
    (
        "record-values",
        &[
            "BREAKING svc.m params /properties/counts/additionalProperties: type narrowed from number to integer",
        ],
    ),
    (
        "result-enum-gains",
        &[
            "BREAKING svc.m result /properties/color: enum gains \"blue\"",
        ],
    ),
    (
        "result-integer-to-number",
        &[
            "BREAKING svc.m result /properties/sum: type widened from integer to number",
        ],
    ),
    (
        "result-narrowed",
        &[
            "ok svc.m result /properties/color: enum loses \"green\"",
            "ok svc.m result /properties/note: nullable removed",
            "ok svc.m result /properties/sum: type narrowed from number to integer",
            "ok svc.m result /properties/tag: optional property became required",
        ],
    ),
    (
        "result-new-property",
        &[
            "ok svc.m result /properties/extra: new optional property",
            "ok svc.m result /properties/note: new required property",
        ],
    ),
    (
        "result-new-property-closed",
        &[
            "ok svc.m result /properties/note: new optional property (generated Rust, TypeScript and Python clients ignore it; a Python model of a type params or an event payload also use refuses it)",
        ],
    ),
    (
        "result-nullable-added",
        &[
            "BREAKING svc.m result /properties/note: nullable added",
        ],
    ),
    (
        "result-required-removed",
        &[
            "BREAKING svc.m result /properties/note: required property removed",
        ],
    ),
    (
        "result-required-to-optional",
        &[
            "BREAKING svc.m result /properties/note: required property became optional",
        ],
    ),
    (
        "result-tagged-union-gains",
        &[
            "BREAKING svc.m result /anyOf/2: union gains the branch status = \"pending\"",
        ],
    ),
    (
        "result-type-changed",
        &[
            "BREAKING svc.m result /properties/sum: type changed from string to boolean",
        ],
    ),
    (
        "result-union-gains-branch",
        &[
            "BREAKING svc.m result /properties/value/anyOf/1: union gains a branch (integer)",
        ],
    ),
    (
        "service-removed",
        &[
            "BREAKING other: service removed",
        ],
    ),
    (
        "union-branch",
        &[
            "BREAKING svc.m params /properties/shape/anyOf/1/properties/side: type narrowed from number to integer",
        ],
    ),
    ("union-reordered", &[]),
    (
        "union-restructured",
        &[
            "BREAKING svc.m params /properties/value: union restructured (2 old branches unmatched, 3 new): cannot tell; treated as breaking",
        ],
    ),
];

fn lines(case: &str) -> Vec<String> {
    let dir = fixtures().join(case);
    breaking_changes(&dir.join("old"), &dir.join("new"))
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .iter()
        .map(Change::to_string)
        .collect()
}

#[test]
fn every_kind_of_change_is_classified_and_located() {
    let mut failures = Vec::new();
    for (case, expected) in CASES {
        let got = lines(case);
        if got != *expected {
            failures.push(format!("{case}:\n  expected {expected:#?}\n  got {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_is_in_the_table() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "broken")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|(c, _)| (*c).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn a_change_carries_its_parts() {
    let dir = fixtures().join("params-new-required");
    let changes = breaking_changes(&dir.join("old"), &dir.join("new")).unwrap();
    assert_eq!(
        changes,
        [Change {
            service: "svc".into(),
            method: Some("m".into()),
            part: Some(Part::Params),
            location: "/properties/b".into(),
            description: "new required property".into(),
            breaking: true,
        }]
    );
    assert_eq!(summary(&changes), "1 breaking change, 0 compatible changes");
    let dir = fixtures().join("result-new-property");
    let changes = breaking_changes(&dir.join("old"), &dir.join("new")).unwrap();
    assert!(changes
        .iter()
        .all(|c| !c.breaking && c.part == Some(Part::Result)));
    assert_eq!(
        summary(&changes),
        "0 breaking changes, 2 compatible changes"
    );
}

#[test]
fn the_repository_contracts_are_compatible_with_themselves() {
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    let changes = breaking_changes(&contracts, &contracts).unwrap();
    assert!(changes.is_empty(), "{changes:#?}");
}

#[test]
fn a_broken_contract_is_an_error_naming_the_file() {
    let dir = fixtures().join("broken");
    let err = breaking_changes(&dir.join("old"), &dir.join("new"))
        .unwrap_err()
        .to_string();
    let file = dir.join("new/svc.json").display().to_string();
    assert!(err.starts_with(&file), "{err}");
    assert!(err.contains("/methods/m/params/patternProperties"), "{err}");
}

fn run(args: &[&Path]) -> (Option<i32>, Vec<String>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clamator-codegen"));
    command
        .arg("--src")
        .arg(args[0])
        .arg("--breaking-against")
        .arg(args[1]);
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    (
        status.code(),
        stdout.lines().map(str::to_owned).collect(),
        String::from_utf8(stderr).unwrap(),
    )
}

fn run_case(case: &str) -> (Option<i32>, Vec<String>, String) {
    let dir = fixtures().join(case);
    run(&[&dir.join("new"), &dir.join("old")])
}

#[test]
fn the_command_exits_1_on_a_breaking_change_and_lists_it() {
    let (code, out, _) = run_case("defs-ref");
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        [
            "BREAKING svc.m params /properties/item/properties/price: type narrowed from number to integer (in $defs/Item)",
            "ok svc.m result /properties/item/properties/price: type narrowed from number to integer (in $defs/Item)",
            "1 breaking change, 1 compatible change",
        ]
    );
}

#[test]
fn the_command_exits_0_when_every_change_is_compatible() {
    let (code, out, _) = run_case("params-type-widened");
    assert_eq!(code, Some(0));
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(out[3], "0 breaking changes, 3 compatible changes");
    let (code, out, _) = run_case("defs-restructured");
    assert_eq!(code, Some(0));
    assert_eq!(out, ["0 breaking changes, 0 compatible changes"]);
}

#[test]
fn the_command_exits_2_on_unreadable_input() {
    let (code, out, err) = run_case("broken");
    assert_eq!(code, Some(2));
    assert!(out.is_empty(), "{out:?}");
    assert!(err.contains("new/svc.json"), "{err}");
    assert!(err.contains("unsupported JSON Schema keyword"), "{err}");
    let missing = fixtures().join("no-such-case");
    let (code, _, err) = run(&[&fixtures().join("new-method/new"), &missing]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no-such-case"), "{err}");
}

#[test]
fn the_command_refuses_to_be_combined_with_generation() {
    let dir = fixtures().join("new-method");
    let out = Command::new(env!("CARGO_BIN_EXE_clamator-codegen"))
        .arg("--src")
        .arg(dir.join("new"))
        .arg("--breaking-against")
        .arg(dir.join("old"))
        .arg("--out-rust")
        .arg(scratch("combined"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn an_old_single_file_compares_only_its_service() {
    // The new side also has a service `other`; against one file it is not reported.
    let dir = fixtures().join("new-service");
    let (code, out, _) = run(&[&dir.join("new"), &dir.join("old/svc.json")]);
    assert_eq!(code, Some(0));
    assert_eq!(out, ["0 breaking changes, 0 compatible changes"]);
    let dir = fixtures().join("params-new-required");
    let (code, out, _) = run(&[&dir.join("new"), &dir.join("old/svc.json")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out[0],
        "BREAKING svc.m params /properties/b: new required property"
    );
}

/// The manifest clamator-codegen writes for the old side of `case`.
fn old_manifest(case: &str) -> PathBuf {
    let path = scratch(&format!("manifest-{case}")).join("manifest.json");
    Builder::new(fixtures().join(case).join("old"))
        .manifest(&path)
        .write()
        .unwrap();
    path
}

#[test]
fn against_a_manifest_removals_are_found_and_changed_schemas_treated_as_breaking() {
    let dir = fixtures().join("method-removed");
    let (code, out, err) = run(&[&dir.join("new"), &old_manifest("method-removed")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        [
            "BREAKING svc.gone: method removed",
            "1 breaking change, 0 compatible changes"
        ]
    );
    assert!(err.contains("holds only schema hashes"), "{err}");

    // Compatible, but a hash cannot tell.
    let dir = fixtures().join("params-new-optional");
    let (code, out, _) = run(&[&dir.join("new"), &old_manifest("params-new-optional")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out[0],
        "BREAKING svc.m params: schema changed; the old side is a manifest, which holds only hashes: cannot tell; treated as breaking"
    );

    let dir = fixtures().join("notification-flip");
    let (code, out, _) = run(&[&dir.join("new"), &old_manifest("notification-flip")]);
    assert_eq!(code, Some(1));
    assert!(out[0].starts_with("BREAKING svc.ping: request became a notification"));
    assert!(out[1].starts_with("BREAKING svc.poke: notification became a request"));

    // Events: the manifest's `events` tells removed and changed ones.
    let dir = fixtures().join("events-changed");
    let (code, out, _) = run(&[&dir.join("new"), &old_manifest("events-changed")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        [
            "BREAKING svc.cancelled payload: schema changed; the old side is a manifest, which holds only hashes: cannot tell; treated as breaking",
            "BREAKING svc.held payload: schema changed; the old side is a manifest, which holds only hashes: cannot tell; treated as breaking",
            "BREAKING svc.placed payload: schema changed; the old side is a manifest, which holds only hashes: cannot tell; treated as breaking",
            "ok svc.refunded: new event",
            "BREAKING svc.shipped: event removed (old subscribers wait for it in vain)",
            "4 breaking changes, 1 compatible change",
        ]
    );

    // Unchanged schemas have unchanged hashes.
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts");
    let (code, out, _) = run(&[&contracts, &contracts.join("manifest.json")]);
    assert_eq!(code, Some(0));
    assert_eq!(out, ["0 breaking changes, 0 compatible changes"]);
}
