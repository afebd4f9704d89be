//! What the Python and TypeScript emitters share: one contract as clamator's own code
//! generator names it, and the small text-writing helpers both use.
//!
//! clamator generates Python and TypeScript from TypeScript contracts; a team moving from its
//! output to ours must find the same names: `<Method>Params` / `<Method>Result` (the method
//! name with its first letter upper-cased, nothing else changed), `<Service>Client` and
//! `<Service>Service` (the service name split at `-`, each part's first letter upper-cased),
//! snake_case Python methods (clamator's `camelToSnake`). The types a contract nests are
//! named as in the Rust output (`SearchParamsFilters`), so the three languages agree.

use std::collections::{BTreeSet, HashMap};

use crate::error::CodegenError;
use crate::load::ContractFile;
use crate::lower::{lower_contract, upper_first, Def, DefaultValue, Field, Ty};
use crate::manifest::{inline_refs, schema_hash};

/// One contract, ready for a peer language's emitter.
pub(crate) struct PeerContract {
    /// The wire name: `order-service`.
    pub(crate) service: String,
    /// `OrderService`: the prefix of `OrderServiceClient` and `OrderServiceService`.
    pub(crate) pascal: String,
    /// The contract file's name, for the header.
    pub(crate) file_name: String,
    /// Type definitions, each after the types it uses, renamed for the language.
    pub(crate) defs: Vec<Def>,
    /// Methods in the contract's order (clamator's).
    pub(crate) methods: Vec<PeerMethod>,
    /// Declared application errors, in the contract's order.
    pub(crate) errors: Vec<PeerError>,
    /// The events the service publishes, in the contract's order.
    pub(crate) events: Vec<PeerEvent>,
    /// The doc of each params, result, error data and payload type whose schema has none.
    pub(crate) root_docs: HashMap<String, String>,
}

/// One method.
pub(crate) struct PeerMethod {
    /// The wire name: `slowAdd`.
    pub(crate) wire: String,
    /// The params type.
    pub(crate) params: String,
    /// The result type; `None` for a notification.
    pub(crate) result: Option<String>,
    /// The contract's `description`.
    pub(crate) doc: Option<String>,
    /// The params schema's hash, as in the manifest.
    pub(crate) params_hash: String,
    /// The result schema's hash; `None` for a notification.
    pub(crate) result_hash: Option<String>,
}

/// One event the service publishes.
pub(crate) struct PeerEvent {
    /// The wire name: `orderPlaced`.
    pub(crate) wire: String,
    /// The payload type.
    pub(crate) payload: String,
    /// The payload schema's hash, as in the manifest's `events`.
    pub(crate) payload_hash: String,
}

/// One declared application error.
pub(crate) struct PeerError {
    /// `OutOfStock`.
    pub(crate) name: String,
    /// The JSON-RPC code.
    pub(crate) code: i64,
    /// The error object's `message`.
    pub(crate) message: String,
    /// The type of its `data`, when it has some.
    pub(crate) data: Option<String>,
}

impl PeerContract {
    /// Lowers `contract` and names its types for a language in which the names `reserved`
    /// says are taken (keywords, what the generated module imports or defines itself) cannot
    /// name a type.
    pub(crate) fn new(
        contract: &ContractFile,
        reserved: impl Fn(&str) -> bool,
    ) -> Result<Self, CodegenError> {
        let lowered = lower_contract(contract)?;
        let pascal = kebab_and_camel_to_pascal(&contract.service);
        let mut taken: BTreeSet<String> =
            lowered.defs.iter().map(|d| d.name().to_owned()).collect();
        let mut names: HashMap<String, String> = HashMap::new();
        // clamator's names for the roots, where the Rust naming (PascalCase words) differs:
        // `getHTTPItem` → `GetHTTPItemParams`, not `GetHttpItemParams`.
        let payloads = contract
            .events
            .iter()
            .zip(&lowered.events)
            .map(|(e, payload)| (payload, format!("{}Payload", upper_first(&e.name))));
        for (m, (params, result)) in contract.methods.iter().zip(&lowered.methods) {
            let base = upper_first(&m.name);
            let wanted = [(params, format!("{base}Params"))]
                .into_iter()
                .chain(result.iter().map(|r| (r, format!("{base}Result"))));
            for (ir, clamator) in wanted {
                if *ir != clamator && !taken.contains(&clamator) && !reserved(&clamator) {
                    taken.insert(clamator.clone());
                    names.insert(ir.clone(), clamator);
                }
            }
        }
        for (ir, clamator) in payloads {
            if *ir != clamator && !taken.contains(&clamator) && !reserved(&clamator) {
                taken.insert(clamator.clone());
                names.insert(ir.clone(), clamator);
            }
        }
        // Then every name the language cannot use gets a `_`.
        for def in &lowered.defs {
            let name = names
                .get(def.name())
                .cloned()
                .unwrap_or_else(|| def.name().to_owned());
            if reserved(&name) {
                let mut renamed = format!("{name}_");
                while taken.contains(&renamed) || reserved(&renamed) {
                    renamed.push('_');
                }
                taken.insert(renamed.clone());
                names.insert(def.name().to_owned(), renamed);
            }
        }
        let name_of = |n: &str| names.get(n).cloned().unwrap_or_else(|| n.to_owned());
        let defs = lowered
            .defs
            .iter()
            .map(|d| rename_def(d, &name_of))
            .collect();
        let mut root_docs = HashMap::new();
        let mut methods = Vec::new();
        for (m, (params, result)) in contract.methods.iter().zip(&lowered.methods) {
            let what = format!("`{}.{}`", contract.service, m.name);
            root_docs.insert(name_of(params), format!("Params of {what}."));
            if let Some(r) = result {
                root_docs.insert(name_of(r), format!("Result of {what}."));
            }
            let hash = |schema| schema_hash(&inline_refs(schema, &contract.defs));
            methods.push(PeerMethod {
                wire: m.name.clone(),
                params: name_of(params),
                result: result.as_deref().map(&name_of),
                doc: m.description.clone(),
                params_hash: hash(&m.params),
                result_hash: m.result.as_ref().map(hash),
            });
        }
        let mut errors = Vec::new();
        for (e, data) in contract.errors.iter().zip(&lowered.error_data) {
            if let Some(d) = data {
                root_docs.insert(
                    name_of(d),
                    format!("The `data` of the `{}` error ({}).", e.name, e.code),
                );
            }
            errors.push(PeerError {
                name: e.name.clone(),
                code: e.code,
                message: e.message.clone(),
                data: data.as_deref().map(&name_of),
            });
        }
        let mut events = Vec::new();
        for (e, payload) in contract.events.iter().zip(&lowered.events) {
            root_docs.insert(
                name_of(payload),
                format!("Payload of the event `{}.{}`.", contract.service, e.name),
            );
            events.push(PeerEvent {
                wire: e.name.clone(),
                payload: name_of(payload),
                payload_hash: schema_hash(&inline_refs(&e.payload, &contract.defs)),
            });
        }
        Ok(Self {
            service: contract.service.clone(),
            pascal,
            file_name: contract
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            defs,
            methods,
            errors,
            events,
            root_docs,
        })
    }

    /// The definition named `name`.
    pub(crate) fn def(&self, name: &str) -> Option<&Def> {
        self.defs.iter().find(|d| d.name() == name)
    }

    /// The names of the params, result, error data and payload types.
    pub(crate) fn roots(&self) -> BTreeSet<&str> {
        self.methods
            .iter()
            .flat_map(|m| std::iter::once(m.params.as_str()).chain(m.result.as_deref()))
            .chain(self.errors.iter().filter_map(|e| e.data.as_deref()))
            .chain(self.events.iter().map(|e| e.payload.as_str()))
            .collect()
    }

    /// The wire value of the enum value `variant` of the string enum `ty` (a default).
    pub(crate) fn enum_value(&self, ty: &str, variant: &str) -> Option<&str> {
        match self.def(ty)? {
            Def::StrEnum { variants, .. } => variants
                .iter()
                .find(|(_, v)| v == variant)
                .map(|(wire, _)| wire.as_str()),
            _ => None,
        }
    }
}

fn rename_def(def: &Def, name_of: &impl Fn(&str) -> String) -> Def {
    let fields = |fields: &[Field]| -> Vec<Field> {
        fields
            .iter()
            .map(|f| Field {
                ty: rename_ty(&f.ty, name_of),
                default: f.default.as_ref().map(|d| match d {
                    DefaultValue::Variant { ty, variant } => DefaultValue::Variant {
                        ty: name_of(ty),
                        variant: variant.clone(),
                    },
                    other => other.clone(),
                }),
                ..f.clone()
            })
            .collect()
    };
    match def {
        Def::Struct {
            name,
            doc,
            fields: fs,
            deny_unknown,
            extra,
        } => Def::Struct {
            name: name_of(name),
            doc: doc.clone(),
            fields: fields(fs),
            deny_unknown: *deny_unknown,
            extra: extra.as_ref().map(|t| rename_ty(t, name_of)),
        },
        Def::StrEnum {
            name,
            doc,
            variants,
        } => Def::StrEnum {
            name: name_of(name),
            doc: doc.clone(),
            variants: variants.clone(),
        },
        Def::Tagged {
            name,
            doc,
            tag,
            variants,
        } => Def::Tagged {
            name: name_of(name),
            doc: doc.clone(),
            tag: tag.clone(),
            variants: variants
                .iter()
                .map(|v| crate::lower::TaggedVariant {
                    fields: fields(&v.fields),
                    ..v.clone()
                })
                .collect(),
        },
        Def::Untagged {
            name,
            doc,
            variants,
        } => Def::Untagged {
            name: name_of(name),
            doc: doc.clone(),
            variants: variants
                .iter()
                .map(|(v, t)| (v.clone(), rename_ty(t, name_of)))
                .collect(),
        },
        Def::Alias { name, doc, ty } => Def::Alias {
            name: name_of(name),
            doc: doc.clone(),
            ty: rename_ty(ty, name_of),
        },
    }
}

fn rename_ty(ty: &Ty, name_of: &impl Fn(&str) -> String) -> Ty {
    match ty {
        Ty::Named(n) => Ty::Named(name_of(n)),
        Ty::Vec(t) => Ty::Vec(Box::new(rename_ty(t, name_of))),
        Ty::Map(t) => Ty::Map(Box::new(rename_ty(t, name_of))),
        Ty::Option(t) => Ty::Option(Box::new(rename_ty(t, name_of))),
        Ty::Checked(t, c) => Ty::Checked(Box::new(rename_ty(t, name_of)), c.clone()),
        other => other.clone(),
    }
}

/// clamator's `kebabAndCamelToPascal`: `excavator-engine` → `ExcavatorEngine`.
pub(crate) fn kebab_and_camel_to_pascal(s: &str) -> String {
    s.split('-').map(upper_first).collect()
}

/// clamator's `camelToSnake`, for Python method names: `echoText` → `echo_text`, `aBC` →
/// `a_b_c`. Three passes, each inserting `_` between non-overlapping matches as JavaScript's
/// global `replace` does, then lower case.
pub(crate) fn camel_to_snake(s: &str) -> String {
    let lower_or_digit = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let upper = |c: char| c.is_ascii_uppercase();
    let lower = |c: char| c.is_ascii_lowercase();
    // ([a-z0-9])([A-Z])
    let s = pass(s, 2, |w| lower_or_digit(w[0]) && upper(w[1]));
    // ([A-Z])([A-Z][a-z])
    let s = pass(&s, 3, |w| upper(w[0]) && upper(w[1]) && lower(w[2]));
    // ([A-Z])([A-Z])
    let s = pass(&s, 2, |w| upper(w[0]) && upper(w[1]));
    s.to_lowercase()
}

/// Inserts `_` after the first character of each non-overlapping window of `len`
/// characters that `matches`, scanning left to right.
fn pass(s: &str, len: usize, matches: impl Fn(&[char]) -> bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars.get(i..i + len) {
            Some(window) if matches(window) => {
                out.push(window[0]);
                out.push('_');
                out.extend(&window[1..]);
                i += len;
            }
            _ => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// `s` as a double-quoted string literal, which Python and TypeScript read alike (JSON's
/// escapes are a subset of both).
pub(crate) fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A JSON number as both languages write it.
pub(crate) fn number(n: &serde_json::Number) -> String {
    n.to_string()
}

/// The lines of a description, trimmed at the end, outer blank lines dropped.
pub(crate) fn doc_lines(text: &str) -> Vec<String> {
    let lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end].to_vec()
}

/// Source text being written line by line; each emitter adds its own comment forms.
pub(crate) struct Src {
    pub(crate) text: String,
    /// One level of indentation.
    unit: &'static str,
}

impl Src {
    /// Python: four spaces an indent.
    pub(crate) fn python() -> Self {
        Self {
            text: String::new(),
            unit: "    ",
        }
    }

    /// TypeScript: two spaces an indent.
    pub(crate) fn typescript() -> Self {
        Self {
            text: String::new(),
            unit: "  ",
        }
    }

    pub(crate) fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.text.push_str(self.unit);
        }
        self.text.push_str(text);
        self.text.push('\n');
    }

    pub(crate) fn blank(&mut self) {
        self.text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_clamators_case_rules() {
        for (camel, snake) in [
            ("processId", "process_id"),
            ("alreadySnake", "already_snake"),
            ("lower", "lower"),
            ("aBC", "a_b_c"),
            ("echoText", "echo_text"),
            ("getHTTPItem", "get_h_tt_p_item"),
            ("ABCD", "a_bc_d"),
            ("v2Api", "v2_api"),
        ] {
            assert_eq!(camel_to_snake(camel), snake, "{camel}");
        }
        assert_eq!(kebab_and_camel_to_pascal("engine"), "Engine");
        assert_eq!(
            kebab_and_camel_to_pascal("excavator-engine"),
            "ExcavatorEngine"
        );
        assert_eq!(kebab_and_camel_to_pascal("processStream"), "ProcessStream");
    }
}
