//! Objects and arrays: properties added, removed or made (non-)required, additional
//! properties, array items and their limits.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{Cmp, Effect};
use crate::breaking::Part;
use crate::load::escape;
use crate::lower::is_optional_marker;

/// How an object treats properties it does not list.
#[derive(Debug)]
enum Extra {
    Any,
    Forbidden,
    Schema(Value),
}

impl Cmp<'_> {
    pub(super) fn array(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        at: &str,
        depth: usize,
    ) {
        self.count(o, n, at, "minItems", true);
        self.count(o, n, at, "maxItems", false);
        let unique = |m: &Map<String, Value>| m.get("uniqueItems") == Some(&Value::Bool(true));
        match (unique(o), unique(n)) {
            (false, true) => self.constraint(at, Effect::Narrows, "uniqueItems added".into()),
            (true, false) => self.constraint(at, Effect::Widens, "uniqueItems removed".into()),
            _ => {}
        }
        let any = Value::Bool(true);
        self.compare(
            o.get("items").unwrap_or(&any),
            n.get("items").unwrap_or(&any),
            &format!("{at}/items"),
            depth + 1,
        );
    }

    pub(super) fn object(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        at: &str,
        depth: usize,
    ) {
        let empty = Map::new();
        let props = |m: &Map<String, Value>| -> Map<String, Value> {
            m.get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
                .clone()
        };
        let (op, np) = (props(o), props(n));
        let (or, nr) = (required(o, &op), required(n, &np));
        let (oe, ne) = (Extra::of(o), Extra::of(n));
        for (name, ns) in &np {
            let at_p = format!("{at}/properties/{}", escape(name));
            let required_now = nr.contains(name.as_str());
            match op.get(name) {
                Some(os) => {
                    self.requiredness(&at_p, or.contains(name.as_str()), required_now);
                    self.compare(os, ns, &at_p, depth + 1);
                }
                None => self.new_property(&at_p, ns, required_now, &oe, depth),
            }
        }
        for (name, os) in &op {
            if !np.contains_key(name) {
                let at_p = format!("{at}/properties/{}", escape(name));
                self.removed_property(&at_p, os, or.contains(name.as_str()), &ne, depth);
            }
        }
        let at_extra = format!("{at}/additionalProperties");
        match (&oe, &ne) {
            (Extra::Any, Extra::Any) | (Extra::Forbidden, Extra::Forbidden) => {}
            (Extra::Schema(a), Extra::Schema(b)) => self.compare(a, b, &at_extra, depth + 1),
            (Extra::Any | Extra::Schema(_), Extra::Forbidden) => self.effect(
                &at_extra,
                Effect::Narrows,
                "additionalProperties became false".into(),
            ),
            (Extra::Any, Extra::Schema(_)) => self.effect(
                &at_extra,
                Effect::Narrows,
                "additional properties restricted to a schema".into(),
            ),
            // Compatible for methods: params widen, and clients ignore result keys they do
            // not know (an old type without an additional-properties map has nowhere to put
            // them). Not for payloads: old subscribers validate, and refuse unlisted keys.
            (Extra::Forbidden, Extra::Any | Extra::Schema(_)) => self.push(
                &at_extra,
                "additional properties allowed (were forbidden)".into(),
                self.part == Part::Payload,
                false,
            ),
            (Extra::Schema(_), Extra::Any) => self.effect(
                &at_extra,
                Effect::Widens,
                "additional properties no longer restricted to a schema".into(),
            ),
        }
        self.count(o, n, at, "minProperties", true);
        self.count(o, n, at, "maxProperties", false);
    }

    fn requiredness(&mut self, at: &str, was: bool, is: bool) {
        let (description, breaking) = match (was, is) {
            (false, true) => (
                "optional property became required",
                self.part == Part::Params,
            ),
            (true, false) => (
                "required property became optional",
                self.part != Part::Params,
            ),
            _ => return,
        };
        self.push(at, description.into(), breaking, false);
    }

    fn new_property(
        &mut self,
        at: &str,
        schema: &Value,
        required: bool,
        old_extra: &Extra,
        depth: usize,
    ) {
        let what = if required {
            "new required property"
        } else {
            "new optional property"
        };
        match (self.part, old_extra) {
            (Part::Params, _) => self.push(at, what.into(), required, false),
            // Generated Rust, TypeScript and Python result models ignore unknown keys,
            // whatever the schema says; only a Python model of a type that params or an
            // event payload use too keeps extra="forbid".
            (Part::Result, Extra::Forbidden) => self.push(
                at,
                format!(
                    "{what} (generated Rust, TypeScript and Python clients ignore it; a \
                     Python model of a type params or an event payload also use refuses it)"
                ),
                false,
                false,
            ),
            (Part::Result, Extra::Any) => self.push(at, what.into(), false, false),
            (Part::Result, Extra::Schema(old)) => {
                self.push(at, what.into(), false, false);
                // Old clients read it as one of their additional properties.
                self.compare(old, schema, at, depth + 1);
            }
            // Old subscribers validate the payload: an unlisted property is refused.
            (Part::Payload, Extra::Forbidden) => self.push(
                at,
                format!(
                    "{what}, and the old additionalProperties: false refuses it (old \
                     subscribers dead-letter the payload)"
                ),
                true,
                false,
            ),
            (Part::Payload, Extra::Any) => self.push(at, what.into(), false, false),
            (Part::Payload, Extra::Schema(old)) => {
                self.push(at, what.into(), false, false);
                // Old subscribers check it as one of their additional properties.
                self.compare(old, schema, at, depth + 1);
            }
        }
    }

    fn removed_property(
        &mut self,
        at: &str,
        schema: &Value,
        required: bool,
        new_extra: &Extra,
        depth: usize,
    ) {
        match (self.part, new_extra) {
            (Part::Params, Extra::Forbidden) => self.push(
                at,
                "property removed, and additionalProperties: false refuses it (old clients still send it)"
                    .into(),
                true,
                false,
            ),
            (Part::Params, Extra::Any) => self.push(
                at,
                "property removed (still accepted as an unlisted property)".into(),
                false,
                false,
            ),
            (Part::Params, Extra::Schema(new)) => {
                self.push(
                    at,
                    "property removed (accepted as an additional property)".into(),
                    false,
                    false,
                );
                self.compare(schema, new, at, depth + 1);
            }
            (Part::Result | Part::Payload, _) if required => {
                self.push(at, "required property removed".into(), true, false);
            }
            (Part::Result | Part::Payload, _) => {
                self.push(at, "optional property removed".into(), false, false);
            }
        }
    }
}

impl Extra {
    fn of(m: &Map<String, Value>) -> Self {
        match m.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Self::Any,
            Some(Value::Bool(false)) => Self::Forbidden,
            Some(Value::Object(o)) if o.is_empty() => Self::Any,
            Some(s) => Self::Schema(s.clone()),
        }
    }
}

/// The names of the required properties, less those zod marks optional inside `anyOf`.
fn required<'m>(m: &'m Map<String, Value>, props: &Map<String, Value>) -> BTreeSet<&'m str> {
    m.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect::<BTreeSet<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|name| {
            !props
                .get(*name)
                .and_then(|p| p.get("anyOf"))
                .and_then(Value::as_array)
                .is_some_and(|bs| bs.iter().any(is_optional_marker))
        })
        .collect()
}
