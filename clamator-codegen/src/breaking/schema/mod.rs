//! One params, result or payload schema, old against new.
//!
//! Params go from old clients to the new server, which validates them: the new schema must
//! accept everything the old one accepted, so narrowing breaks and widening does not.
//! Results go from the new server to old clients, which decode them into the old types: the
//! new schema must not produce a shape the old one cannot hold, so widening breaks. Clients
//! decode a result's shape but do not check its constraints (`minimum`, `pattern`, …), so a
//! constraint never breaks a result.
//! Event payloads go from the new publisher to old subscribers, which validate them against
//! the old schema, constraints and `additionalProperties: false` included, and dead-letter
//! what does not conform: the new schema must accept nothing the old one refused, so
//! widening breaks, a looser constraint breaks, and a new property breaks where the old
//! schema forbade unlisted ones.
//!
//! This module walks both schemas together (`$ref`s followed, each side taken apart into
//! its alternatives by [`normalize`]) and decides which findings break; [`union`] pairs
//! branches, [`constraints`] compares what a scalar allows and [`object`] compares objects
//! and arrays.

mod constraints;
mod normalize;
mod object;
mod union;

use serde_json::{Map, Value};

use self::normalize::{collect, kinds, Branch, Norm};
use super::Part;

/// One difference between the two schemas.
#[derive(Debug)]
pub(super) struct Finding {
    /// JSON Pointer into the schema (with `$ref`s inlined).
    pub(super) pointer: String,
    /// What changed.
    pub(super) description: String,
    /// Whether it breaks an old peer.
    pub(super) breaking: bool,
    /// Only a description, title or default differs: what is accepted is the same.
    cosmetic: bool,
}

/// Which way a change moves the set of values the schema accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Accepts less.
    Narrows,
    /// Accepts more.
    Widens,
    /// Accepts something else.
    Changes,
}

/// Deeper than any contract we generate from; only a guard, since recursive `$ref`s were
/// refused before comparing.
const MAX_DEPTH: usize = 64;

/// Compares the `part` schema of one method.
pub(super) fn compare(
    part: Part,
    old: (&Value, &Map<String, Value>),
    new: (&Value, &Map<String, Value>),
) -> Vec<Finding> {
    let mut cmp = Cmp {
        part,
        old_defs: old.1,
        new_defs: new.1,
        via: None,
        out: Vec::new(),
    };
    cmp.compare(old.0, new.0, "", 0);
    cmp.out
}

struct Cmp<'a> {
    part: Part,
    old_defs: &'a Map<String, Value>,
    new_defs: &'a Map<String, Value>,
    /// The `$defs` entry the schemas being compared come from, named in findings because
    /// pointers run through the inlined schema, not the file.
    via: Option<String>,
    out: Vec<Finding>,
}

impl Cmp<'_> {
    fn push(&mut self, at: &str, description: String, breaking: bool, cosmetic: bool) {
        let description = match &self.via {
            Some(def) => format!("{description} (in $defs/{def})"),
            None => description,
        };
        self.out.push(Finding {
            pointer: at.to_owned(),
            description,
            breaking,
            cosmetic,
        });
    }

    /// A change of shape: breaking when it narrows params or widens results.
    fn effect(&mut self, at: &str, effect: Effect, description: String) {
        let breaking = matches!(
            (self.part, effect),
            (_, Effect::Changes)
                | (Part::Params, Effect::Narrows)
                | (Part::Result | Part::Payload, Effect::Widens)
        );
        self.push(at, description, breaking, false);
    }

    /// A change of a constraint: servers check those in params and subscribers in payloads;
    /// clients do not check results, so a result's constraint never breaks.
    fn constraint(&mut self, at: &str, effect: Effect, description: String) {
        let breaking = match self.part {
            Part::Params => effect != Effect::Widens,
            Part::Payload => effect != Effect::Narrows,
            Part::Result => false,
        };
        self.push(at, description, breaking, false);
    }

    fn cannot_tell(&mut self, at: &str, what: &str) {
        self.push(
            at,
            format!("{what}: cannot tell; treated as breaking"),
            true,
            false,
        );
    }

    fn compare(&mut self, old: &Value, new: &Value, at: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.cannot_tell(at, "nested too deep to compare");
            return;
        }
        let (old, old_def) = resolve(old, self.old_defs);
        let (new, new_def) = resolve(new, self.new_defs);
        let saved = self.via.clone();
        if let Some(def) = new_def.or(old_def) {
            self.via = Some(def.to_owned());
        }
        self.annotations(old, new, at);
        let mut on = Norm::default();
        collect(old, self.old_defs, String::new(), None, &mut on);
        let mut nn = Norm::default();
        collect(new, self.new_defs, String::new(), None, &mut nn);
        self.compare_norms(&on, &nn, at, depth);
        self.via = saved;
    }

    fn compare_norms(&mut self, on: &Norm, nn: &Norm, at: &str, depth: usize) {
        match (on.any, nn.any) {
            (true, true) => return,
            (true, false) => {
                let to = kinds(nn);
                self.effect(
                    at,
                    Effect::Narrows,
                    format!("type narrowed from any value to {to}"),
                );
                return;
            }
            (false, true) => {
                let from = kinds(on);
                self.effect(
                    at,
                    Effect::Widens,
                    format!("type widened from {from} to any value"),
                );
                return;
            }
            (false, false) => {}
        }
        match (on.nullable, nn.nullable) {
            (false, true) => self.effect(at, Effect::Widens, "nullable added".into()),
            (true, false) => self.effect(at, Effect::Narrows, "nullable removed".into()),
            _ => {}
        }
        if let ([o], [n]) = (on.branches.as_slice(), nn.branches.as_slice()) {
            self.compare_branch(o, n, &format!("{at}{}", n.pointer), depth);
        } else {
            self.compare_union(on, nn, at, depth);
        }
    }

    fn compare_branch(&mut self, o: &Branch, n: &Branch, at: &str, depth: usize) {
        let saved = self.via.clone();
        if let Some(def) = n.via.as_ref().or(o.via.as_ref()) {
            self.via = Some(def.clone());
        }
        // A branch at the schema's own pointer had its annotations compared already.
        if !o.pointer.is_empty() && !n.pointer.is_empty() {
            self.annotations_of(&o.schema, &n.schema, at);
        }
        let (ko, kn) = (o.kind.as_str(), n.kind.as_str());
        let same_family = match (ko, kn) {
            _ if ko == kn => true,
            ("integer", "number") => {
                self.effect(
                    at,
                    Effect::Widens,
                    "type widened from integer to number".into(),
                );
                true
            }
            ("number", "integer") => {
                self.effect(
                    at,
                    Effect::Narrows,
                    "type narrowed from number to integer".into(),
                );
                true
            }
            _ => {
                self.effect(
                    at,
                    Effect::Changes,
                    format!("type changed from {ko} to {kn}"),
                );
                false
            }
        };
        if same_family {
            let (os, ns) = (&o.schema, &n.schema);
            self.values(os, ns, at);
            match kn {
                "string" => {
                    self.count(os, ns, at, "minLength", true);
                    self.count(os, ns, at, "maxLength", false);
                    self.text(os, ns, at, "pattern");
                    self.text(os, ns, at, "format");
                }
                "integer" | "number" => {
                    self.bound(os, ns, at, true);
                    self.bound(os, ns, at, false);
                    self.multiple_of(os, ns, at);
                }
                "array" => self.array(os, ns, at, depth),
                "object" => self.object(os, ns, at, depth),
                _ => {}
            }
        }
        self.via = saved;
    }

    fn annotations(&mut self, old: &Value, new: &Value, at: &str) {
        if let (Value::Object(o), Value::Object(n)) = (old, new) {
            self.annotations_of(o, n, at);
        }
    }

    fn annotations_of(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
        for key in ["title", "description"] {
            if o.get(key) != n.get(key) {
                self.push(at, format!("{key} changed"), false, true);
            }
        }
        let description = match (o.get("default"), n.get("default")) {
            (None, Some(b)) => format!("default added: {b}"),
            (Some(a), None) => format!("default removed (was {a})"),
            (Some(a), Some(b)) if a != b => format!("default changed from {a} to {b}"),
            _ => return,
        };
        self.push(at, description, false, true);
    }
}

/// Follows `$ref`s to `$defs`; returns the schema and the last definition's name.
fn resolve<'v>(
    mut schema: &'v Value,
    defs: &'v Map<String, Value>,
) -> (&'v Value, Option<&'v str>) {
    let mut via = None;
    for _ in 0..MAX_DEPTH {
        let target = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(crate::load::def_name);
        match target.and_then(|t| defs.get(t).map(|d| (t, d))) {
            Some((name, def)) => {
                schema = def;
                via = Some(name);
            }
            None => break,
        }
    }
    (schema, via)
}
