//! One params or result schema, old against new.
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

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::Part;
use crate::load::escape;
use crate::lower::is_optional_marker;

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

/// What a schema accepts, as alternatives: `anyOf`/`oneOf` branches flattened, `type`
/// lists split, `null` taken out.
#[derive(Debug, Default)]
struct Norm {
    /// Accepts anything (`{}`, `true`, annotations only).
    any: bool,
    nullable: bool,
    /// The top-level union is a `oneOf`.
    one_of: bool,
    branches: Vec<Branch>,
}

#[derive(Debug, Clone)]
struct Branch {
    /// The branch schema, `type` reduced to this branch's one type.
    schema: Map<String, Value>,
    /// Where it is, relative to the schema the branches were taken from.
    pointer: String,
    /// `string`, `integer`, `number`, `boolean`, `object` or `array`.
    kind: String,
    /// Split out of a `type` list rather than written as a union branch.
    from_type_list: bool,
    /// The `$defs` entry it was reached through.
    via: Option<String>,
}

/// How an object treats properties it does not list.
#[derive(Debug)]
enum Extra {
    Any,
    Forbidden,
    Schema(Value),
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

    /// Unions (or a union on one side): branches are paired by tag value, else by type,
    /// else by being equivalent; what cannot be paired is reported as such.
    fn compare_union(&mut self, on: &Norm, nn: &Norm, at: &str, depth: usize) {
        if on.branches.len() > 1 && nn.branches.len() > 1 && on.one_of != nn.one_of {
            if nn.one_of {
                self.effect(
                    at,
                    Effect::Narrows,
                    "anyOf became oneOf (a value matching several branches is refused)".into(),
                );
            } else {
                self.effect(at, Effect::Widens, "oneOf became anyOf".into());
            }
        }
        if let Some(tag) = tag_of(&on.branches, &nn.branches) {
            for n in &nn.branches {
                let value = tag_value(n, &tag);
                let at_n = format!("{at}{}", n.pointer);
                match on.branches.iter().find(|o| tag_value(o, &tag) == value) {
                    Some(o) => self.compare_branch(o, n, &at_n, depth),
                    None => self.effect(
                        &at_n,
                        Effect::Widens,
                        format!("union gains the branch {tag} = {}", quoted(value)),
                    ),
                }
            }
            for o in &on.branches {
                let value = tag_value(o, &tag);
                if !nn.branches.iter().any(|n| tag_value(n, &tag) == value) {
                    self.effect(
                        &format!("{at}{}", o.pointer),
                        Effect::Narrows,
                        format!("union loses the branch {tag} = {}", quoted(value)),
                    );
                }
            }
            return;
        }
        if distinct_kinds(&on.branches) && distinct_kinds(&nn.branches) {
            self.pair_by_kind(on, nn, at, depth);
            return;
        }
        let mut used = vec![false; nn.branches.len()];
        let mut pairs = Vec::new();
        let mut lost = Vec::new();
        for o in &on.branches {
            let found = (0..nn.branches.len())
                .find(|&j| !used[j] && self.equivalent(o, &nn.branches[j], depth));
            match found {
                Some(j) => {
                    used[j] = true;
                    pairs.push((o, &nn.branches[j]));
                }
                None => lost.push(o),
            }
        }
        let gained: Vec<&Branch> = nn
            .branches
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(b, _)| b)
            .collect();
        for (o, n) in pairs {
            // Equivalent, but descriptions may differ.
            self.compare_branch(o, n, &format!("{at}{}", n.pointer), depth);
        }
        match (lost.as_slice(), gained.as_slice()) {
            (lost, gained) if lost.is_empty() || gained.is_empty() => {
                for n in gained {
                    self.gained(at, n);
                }
                for o in lost {
                    self.lost(at, o);
                }
            }
            ([o], [n]) => self.compare_branch(o, n, &format!("{at}{}", n.pointer), depth),
            (lost, gained) => self.cannot_tell(
                at,
                &format!(
                    "union restructured ({} old branches unmatched, {} new)",
                    lost.len(),
                    gained.len()
                ),
            ),
        }
    }

    fn pair_by_kind(&mut self, on: &Norm, nn: &Norm, at: &str, depth: usize) {
        let find = |bs: &[Branch], kind: &str| bs.iter().position(|b| b.kind == kind);
        let mut old_left: Vec<&Branch> = Vec::new();
        let mut new_left: Vec<&Branch> = nn
            .branches
            .iter()
            .filter(|n| find(&on.branches, &n.kind).is_none())
            .collect();
        for o in &on.branches {
            match find(&nn.branches, &o.kind) {
                Some(j) => {
                    let n = &nn.branches[j];
                    self.compare_branch(o, n, &format!("{at}{}", n.pointer), depth);
                }
                None => old_left.push(o),
            }
        }
        // integer → number is a widening, not a branch lost and another gained.
        let numeric = |b: &&Branch| b.kind == "integer" || b.kind == "number";
        if let (Some(i), Some(j)) = (
            old_left.iter().position(numeric),
            new_left.iter().position(numeric),
        ) {
            let (o, n) = (old_left.remove(i), new_left.remove(j));
            self.compare_branch(o, n, &format!("{at}{}", n.pointer), depth);
        }
        for n in new_left {
            self.gained(at, n);
        }
        for o in old_left {
            self.lost(at, o);
        }
    }

    fn gained(&mut self, at: &str, n: &Branch) {
        let description = if n.from_type_list {
            format!("type gains {}", n.kind)
        } else {
            format!("union gains a branch ({})", n.kind)
        };
        self.effect(&format!("{at}{}", n.pointer), Effect::Widens, description);
    }

    fn lost(&mut self, at: &str, o: &Branch) {
        let description = if o.from_type_list {
            format!("type loses {}", o.kind)
        } else {
            format!("union loses a branch ({})", o.kind)
        };
        self.effect(&format!("{at}{}", o.pointer), Effect::Narrows, description);
    }

    /// Whether two branches accept the same values (descriptions aside).
    fn equivalent(&self, o: &Branch, n: &Branch, depth: usize) -> bool {
        let mut scratch = Cmp {
            part: self.part,
            old_defs: self.old_defs,
            new_defs: self.new_defs,
            via: None,
            out: Vec::new(),
        };
        scratch.compare_branch(o, n, "", depth);
        scratch.out.iter().all(|f| f.cosmetic)
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

    /// `enum` and `const`: the values allowed.
    fn values(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
        if let (Some(a), Some(b)) = (o.get("const"), n.get("const")) {
            if a != b {
                self.effect(
                    at,
                    Effect::Changes,
                    format!("const changed from {a} to {b}"),
                );
            }
            return;
        }
        match (allowed(o), allowed(n)) {
            (None, None) => {}
            (None, Some(new)) => {
                let description = match n.get("const") {
                    Some(c) => format!("const added: {c}"),
                    None => format!("enum added: {}", list(&new)),
                };
                self.effect(at, Effect::Narrows, description);
            }
            (Some(old), None) => {
                let description = match o.get("const") {
                    Some(c) => format!("const removed (was {c})"),
                    None => format!("enum removed (was {})", list(&old)),
                };
                self.effect(at, Effect::Widens, description);
            }
            (Some(old), Some(new)) => {
                let lost: Vec<Value> = old.iter().filter(|v| !new.contains(v)).cloned().collect();
                let gained: Vec<Value> = new.iter().filter(|v| !old.contains(v)).cloned().collect();
                if !lost.is_empty() {
                    self.effect(at, Effect::Narrows, format!("enum loses {}", list(&lost)));
                }
                if !gained.is_empty() {
                    self.effect(at, Effect::Widens, format!("enum gains {}", list(&gained)));
                }
            }
        }
    }

    /// `minLength`, `maxItems`, …: a count that is a lower or an upper limit.
    fn count(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        at: &str,
        key: &str,
        lower: bool,
    ) {
        match (o.get(key), n.get(key)) {
            (None, None) => {}
            (None, Some(b)) => self.constraint(at, Effect::Narrows, format!("{key} added: {b}")),
            (Some(a), None) => {
                self.constraint(at, Effect::Widens, format!("{key} removed (was {a})"));
            }
            (Some(a), Some(b)) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) => {
                    let tighter = if lower { y > x } else { y < x };
                    let (effect, how) = if tighter {
                        (Effect::Narrows, "tightened")
                    } else {
                        (Effect::Widens, "loosened")
                    };
                    self.constraint(at, effect, format!("{key} {how} from {a} to {b}"));
                }
                _ if a == b => {}
                _ => self.cannot_tell(at, &format!("{key} changed from {a} to {b}")),
            },
        }
    }

    /// `minimum` with `exclusiveMinimum`, or `maximum` with `exclusiveMaximum`, as one bound.
    fn bound(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str, lower: bool) {
        let what = if lower { "lower bound" } else { "upper bound" };
        let keys: &[&str] = if lower {
            &["minimum", "exclusiveMinimum"]
        } else {
            &["maximum", "exclusiveMaximum"]
        };
        if keys.iter().all(|k| o.get(*k) == n.get(*k)) {
            return;
        }
        let (Some(a), Some(b)) = (Bound::of(o, lower), Bound::of(n, lower)) else {
            self.cannot_tell(at, &format!("{what} is not a number"));
            return;
        };
        match (a, b) {
            (None, None) => {}
            (None, Some(b)) => {
                self.constraint(
                    at,
                    Effect::Narrows,
                    format!("{what} added: {}", b.show(lower)),
                );
            }
            (Some(a), None) => self.constraint(
                at,
                Effect::Widens,
                format!("{what} removed (was {})", a.show(lower)),
            ),
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let (effect, how) = if b.tighter_than(&a, lower) {
                    (Effect::Narrows, "tightened")
                } else {
                    (Effect::Widens, "loosened")
                };
                self.constraint(
                    at,
                    effect,
                    format!("{what} {how} from {} to {}", a.show(lower), b.show(lower)),
                );
            }
        }
    }

    fn multiple_of(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
        let key = "multipleOf";
        match (o.get(key), n.get(key)) {
            (None, None) => {}
            (None, Some(b)) => self.constraint(at, Effect::Narrows, format!("{key} added: {b}")),
            (Some(a), None) => {
                self.constraint(at, Effect::Widens, format!("{key} removed (was {a})"));
            }
            (Some(a), Some(b)) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) if is_multiple(y, x) => {
                    self.constraint(
                        at,
                        Effect::Narrows,
                        format!("{key} tightened from {a} to {b}"),
                    );
                }
                (Some(x), Some(y)) if is_multiple(x, y) => {
                    self.constraint(
                        at,
                        Effect::Widens,
                        format!("{key} loosened from {a} to {b}"),
                    );
                }
                _ => self.constraint(
                    at,
                    Effect::Changes,
                    format!("{key} changed from {a} to {b}"),
                ),
            },
        }
    }

    /// `pattern` and `format`: any difference may refuse what was accepted.
    fn text(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str, key: &str) {
        match (o.get(key), n.get(key)) {
            (None, Some(b)) => self.constraint(at, Effect::Narrows, format!("{key} added: {b}")),
            (Some(a), None) => {
                self.constraint(at, Effect::Widens, format!("{key} removed (was {a})"));
            }
            (Some(a), Some(b)) if a != b => {
                self.constraint(
                    at,
                    Effect::Changes,
                    format!("{key} changed from {a} to {b}"),
                );
            }
            _ => {}
        }
    }

    fn array(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str, depth: usize) {
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

    fn object(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str, depth: usize) {
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
            // Generated Rust clients ignore unknown result keys, whatever the schema says;
            // pydantic models made with extra="forbid" (clamator's Python codegen) do not.
            (Part::Result, Extra::Forbidden) => self.push(
                at,
                format!(
                    "{what} (Rust and TypeScript clients ignore it; Python models with \
                     extra=\"forbid\" refuse it)"
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

/// A numeric limit: its value and whether it is exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    value: f64,
    exclusive: bool,
}

impl Bound {
    /// The tighter of the inclusive and exclusive keywords; `None` when one is not a
    /// number (draft-04's boolean `exclusiveMinimum`, say).
    fn of(m: &Map<String, Value>, lower: bool) -> Option<Option<Self>> {
        let (inclusive, exclusive) = if lower {
            ("minimum", "exclusiveMinimum")
        } else {
            ("maximum", "exclusiveMaximum")
        };
        let get = |key: &str, exclusive: bool| -> Option<Option<Self>> {
            match m.get(key) {
                None => Some(None),
                Some(v) => v.as_f64().map(|value| Some(Self { value, exclusive })),
            }
        };
        Some(match (get(inclusive, false)?, get(exclusive, true)?) {
            (None, b) | (b, None) => b,
            (Some(i), Some(e)) => Some(if i.tighter_than(&e, lower) { i } else { e }),
        })
    }

    fn tighter_than(&self, other: &Self, lower: bool) -> bool {
        let beyond = if lower {
            self.value > other.value
        } else {
            self.value < other.value
        };
        beyond || (self.value == other.value && self.exclusive && !other.exclusive)
    }

    fn show(&self, lower: bool) -> String {
        let op = match (lower, self.exclusive) {
            (true, false) => ">=",
            (true, true) => ">",
            (false, false) => "<=",
            (false, true) => "<",
        };
        format!("{op} {}", self.value)
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

/// Adds the alternatives `schema` accepts to `norm`.
fn collect(
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

/// The values `enum` and `const` together allow; `None` when unrestricted.
fn allowed(m: &Map<String, Value>) -> Option<Vec<Value>> {
    let c = m.get("const").map(|c| vec![c.clone()]);
    let e = m.get("enum").and_then(Value::as_array).cloned();
    match (c, e) {
        (Some(c), Some(e)) => Some(c.into_iter().filter(|v| e.contains(v)).collect()),
        (c, e) => c.or(e),
    }
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted(value: Option<&str>) -> String {
    Value::String(value.unwrap_or_default().to_owned()).to_string()
}

fn kinds(norm: &Norm) -> String {
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

fn distinct_kinds(branches: &[Branch]) -> bool {
    let kinds: BTreeSet<&str> = branches.iter().map(|b| b.kind.as_str()).collect();
    kinds.len() == branches.len()
}

fn tag_value<'b>(branch: &'b Branch, tag: &str) -> Option<&'b str> {
    branch
        .schema
        .get("properties")?
        .get(tag)?
        .get("const")?
        .as_str()
}

/// The property whose string `const` tells every branch apart, on both sides (as the
/// lowerer finds tagged unions).
fn tag_of(old: &[Branch], new: &[Branch]) -> Option<String> {
    let first = new.first().or(old.first())?;
    let props = first.schema.get("properties")?.as_object()?;
    let distinct = |bs: &[Branch], tag: &str| {
        let values: Option<BTreeSet<&str>> = bs.iter().map(|b| tag_value(b, tag)).collect();
        values.is_some_and(|v| v.len() == bs.len())
    };
    props
        .keys()
        .find(|tag| {
            old.iter().chain(new).all(|b| b.kind == "object")
                && distinct(old, tag)
                && distinct(new, tag)
        })
        .cloned()
}

fn is_multiple(of: f64, base: f64) -> bool {
    if base == 0.0 {
        return false;
    }
    let ratio = of / base;
    (ratio - ratio.round()).abs() < 1e-9
}
