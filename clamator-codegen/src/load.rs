//! Reading contract files: `contracts/<service>.json`, one service each.

use std::path::{Path, PathBuf};

use clamator_protocol::names;
use serde_json::{Map, Value};

use crate::error::CodegenError;

/// One method of a contract, as written in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MethodDef {
    /// The wire name.
    pub(crate) name: String,
    /// True for notifications.
    pub(crate) notification: bool,
    /// The params schema, as written.
    pub(crate) params: Value,
    /// The result schema, as written; `None` for notifications.
    pub(crate) result: Option<Value>,
    /// The method's `description`, for the generated docs.
    pub(crate) description: Option<String>,
    /// The names of the service's declared errors this method may answer with.
    pub(crate) errors: Vec<String>,
}

/// An application error a service declares: what its handlers may answer with besides a
/// result, as a JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ErrorDef {
    /// `OutOfStock`: the variant of the generated error enum.
    pub(crate) name: String,
    /// The JSON-RPC code, outside -32768..-32000.
    pub(crate) code: i64,
    /// The error object's `message`; the name when the contract gives none.
    pub(crate) message: String,
    /// The contract's `description`, for the generated docs.
    pub(crate) description: Option<String>,
    /// The schema of the error object's `data`; `None`: no data (`null`).
    pub(crate) data: Option<Value>,
}

/// An event the service publishes: a notification `<service>.<event>` on its event stream,
/// which every subscribing service receives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventDef {
    /// The wire name: `orderPlaced`.
    pub(crate) name: String,
    /// The payload schema, as written.
    pub(crate) payload: Value,
    /// The event's `description`, for the generated docs.
    pub(crate) description: Option<String>,
}

/// A contract file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContractFile {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// The service name.
    pub(crate) service: String,
    /// Methods in file order.
    pub(crate) methods: Vec<MethodDef>,
    /// Shared schemas, `#/$defs/<Name>`.
    pub(crate) defs: Map<String, Value>,
    /// Declared application errors, in file order.
    pub(crate) errors: Vec<ErrorDef>,
    /// The events the service publishes, sorted as methods are; empty when the file has no
    /// `events`.
    pub(crate) events: Vec<EventDef>,
}

/// Reads every `*.json` file of `dir` (not recursive; `manifest.json` excepted), sorted by
/// service name.
pub(crate) fn load_dir(dir: &Path) -> Result<Vec<ContractFile>, CodegenError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CodegenError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| CodegenError::io(dir, e))?.path();
        let is_json = path.extension().is_some_and(|x| x == "json");
        let is_manifest = path.file_name().is_some_and(|n| n == "manifest.json");
        if is_json && !is_manifest && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut contracts = paths
        .iter()
        .map(|p| load_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    contracts.sort_by(|a, b| crate::names::locale_cmp(&a.service, &b.service));
    for pair in contracts.windows(2) {
        if pair[0].service == pair[1].service {
            return Err(CodegenError::contract(
                &pair[1].path,
                "/service",
                format!(
                    "service \"{}\" is also defined in {}",
                    pair[1].service,
                    pair[0].path.display()
                ),
            ));
        }
    }
    Ok(contracts)
}

/// Reads one contract file.
pub(crate) fn load_file(path: &Path) -> Result<ContractFile, CodegenError> {
    let text = std::fs::read_to_string(path).map_err(|e| CodegenError::io(path, e))?;
    parse_contract(path, &text)
}

/// Parses a contract from its text; `path` names it in errors.
pub(crate) fn parse_contract(path: &Path, text: &str) -> Result<ContractFile, CodegenError> {
    let err = |pointer: &str, reason: String| CodegenError::contract(path, pointer, reason);
    let value: Value =
        serde_json::from_str(text).map_err(|e| err("", format!("not valid JSON: {e}")))?;
    let Value::Object(mut root) = value else {
        return Err(err("", "a contract must be a JSON object".into()));
    };
    for key in root.keys() {
        if !matches!(
            key.as_str(),
            "service"
                | "methods"
                | "events"
                | "errors"
                | "$defs"
                | "$schema"
                | "description"
                | "title"
        ) {
            return Err(err(
                &format!("/{}", escape(key)),
                format!("unknown key \"{key}\" (expected service, methods, events, errors, $defs)"),
            ));
        }
    }
    let service = match root.remove("service") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(err("/service", "service must be a string".into())),
        None => return Err(err("", "missing \"service\"".into())),
    };
    if !names::is_valid_service(&service) {
        return Err(err(
            "/service",
            format!("invalid service name \"{service}\" (must match ^[a-z][a-z0-9-]*$)"),
        ));
    }
    let defs = match root.remove("$defs") {
        None => Map::new(),
        Some(Value::Object(d)) => d,
        Some(_) => return Err(err("/$defs", "$defs must be an object".into())),
    };
    let errors = match root.remove("errors") {
        None => Vec::new(),
        Some(Value::Object(e)) => load_errors(e, &err)?,
        Some(_) => return Err(err("/errors", "errors must be an object".into())),
    };
    let methods_value = match root.remove("methods") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(err("/methods", "methods must be an object".into())),
        None => return Err(err("", "missing \"methods\"".into())),
    };
    let mut methods = Vec::new();
    for (name, def) in methods_value {
        let at = format!("/methods/{}", escape(&name));
        if !names::is_valid_method(&name) {
            let why = if name.contains('-') {
                " (hyphens are not allowed: TypeScript clamator servers drop such calls)"
            } else {
                ""
            };
            return Err(err(
                &at,
                format!("invalid method name \"{name}\" (must match ^[a-z][a-zA-Z0-9]*$){why}"),
            ));
        }
        let Value::Object(mut def) = def else {
            return Err(err(&at, "a method must be an object".into()));
        };
        for key in def.keys() {
            if !matches!(
                key.as_str(),
                "params" | "result" | "notification" | "description" | "errors"
            ) {
                return Err(err(
                    &format!("{at}/{}", escape(key)),
                    format!(
                        "unknown key \"{key}\" (expected params, result, notification, \
                         description, errors)"
                    ),
                ));
            }
        }
        let notification = match def.remove("notification") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => {
                return Err(err(
                    &format!("{at}/notification"),
                    "notification must be true or false".into(),
                ))
            }
        };
        let params = def.remove("params").ok_or_else(|| {
            err(
                &at,
                format!("method \"{name}\" must include a params schema"),
            )
        })?;
        let result = def.remove("result");
        let description = match def.remove("description") {
            None => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                return Err(err(
                    &format!("{at}/description"),
                    "description must be a string".into(),
                ))
            }
        };
        let method_errors = match def.remove("errors") {
            None => Vec::new(),
            Some(Value::Array(names)) => {
                let mut list = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    let at = format!("{at}/errors/{i}");
                    let Some(n) = n.as_str() else {
                        return Err(err(&at, "an error is named by a string".into()));
                    };
                    if !errors.iter().any(|e| e.name == n) {
                        return Err(err(
                            &at,
                            format!("\"{n}\" is not declared in the service's errors"),
                        ));
                    }
                    list.push(n.to_owned());
                }
                list
            }
            Some(_) => {
                return Err(err(
                    &format!("{at}/errors"),
                    "errors must be a list of names declared in the service's errors".into(),
                ))
            }
        };
        if notification && !method_errors.is_empty() {
            return Err(err(
                &format!("{at}/errors"),
                format!("notification \"{name}\" is never answered, so it has no errors"),
            ));
        }
        match (notification, &result) {
            (true, Some(_)) => {
                return Err(err(
                    &format!("{at}/result"),
                    format!("notification \"{name}\" must not include result"),
                ))
            }
            (false, None) => {
                return Err(err(
                    &at,
                    format!("method \"{name}\" must include result schema"),
                ))
            }
            _ => {}
        }
        methods.push(MethodDef {
            name,
            notification,
            params,
            result,
            description,
            errors: method_errors,
        });
    }
    methods.sort_by(|a, b| crate::names::locale_cmp(&a.name, &b.name));
    let events = match root.remove("events") {
        None => Vec::new(),
        Some(Value::Object(e)) => load_events(e, &methods, &err)?,
        Some(_) => return Err(err("/events", "events must be an object".into())),
    };
    Ok(ContractFile {
        path: path.to_owned(),
        service,
        methods,
        defs,
        errors,
        events,
    })
}

/// The service's `events`: `{"<event>": {"payload", "description"?}}`. Event names follow
/// the rules of method names, and may not be a method's name: both travel as the
/// notification `<service>.<name>`, so logs, dead letters and tools could not tell them
/// apart.
fn load_events(
    events: Map<String, Value>,
    methods: &[MethodDef],
    err: &impl Fn(&str, String) -> CodegenError,
) -> Result<Vec<EventDef>, CodegenError> {
    let mut out = Vec::new();
    for (name, def) in events {
        let at = format!("/events/{}", escape(&name));
        if !names::is_valid_method(&name) {
            let why = if name.contains('-') {
                " (hyphens are not allowed, as in method names)"
            } else {
                ""
            };
            return Err(err(
                &at,
                format!("invalid event name \"{name}\" (must match ^[a-z][a-zA-Z0-9]*$){why}"),
            ));
        }
        if methods.iter().any(|m| m.name == name) {
            return Err(err(
                &at,
                format!(
                    "event \"{name}\" has the name of a method; both would be the notification \
                     \"<service>.{name}\", so give the event a name of its own"
                ),
            ));
        }
        let Value::Object(mut def) = def else {
            return Err(err(&at, "an event must be an object".into()));
        };
        if let Some(key) = def
            .keys()
            .find(|k| !matches!(k.as_str(), "payload" | "description"))
        {
            return Err(err(
                &format!("{at}/{}", escape(key)),
                format!("unknown key \"{key}\" (expected payload, description)"),
            ));
        }
        let payload = def.remove("payload").ok_or_else(|| {
            err(
                &at,
                format!("event \"{name}\" must include a payload schema"),
            )
        })?;
        let description = match def.remove("description") {
            None => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                return Err(err(
                    &format!("{at}/description"),
                    "description must be a string".into(),
                ))
            }
        };
        out.push(EventDef {
            name,
            payload,
            description,
        });
    }
    out.sort_by(|a, b| crate::names::locale_cmp(&a.name, &b.name));
    Ok(out)
}

/// The service's `errors`: `{"<Name>": {"code", "message"?, "description"?, "data"?}}`.
fn load_errors(
    errors: Map<String, Value>,
    err: &impl Fn(&str, String) -> CodegenError,
) -> Result<Vec<ErrorDef>, CodegenError> {
    let mut out: Vec<ErrorDef> = Vec::new();
    for (name, def) in errors {
        let at = format!("/errors/{}", escape(&name));
        if !crate::names::is_type_name(&name) {
            return Err(err(
                &at,
                format!("invalid error name \"{name}\" (must match ^[A-Z][A-Za-z0-9]*$)"),
            ));
        }
        let Value::Object(mut def) = def else {
            return Err(err(&at, "an error must be an object".into()));
        };
        if let Some(key) = def
            .keys()
            .find(|k| !matches!(k.as_str(), "code" | "message" | "description" | "data"))
        {
            return Err(err(
                &format!("{at}/{}", escape(key)),
                format!("unknown key \"{key}\" (expected code, message, description, data)"),
            ));
        }
        let code = def
            .get("code")
            .and_then(Value::as_i64)
            .ok_or_else(|| err(&format!("{at}/code"), "code must be an integer".into()))?;
        if (-32768..=-32000).contains(&code) {
            return Err(err(
                &format!("{at}/code"),
                format!("code {code} is in -32768..-32000, which JSON-RPC reserves"),
            ));
        }
        if let Some(other) = out.iter().find(|e| e.code == code) {
            return Err(err(
                &format!("{at}/code"),
                format!("code {code} is already the code of {}", other.name),
            ));
        }
        let mut text = |key: &str| match def.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(err(
                &format!("{at}/{key}"),
                format!("{key} must be a string"),
            )),
        };
        let message = text("message")?.unwrap_or_else(|| name.clone());
        let description = text("description")?;
        let data = def.remove("data");
        out.push(ErrorDef {
            name,
            code,
            message,
            description,
            data,
        });
    }
    Ok(out)
}

/// The `$defs` entry a `$ref` names: `Point` for `#/$defs/Point` (or draft-07's
/// `#/definitions/Point`); `None` for any other reference.
pub(crate) fn def_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
}

/// Escapes a key for a JSON Pointer (RFC 6901).
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
