//! A schema as the alternatives it accepts: `anyOf`/`oneOf` branches flattened, `type`
//! lists split, `null` taken out, so that both sides compare branch by branch.

use serde_json::{Map, Value};

use super::resolve;
use crate::lower::is_optional_marker;

/// What a schema accepts, as alternatives: `anyOf`/`oneOf` branches flattened, `type`
/// lists split, `null` taken out.
#[derive(Debug, Default)]
pub(super) struct Norm {
    /// Accepts anything (`{}`, `true`, annotations only).
    pub(super) any: bool,
    pub(super) nullable: bool,
    /// The top-level union is a `oneOf`.
    pub(super) one_of: bool,
    pub(super) branches: Vec<Branch>,
}

#[derive(Debug, Clone)]
pub(super) struct Branch {
    /// The branch schema, `type` reduced to this branch's one type.
    pub(super) schema: Map<String, Value>,
    /// Where it is, relative to the schema the branches were taken from.
    pub(super) pointer: String,
    /// `string`, `integer`, `number`, `boolean`, `object` or `array`.
    pub(super) kind: String,
    /// Split out of a `type` list rather than written as a union branch.
    pub(super) from_type_list: bool,
    /// The `$defs` entry it was reached through.
    pub(super) via: Option<String>,
}

/// Adds the alternatives `schema` accepts to `norm`.
pub(super) fn collect(
    schema: &Value,
    defs: &Map<String, Value>,
    pointer: String,
    via: Option<String>,
    norm: &mut Norm,
) {
    let (schema, def) = resolve(schema, defs);
    let via = def.map(str::to_owned).or(via);
    let obj = match schema {
        Value::Object(o) => o,
        Value::Bool(true) => {
            norm.any = true;
            return;
        }
        // `false` accepts nothing (and the lowerer refuses it).
        _ => return,
    };
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = obj.get(key) {
            if key == "oneOf" && pointer.is_empty() {
                norm.one_of = true;
            }
            for (i, b) in branches.iter().enumerate() {
                // zod's `.optional()` marker: absence, which the owning object handles.
                if !is_optional_marker(b) {
                    collect(b, defs, format!("{pointer}/{key}/{i}"), via.clone(), norm);
                }
            }
            return;
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let push = |norm: &mut Norm, kind: &str, from_type_list: bool| {
        let mut schema = obj.clone();
        if schema.contains_key("type") {
            schema.insert("type".into(), Value::String(kind.to_owned()));
        }
        norm.branches.push(Branch {
            schema,
            pointer: pointer.clone(),
            kind: kind.to_owned(),
            from_type_list,
            via: via.clone(),
        });
    };
    if !types.is_empty() {
        norm.nullable |= types.contains(&"null");
        let rest: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
        let split = rest.len() > 1;
        for t in rest {
            push(norm, t, split);
        }
        return;
    }
    match obj.get("const") {
        Some(Value::Null) => norm.nullable = true,
        Some(Value::String(_)) => push(norm, "string", false),
        Some(Value::Bool(_)) => push(norm, "boolean", false),
        Some(Value::Number(n)) if n.is_f64() => push(norm, "number", false),
        Some(Value::Number(_)) => push(norm, "integer", false),
        // Arrays and objects as const were refused by the lowerer.
        Some(_) => norm.any = true,
        None if obj.contains_key("enum") => push(norm, "string", false),
        // Only annotations: the lowerer refused any other keyword without a `type`.
        None => norm.any = true,
    }
}

pub(super) fn kinds(norm: &Norm) -> String {
    let mut kinds: Vec<&str> = norm.branches.iter().map(|b| b.kind.as_str()).collect();
    if norm.nullable {
        kinds.push("null");
    }
    if kinds.is_empty() {
        "nothing".into()
    } else {
        kinds.join(" | ")
    }
}
