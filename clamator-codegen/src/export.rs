//! The other direction: a contract file from Rust types that derive
//! [`schemars::JsonSchema`], so a Rust-first service can hand its contract to TypeScript and
//! Python users (and to this generator).
//!
//! ```
//! use clamator_codegen::export::ContractExport;
//! use schemars::JsonSchema;
//!
//! #[derive(JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct AddParams { a: f64, b: f64 }
//! #[derive(JsonSchema)]
//! struct AddResult { sum: f64 }
//!
//! let json = ContractExport::new("arith")
//!     .method::<AddParams, AddResult>("add")
//!     .to_json_string()
//!     .unwrap();
//! assert!(json.contains(r#""additionalProperties": false"#));
//! ```

use std::path::{Path, PathBuf};

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

use crate::error::CodegenError;

/// Builds a contract file from Rust types.
#[derive(Debug, Clone)]
pub struct ContractExport {
    service: String,
    methods: Map<String, Value>,
}

impl ContractExport {
    /// A contract for service `service`.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            methods: Map::new(),
        }
    }

    /// Adds method `name` with params `P` and result `R`.
    #[must_use]
    pub fn method<P: JsonSchema, R: JsonSchema>(mut self, name: &str) -> Self {
        let mut def = Map::new();
        def.insert("params".into(), schema_for::<P>());
        def.insert("result".into(), schema_for::<R>());
        self.methods.insert(name.to_owned(), Value::Object(def));
        self
    }

    /// Adds notification `name` with params `P`.
    #[must_use]
    pub fn notification<P: JsonSchema>(mut self, name: &str) -> Self {
        let mut def = Map::new();
        def.insert("params".into(), schema_for::<P>());
        def.insert("notification".into(), Value::Bool(true));
        self.methods.insert(name.to_owned(), Value::Object(def));
        self
    }

    /// The contract as JSON. Fails, as a contract file would, when a name breaks the rules
    /// or a schema uses a construct the generator does not support.
    pub fn to_value(&self) -> Result<Value, CodegenError> {
        let mut root = Map::new();
        root.insert("service".into(), Value::String(self.service.clone()));
        root.insert("methods".into(), Value::Object(self.methods.clone()));
        let value = Value::Object(root);
        let path = PathBuf::from(format!("{}.json", self.service));
        let contract = crate::load::parse_contract(&path, &value.to_string())?;
        crate::emit::generate(&contract)?;
        Ok(value)
    }

    /// The contract file's text: two-space JSON with a trailing newline.
    pub fn to_json_string(&self) -> Result<String, CodegenError> {
        let mut text = serde_json::to_string_pretty(&self.to_value()?).unwrap_or_default();
        text.push('\n');
        Ok(text)
    }

    /// Writes the contract file to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), CodegenError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json_string()?).map_err(|e| CodegenError::io(path, e))
    }
}

/// The draft-07 schema of `T` with every subschema inlined, shaped like zod-to-json-schema's
/// output where that is cheap: no `title`, `$schema` as the last key.
pub fn schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(map) = &mut value {
        map.shift_remove("title");
        if let Some(schema) = map.shift_remove("$schema") {
            map.insert("$schema".into(), schema);
        }
    }
    value
}
