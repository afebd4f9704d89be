//! Checking a contract change for compatibility, in the spirit of `buf breaking`: compares
//! old contracts with new ones and lists every change, each marked as breaking an existing
//! peer or not.
//!
//! The point of view is a rolling deploy: servers built from the new contracts serve
//! clients built from the old ones. The new server validates params strictly, so params
//! must not narrow; old clients decode results into their old types, so results must not
//! widen. Event payloads go from the new publisher to old subscribers, which validate them:
//! they must not widen either, constraints included. The rules in full, with the command,
//! are in `docs/contracts.md` ("Checking a change for compatibility").
//!
//! ```
//! use clamator_codegen::breaking::{breaking_changes, summary};
//!
//! let dir = std::env::temp_dir().join(format!("clamator-breaking-doc-{}", std::process::id()));
//! let contract = |required: &str| {
//!     format!(
//!         r#"{{"service":"arith","methods":{{"add":{{
//!             "params":{{"type":"object","properties":{{"a":{{"type":"number"}},"b":{{"type":"number"}}}},
//!                        "required":[{required}],"additionalProperties":false}},
//!             "result":{{"type":"number"}}}}}}}}"#
//!     )
//! };
//! for (side, required) in [("old", r#""a""#), ("new", r#""a","b""#)] {
//!     std::fs::create_dir_all(dir.join(side))?;
//!     std::fs::write(dir.join(side).join("arith.json"), contract(required))?;
//! }
//!
//! let changes = breaking_changes(&dir.join("old"), &dir.join("new"))?;
//! assert_eq!(
//!     changes[0].to_string(),
//!     "BREAKING arith.add params /properties/b: optional property became required"
//! );
//! assert!(changes[0].breaking);
//! assert_eq!(summary(&changes), "1 breaking change, 0 compatible changes");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod schema;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use crate::emit;
use crate::error::CodegenError;
use crate::load;
use crate::load::escape;
use crate::manifest::MethodHashes;
use crate::names::locale_cmp;

/// Which schema of a method, or of an event, a change is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// The params schema: old clients send, the new server validates.
    Params,
    /// The result schema: the new server sends, old clients decode.
    Result,
    /// An event's payload schema: the new publisher sends, old subscribers validate (and
    /// dead-letter what does not conform).
    Payload,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Params => "params",
            Self::Result => "result",
            Self::Payload => "payload",
        })
    }
}

/// One difference between the old and the new contracts.
///
/// Displays as one line: `BREAKING arith.add params /properties/b: new required property`,
/// or `ok …` for a compatible change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The service.
    pub service: String,
    /// The method, or the event (events and methods never share a name); `None` for a
    /// change to the whole service.
    pub method: Option<String>,
    /// The schema; `None` for a change to the whole service or method.
    pub part: Option<Part>,
    /// JSON Pointer into that schema, `$ref`s inlined (a change inside a `$defs` entry
    /// names it in the description); empty for the schema itself.
    pub location: String,
    /// What changed, in words.
    pub description: String,
    /// Whether it breaks a peer deployed from the old contracts.
    pub breaking: bool,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.breaking { "BREAKING" } else { "ok" };
        write!(f, "{verdict} {}", self.service)?;
        if let Some(method) = &self.method {
            write!(f, ".{method}")?;
        }
        if let Some(part) = self.part {
            write!(f, " {part}")?;
        }
        if !self.location.is_empty() {
            write!(f, " {}", self.location)?;
        }
        write!(f, ": {}", self.description)
    }
}

/// Compares the contracts at `old` with those at `new` and returns every change, sorted by
/// service, method and location.
///
/// Each side is a contracts directory (every `*.json` but `manifest.json`) or one contract
/// file. When one side is a single file, only its services are compared (the other side's
/// other services are not reported as added or removed). `old` may also be a manifest
/// (`manifest.json`): it holds only hashes, so it tells removed and added services, methods
/// and events, a request turned notification or back, and which schemas are unchanged; a
/// schema whose hash differs cannot be classified and is reported as breaking.
///
/// An event is compared as a subscriber sees it: removing one breaks, and its payload must
/// not accept what the old schema refused (subscribers validate it), so a payload widening,
/// a looser constraint or a new property under `additionalProperties: false` breaks.
///
/// Both sides are checked as code generation checks them; a broken contract is an error
/// naming the file.
pub fn breaking_changes(old: &Path, new: &Path) -> Result<Vec<Change>, CodegenError> {
    let new_side = Side::load(new)?;
    let (old_side, old_single_file) = match read_manifest(old)? {
        Some(manifest) => (manifest, false),
        None => {
            let side = Side::load(old)?;
            let single = side.single_file;
            (side.services, single)
        }
    };
    let scope = match (old_single_file, new_side.single_file) {
        (true, false) => Some(names(&old_side)),
        (false, true) => Some(names(&new_side.services)),
        _ => None,
    };
    let mut changes = compare_sides(&old_side, &new_side.services, scope.as_ref());
    changes.sort_by(order);
    Ok(changes)
}

/// Whether `path` is a manifest of schema hashes rather than a contract file or directory.
pub fn is_manifest(path: &Path) -> bool {
    matches!(read_manifest(path), Ok(Some(_)))
}

/// The closing line: `2 breaking changes, 1 compatible change`.
pub fn summary(changes: &[Change]) -> String {
    let breaking = changes.iter().filter(|c| c.breaking).count();
    let compatible = changes.len() - breaking;
    let plural = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    format!(
        "{}, {}",
        plural(breaking, "breaking change"),
        plural(compatible, "compatible change")
    )
}

fn order(a: &Change, b: &Change) -> Ordering {
    locale_cmp(&a.service, &b.service)
        .then_with(|| match (&a.method, &b.method) {
            (Some(x), Some(y)) => locale_cmp(x, y),
            (x, y) => x.is_some().cmp(&y.is_some()),
        })
        .then_with(|| a.part.cmp(&b.part))
        .then_with(|| a.location.cmp(&b.location))
        .then_with(|| a.description.cmp(&b.description))
}

/// One service as compared: from a contract file (schemas and hashes) or from a manifest
/// (hashes only).
struct Service {
    name: String,
    methods: Vec<Method>,
    /// `None` from a manifest.
    defs: Option<Map<String, Value>>,
    /// Declared application errors; `None` from a manifest.
    errors: Option<Vec<load::ErrorDef>>,
    /// The events it publishes.
    events: Vec<Event>,
}

struct Event {
    name: String,
    /// The payload schema; `None` from a manifest.
    payload: Option<Value>,
    payload_hash: String,
}

struct Method {
    name: String,
    notification: bool,
    /// The params and result schemas; `None` from a manifest.
    schemas: Option<(Value, Option<Value>)>,
    hashes: MethodHashes,
}

/// The contracts of one side, checked.
struct Side {
    services: Vec<Service>,
    single_file: bool,
}

impl Side {
    fn load(path: &Path) -> Result<Self, CodegenError> {
        let single_file = path.is_file();
        let contracts = if single_file {
            vec![load::load_file(path)?]
        } else {
            load::load_dir(path)?
        };
        let mut services = Vec::new();
        for contract in contracts {
            // Also checks the schemas as code generation does, so comparing never meets a
            // recursive or dangling `$ref` or an unsupported keyword.
            let generated = emit::generate(&contract)?;
            let (hashes, event_hashes) = (generated.hashes, generated.event_hashes);
            let methods = contract
                .methods
                .into_iter()
                .zip(hashes)
                .map(|(m, hashes)| Method {
                    name: m.name,
                    notification: m.notification,
                    schemas: Some((m.params, m.result)),
                    hashes,
                })
                .collect();
            let events = contract
                .events
                .into_iter()
                .zip(event_hashes)
                .map(|(e, h)| Event {
                    name: e.name,
                    payload: Some(e.payload),
                    payload_hash: h.payload_hash,
                })
                .collect();
            services.push(Service {
                name: contract.service,
                methods,
                defs: Some(contract.defs),
                errors: Some(contract.errors),
                events,
            });
        }
        Ok(Self {
            services,
            single_file,
        })
    }
}

fn names(services: &[Service]) -> BTreeSet<String> {
    services.iter().map(|s| s.name.clone()).collect()
}

/// A change to a whole service or method.
fn whole(service: &str, method: Option<&str>, what: &str, breaking: bool) -> Change {
    Change {
        service: service.to_owned(),
        method: method.map(str::to_owned),
        part: None,
        location: String::new(),
        description: what.to_owned(),
        breaking,
    }
}

fn compare_sides(
    old: &[Service],
    new: &[Service],
    scope: Option<&BTreeSet<String>>,
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut all = names(old);
    all.extend(names(new));
    for name in all.iter().filter(|n| scope.is_none_or(|s| s.contains(*n))) {
        match (
            old.iter().find(|s| &s.name == name),
            new.iter().find(|s| &s.name == name),
        ) {
            (Some(_), None) => out.push(whole(name, None, "service removed", true)),
            (None, Some(_)) => out.push(whole(name, None, "new service", false)),
            (Some(o), Some(n)) => compare_service(o, n, &mut out),
            (None, None) => {}
        }
    }
    out
}

fn compare_service(old: &Service, new: &Service, out: &mut Vec<Change>) {
    let service = &new.name;
    for n in &new.methods {
        match old.methods.iter().find(|o| o.name == n.name) {
            Some(o) => compare_method(old, o, new, n, out),
            None if n.notification => {
                out.push(whole(service, Some(&n.name), "new notification", false))
            }
            None => out.push(whole(service, Some(&n.name), "new method", false)),
        }
    }
    compare_errors(old, new, out);
    compare_events(old, new, out);
    for o in &old.methods {
        if !new.methods.iter().any(|n| n.name == o.name) {
            let what = if o.notification {
                "notification removed"
            } else {
                "method removed"
            };
            out.push(whole(service, Some(&o.name), what, true));
        }
    }
}

/// The declared application errors, from the callers' side: old callers recognise an error
/// by its code and decode its `data` as the old schema says (as they decode a result).
fn compare_errors(old: &Service, new: &Service, out: &mut Vec<Change>) {
    let (Some(old_errors), Some(new_errors), Some(od), Some(nd)) =
        (&old.errors, &new.errors, &old.defs, &new.defs)
    else {
        return;
    };
    let change = |name: &str, location: &str, description: String, breaking| Change {
        service: new.name.clone(),
        method: None,
        part: None,
        location: format!("/errors/{}{location}", escape(name)),
        description,
        breaking,
    };
    for n in new_errors {
        let Some(o) = old_errors.iter().find(|o| o.name == n.name) else {
            out.push(change(&n.name, "", "new error".into(), false));
            continue;
        };
        if o.code != n.code {
            let what = format!(
                "code changed from {} to {} (old callers no longer recognise the error)",
                o.code, n.code
            );
            out.push(change(&n.name, "/code", what, true));
        }
        match (&o.data, &n.data) {
            (Some(os), Some(ns)) => {
                for f in schema::compare(Part::Result, (os, od), (ns, nd)) {
                    let at = format!("/data{}", f.pointer);
                    out.push(change(&n.name, &at, f.description, f.breaking));
                }
            }
            (None, Some(_)) => out.push(change(&n.name, "/data", "data added".into(), false)),
            (Some(_), None) => out.push(change(
                &n.name,
                "/data",
                "data removed (old callers expect it)".into(),
                true,
            )),
            (None, None) => {}
        }
    }
    for o in old_errors {
        if !new_errors.iter().any(|n| n.name == o.name) {
            let what = "error removed (old callers just never see it)".to_owned();
            out.push(change(&o.name, "", what, false));
        }
    }
}

/// The events, from the subscribers' side: an old subscriber waits for each event it was
/// built for and validates its payload against the old schema.
fn compare_events(old: &Service, new: &Service, out: &mut Vec<Change>) {
    let service = &new.name;
    for n in &new.events {
        let Some(o) = old.events.iter().find(|o| o.name == n.name) else {
            out.push(whole(service, Some(&n.name), "new event", false));
            continue;
        };
        let change = |location, description, breaking| Change {
            service: service.clone(),
            method: Some(n.name.clone()),
            part: Some(Part::Payload),
            location,
            description,
            breaking,
        };
        match (&o.payload, &old.defs, &n.payload, &new.defs) {
            (Some(os), Some(od), Some(ns), Some(nd)) => {
                for f in schema::compare(Part::Payload, (os, od), (ns, nd)) {
                    out.push(change(f.pointer, f.description, f.breaking));
                }
            }
            _ if o.payload_hash != n.payload_hash => {
                out.push(change(String::new(), HASH_ONLY.into(), true));
            }
            _ => {}
        }
    }
    for o in &old.events {
        if !new.events.iter().any(|n| n.name == o.name) {
            let what = "event removed (old subscribers wait for it in vain)";
            out.push(whole(service, Some(&o.name), what, true));
        }
    }
}

/// Said of a schema whose hash changed when the old side is a manifest.
const HASH_ONLY: &str = "schema changed; the old side is a manifest, which holds only hashes: \
                         cannot tell; treated as breaking";

fn compare_method(
    old_service: &Service,
    o: &Method,
    new_service: &Service,
    n: &Method,
    out: &mut Vec<Change>,
) {
    let (service, method) = (&new_service.name, Some(n.name.as_str()));
    match (o.notification, n.notification) {
        (false, true) => out.push(whole(
            service,
            method,
            "request became a notification (old callers wait for a reply that never comes)",
            true,
        )),
        (true, false) => out.push(whole(
            service,
            method,
            "notification became a request (old senders never read its reply)",
            true,
        )),
        _ => {}
    }
    let schema_change = |part, location, description, breaking| Change {
        service: service.clone(),
        method: method.map(str::to_owned),
        part: Some(part),
        location,
        description,
        breaking,
    };
    match (&o.schemas, &old_service.defs, &n.schemas, &new_service.defs) {
        (Some((op, or)), Some(od), Some((np, nr)), Some(nd)) => {
            let mut pairs = vec![(Part::Params, op, np)];
            if let (Some(or), Some(nr)) = (or, nr) {
                pairs.push((Part::Result, or, nr));
            }
            for (part, os, ns) in pairs {
                for f in schema::compare(part, (os, od), (ns, nd)) {
                    out.push(schema_change(part, f.pointer, f.description, f.breaking));
                }
            }
        }
        _ => {
            let (oh, nh) = (&o.hashes, &n.hashes);
            if oh.params_hash != nh.params_hash {
                out.push(schema_change(
                    Part::Params,
                    String::new(),
                    HASH_ONLY.into(),
                    true,
                ));
            }
            if let (Some(a), Some(b)) = (&oh.result_hash, &nh.result_hash) {
                if a != b {
                    out.push(schema_change(
                        Part::Result,
                        String::new(),
                        HASH_ONLY.into(),
                        true,
                    ));
                }
            }
        }
    }
}

/// The manifest at `path`, as services without schemas; `None` when `path` is not one (a
/// directory, a contract file, or a file that is not JSON, left for the contract loader to
/// report).
fn read_manifest(path: &Path) -> Result<Option<Vec<Service>>, CodegenError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| CodegenError::io(path, e))?;
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(&text) else {
        return Ok(None);
    };
    if root.contains_key("service") || !root.contains_key("contracts") {
        return Ok(None);
    }
    let err =
        |pointer: &str, reason: &str| CodegenError::contract(path, pointer, reason.to_owned());
    let Some(Value::Object(contracts)) = root.get("contracts") else {
        return Err(err(
            "/contracts",
            "a manifest's contracts must be an object",
        ));
    };
    let mut services = Vec::new();
    for (service, methods) in contracts {
        let at = format!("/contracts/{}", escape(service));
        let Value::Object(methods) = methods else {
            return Err(err(&at, "a service's entry must be an object of methods"));
        };
        let mut list = Vec::new();
        for (name, entry) in methods {
            let at = format!("{at}/{}", escape(name));
            let Some(params_hash) = entry.get("paramsHash").and_then(Value::as_str) else {
                return Err(err(&at, "paramsHash must be a string"));
            };
            let result_hash = match entry.get("resultHash") {
                Some(Value::Null) => None,
                Some(Value::String(h)) => Some(h.clone()),
                _ => return Err(err(&at, "resultHash must be a string or null")),
            };
            list.push(Method {
                name: name.clone(),
                notification: result_hash.is_none(),
                schemas: None,
                hashes: MethodHashes {
                    name: name.clone(),
                    params_hash: params_hash.to_owned(),
                    result_hash,
                },
            });
        }
        services.push(Service {
            name: service.clone(),
            methods: list,
            defs: None,
            errors: None,
            events: Vec::new(),
        });
    }
    // Events: `{"<service>": {"<event>": {"payloadHash"}}}`, only in manifests of contracts
    // with events.
    match root.get("events") {
        None => {}
        Some(Value::Object(events)) => {
            for (service, entries) in events {
                let at = format!("/events/{}", escape(service));
                let Value::Object(entries) = entries else {
                    return Err(err(&at, "a service's entry must be an object of events"));
                };
                let Some(s) = services.iter_mut().find(|s| &s.name == service) else {
                    return Err(err(
                        &at,
                        "events of a service the manifest has no contract of",
                    ));
                };
                for (name, entry) in entries {
                    let at = format!("{at}/{}", escape(name));
                    let Some(hash) = entry.get("payloadHash").and_then(Value::as_str) else {
                        return Err(err(&at, "payloadHash must be a string"));
                    };
                    s.events.push(Event {
                        name: name.clone(),
                        payload: None,
                        payload_hash: hash.to_owned(),
                    });
                }
            }
        }
        Some(_) => return Err(err("/events", "a manifest's events must be an object")),
    }
    Ok(Some(services))
}
