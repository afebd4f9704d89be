//! Rust types → contract file → generated code: the round trip for Rust-first services.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use clamator_codegen::export::ContractExport;
use clamator_codegen::Builder;
use clamator_protocol::SchemaValidator;
use schemars::JsonSchema;
use serde_json::json;

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StartParams {
    process_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
    mode: Mode,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Fast,
    Safe,
}

#[derive(JsonSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
enum StartResult {
    Started { pid: u32 },
    Failed { reason: String },
}

#[derive(JsonSchema)]
struct Ping {
    tag: Option<String>,
}

#[test]
fn exported_contracts_generate_and_validate() {
    let export = ContractExport::new("launch")
        .method::<StartParams, StartResult>("start")
        .notification::<Ping>("ping");
    let value = export.to_value().unwrap();
    let params = &value["methods"]["start"]["params"];
    // draft-07, inlined, zod-like key placement.
    assert_eq!(params["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(
        params.as_object().unwrap().keys().next_back().unwrap(),
        "$schema"
    );
    assert!(params.get("title").is_none());
    assert!(params.get("$defs").is_none() && params.get("definitions").is_none());
    assert_eq!(params["additionalProperties"], false);
    assert_eq!(value["methods"]["ping"]["notification"], true);

    let validator = SchemaValidator::new(params.clone()).unwrap();
    validator
        .validate(&json!({"processId": "p", "mode": "fast"}))
        .unwrap();
    let issues = validator
        .validate(&json!({"processId": "p", "mode": "slow"}))
        .unwrap_err();
    assert_eq!(issues[0].path, "/mode");

    let dir = std::env::temp_dir().join(format!("clamator-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    export.write(dir.join("launch.json")).unwrap();
    let files = Builder::new(&dir)
        .out_rust(dir.join("out"))
        .generate()
        .unwrap();
    let module = &files
        .iter()
        .find(|f| f.path.ends_with("launch.rs"))
        .unwrap()
        .contents;
    assert!(module.contains("pub process_id: String"), "{module}");
    assert!(
        module.contains("tag = \"status\""),
        "tagged union expected:\n{module}"
    );
    assert!(module.contains("pub trait LaunchService"));
}

#[test]
fn exported_contracts_follow_the_naming_rules() {
    let err = ContractExport::new("launch")
        .method::<StartParams, StartResult>("start-now")
        .to_value()
        .unwrap_err();
    assert!(err.to_string().contains("hyphens are not allowed"), "{err}");
}
