//! JSON Schema (draft 7) validation of params and results.
//!
//! Contracts describe params and results as draft-07 JSON Schemas (what zod-to-json-schema
//! and schemars emit). Checking values against them is a solved problem, so this module does
//! not do it itself: it adapts the `jsonschema` crate, a maintained, spec-compliant validator,
//! to what clamator needs, and keeps that crate out of every other module's sight.
//!
//! [`SchemaValidator`] compiles a schema once and then checks values, reporting every problem
//! as a [`ValidationIssue`] whose `path` is a JSON Pointer (RFC 6901) into the checked value
//! (`""` for the whole value, `"/items/0/x"`, `~` and `/` in keys escaped as `~0` and `~1`).
//! It implements [`Validator`](crate::server::Validator), so generated code plugs it straight
//! into [`Method::params_validator`](crate::server::Method::params_validator) and
//! [`Method::result_validator`](crate::server::Method::result_validator).
//!
//! On top of plain draft 7, clamator relies on a few choices made here:
//!
//! * **The formats contracts use are asserted**, not mere annotations: `date-time`, `date`,
//!   `time`, `email`, plus `uuid` (a later-draft format that zod emits). `time` also accepts
//!   a time without an offset (`"08:30:06"`, read as UTC), which is what zod's
//!   `z.string().time()` produces. The other draft-7 formats (`uri`, `ipv4`, `hostname`, ...)
//!   and unknown ones (`int64`, ...) are not checked: clamator's peers disagree on them, and a
//!   value one peer accepts must not be refused by another.
//! * **A missing property reads** `missing required property "name"`; other messages are the
//!   validator's own.
//! * **`null` for optional properties** can be accepted
//!   ([`SchemaValidator::accepting_null_for_optional`]): clamator's Python proxies send unset
//!   optional fields as `null`, so servers check params this way. Results stay strict.
//! * **Messages never quote the checked value** (it is replaced by the word `value`), so
//!   params and results do not leak into logs through validation errors.
//! * **Deep values cannot overflow the stack**: under a schema with `$ref`s (the only kind
//!   that recurses with the value), a value nested more than 128 levels deep is reported as
//!   an issue instead of being descended into. Values parsed from the wire never nest deeper.
//! * **Patterns cannot stall a check**; see below.
//!
//! # Patterns: a linear engine, or a budget
//!
//! A `pattern` (or `patternProperties`) is matched by the `regex` crate whenever the schema
//! lets it: its matching time grows linearly with the string, whatever the pattern, so a
//! hostile value costs no more than its size. That engine refuses lookaround (`(?=`, `(?!`,
//! `(?<=`, `(?<!`) and backreferences (`\1`); a schema using them still compiles, and then:
//!
//! * each `pattern` of that schema is compiled on its own, by the linear engine when it takes
//!   it, otherwise by a backtracking engine (`fancy-regex`) that gives up one match after
//!   100,000 backtracking steps (its default is 1,000,000);
//! * one [`SchemaValidator::validate`] call may spend 50 ms in total matching the patterns
//!   that need backtracking. Once that is spent, the patterns still to check are not run, and
//!   the value is refused with the issue `pattern check budget exceeded (…)` at the first
//!   string not checked. A single match may overrun the budget by its own cost, which the
//!   step limit bounds;
//! * a match that gives up (the step limit) is reported as its own issue (`Error executing
//!   regex: Max limit for backtracking count exceeded`), and a value whose check ran out of
//!   budget or gave up is always refused, even where a failed pattern would have let it pass
//!   (under `not`, say): what was not checked is never accepted;
//! * [`Validator::may_block`](crate::server::Validator::may_block) is `true` for such a
//!   validator, so servers run its checks on tokio's blocking threads, never on the workers
//!   that renew leases and answer other calls.
//!
//! `patternProperties` (and `additionalProperties` beside it) of such a schema match property
//! names with the backtracking engine under the same per-match step limit, but outside the
//! budget; `propertyNames` is a schema like any other, so its `pattern` is within the budget.
//! The budget is time, so which string it runs out at depends on the machine and its load;
//! ordinary data under lookaround patterns takes microseconds per string, far from it.
//!
//! Numbers compare by value (`1 == 1.0`), so `5.0` is an `integer`. `$ref`s to
//! `#/definitions/...`, `#/$defs/...`, `#` or any other JSON Pointer into the schema resolve;
//! nothing is ever fetched from a file or the network.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::error::ValidationIssue;

mod quick;

/// How deep a schema document may nest (as JSON text, [`SchemaValidator::from_json`] allows
/// no more).
const MAX_SCHEMA_DEPTH: usize = 128;
/// How deep a value checked against a schema with `$ref`s may nest.
const MAX_VALUE_DEPTH: usize = 128;
/// How many backtracking steps one match of a pattern the linear engine refuses may take.
const BACKTRACK_LIMIT: usize = 100_000;
/// How long one [`SchemaValidator::validate`] call may spend matching such patterns.
const BACKTRACKING_BUDGET: Duration = Duration::from_millis(50);

/// A schema that failed to compile: where in the schema document, and why.
///
/// ```
/// use clamator_protocol::schema::SchemaValidator;
/// let err = SchemaValidator::from_json(r#"{"properties":{"a":{"pattern":"("}}}"#).unwrap_err();
/// assert_eq!(err.pointer, "/properties/a/pattern");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid schema at {}: {reason}", if pointer.is_empty() { "the root" } else { pointer })]
pub struct SchemaError {
    /// JSON Pointer into the schema document to the offending keyword (`""` for the root, or
    /// when the place is not known).
    pub pointer: String,
    /// What is wrong with it.
    pub reason: String,
}

impl SchemaError {
    fn new(pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            reason: reason.into(),
        }
    }
}

/// A compiled JSON Schema (draft 7, see the [module docs](self)).
///
/// Compile once, validate many times; cloning is cheap (the compiled form is shared).
///
/// ```
/// use clamator_protocol::schema::SchemaValidator;
/// use serde_json::json;
///
/// let v = SchemaValidator::from_json(
///     r#"{"type":"object",
///         "properties":{"a":{"type":"number","minimum":0},"tag":{"type":"string","enum":["x","y"]}},
///         "required":["a"],"additionalProperties":false}"#,
/// )?;
/// assert!(v.validate(&json!({"a": 1.5, "tag": "x"})).is_ok());
///
/// let issues = v.validate(&json!({"a": -1, "tag": "z", "extra": true})).unwrap_err();
/// let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
/// assert_eq!(paths, ["/a", "/tag", ""]);
/// assert_eq!(issues[0].message, "value is less than the minimum of 0");
/// # Ok::<(), clamator_protocol::schema::SchemaError>(())
/// ```
#[derive(Clone)]
pub struct SchemaValidator {
    /// The schema as written.
    strict: Arc<jsonschema::Validator>,
    /// The schema with `null` allowed for optional properties; `None` when it has no optional
    /// property that rejects `null` (then it is `strict`).
    relaxed: Option<Arc<jsonschema::Validator>>,
    /// Check values with `relaxed`.
    null_for_optional: bool,
    /// The schema has `$ref`s, so checking may recurse as deep as the value nests.
    recursive: bool,
    /// Some pattern needs the backtracking engine: checks run under a budget.
    backtracking: bool,
    /// The schema read against JSON text, for [`SchemaValidator::surely_accepts`]; `None`
    /// when it is never sure (its root is a part it does not read).
    quick: Option<Arc<quick::Quick>>,
}

impl fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaValidator")
            .field("null_for_optional", &self.null_for_optional)
            .field("recursive", &self.recursive)
            .field("backtracking", &self.backtracking)
            .finish_non_exhaustive()
    }
}

impl SchemaValidator {
    /// Compiles `schema`, a draft-7 JSON Schema document (whatever its `$schema` says).
    ///
    /// Fails when the schema breaks the draft-7 meta-schema (a keyword with a value of the
    /// wrong type, say), has an invalid `pattern`, a `$ref` that does not resolve inside the
    /// document, or nests more than 128 levels deep.
    ///
    /// Patterns are compiled by the linear engine when the schema allows it, otherwise as the
    /// [module docs](self#patterns-a-linear-engine-or-a-budget) say.
    pub fn new(schema: Value) -> Result<Self, SchemaError> {
        if nests_deeper_than(&schema, MAX_SCHEMA_DEPTH) {
            return Err(SchemaError::new(
                "",
                format!("schema nested too deeply (more than {MAX_SCHEMA_DEPTH} levels)"),
            ));
        }
        let plan = Plan::of(&schema);
        let (strict, engine) = match compile(&schema, &plan, &Engine::Linear) {
            Ok(strict) => (strict, Engine::Linear),
            Err(refused) if refused.regex => {
                let engine = Engine::fallback();
                (
                    compile(&schema, &plan, &engine).map_err(|e| e.error)?,
                    engine,
                )
            }
            Err(other) => return Err(other.error),
        };
        let relaxed = if plan.wraps.is_empty() {
            None
        } else {
            let relaxed = compile(&plan.relax(&schema), &plan, &engine).map_err(|e| e.error)?;
            Some(Arc::new(relaxed))
        };
        let quick = quick::Quick::compile(&schema, &|text: &Value| {
            compile(text, &Plan::default(), &Engine::Linear).ok()
        });
        Ok(Self {
            strict: Arc::new(strict),
            relaxed,
            null_for_optional: false,
            recursive: !plan.refs.is_empty(),
            backtracking: matches!(engine, Engine::Fallback(_)),
            quick: quick.reads_anything().then(|| Arc::new(quick)),
        })
    }

    /// Compiles a schema from JSON text (generated code embeds schemas as string constants).
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        let schema: Value = serde_json::from_str(text)
            .map_err(|e| SchemaError::new("", format!("schema is not valid JSON: {e}")))?;
        Self::new(schema)
    }

    /// Returns this validator with `null` accepted for every optional property (one listed in
    /// `properties` but not in `required` of the same schema object), as if the property were
    /// absent, at any depth: nested objects, array items, `anyOf` branches, `$ref` targets.
    ///
    /// Clamator's Python proxies send unset optional fields as `null`; servers validate params
    /// this way so those calls succeed. Results are validated strictly.
    ///
    /// ```
    /// use clamator_protocol::SchemaValidator;
    /// let v = SchemaValidator::from_json(r#"{"type":"object","properties":{"tag":{"type":"string"}}}"#).unwrap();
    /// let input = serde_json::json!({"tag": null});
    /// assert!(v.validate(&input).is_err());
    /// assert!(v.accepting_null_for_optional().validate(&input).is_ok());
    /// ```
    #[must_use]
    pub fn accepting_null_for_optional(mut self) -> Self {
        self.null_for_optional = true;
        self
    }

    /// Checks `value`; on failure returns every problem found (not just the first), in a
    /// deterministic order, each with a JSON Pointer to the offending value.
    ///
    /// Under a schema with patterns the linear engine refuses, matching them may take 50 ms
    /// of this call at most (plus one match), and a value not fully checked is refused
    /// ([module docs](self#patterns-a-linear-engine-or-a-budget)).
    pub fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>> {
        let validator = match &self.relaxed {
            Some(relaxed) if self.null_for_optional => relaxed,
            _ => &self.strict,
        };
        if self.recursive {
            if let Some(path) = too_deep_at(value, MAX_VALUE_DEPTH) {
                return Err(vec![ValidationIssue::new(
                    path,
                    format!("value nested too deeply (more than {MAX_VALUE_DEPTH} levels)"),
                )]);
            }
        }
        if self.backtracking {
            // One pass, collecting issues: `is_valid` first would spend the budget twice.
            let (issues, spent) = Budget::run(|| issues(validator, value));
            return spent.settle(issues);
        }
        if validator.is_valid(value) {
            return Ok(());
        }
        let mut issues = issues(validator, value);
        if issues.is_empty() {
            issues.push(ValidationIssue::new("", "does not match the schema"));
        }
        Err(issues)
    }
}

impl SchemaValidator {
    /// `true` when `json`, the text of one value, surely conforms: [`validate`](Self::validate)
    /// of that value would return `Ok`. `false` says nothing (the value may conform or not);
    /// parse it and [`validate`](Self::validate) it then, for the answer and its issues.
    ///
    /// Reads the text once, with no [`Value`] built. It reads types, `enum`/`const` of
    /// strings, booleans and `null`, numeric bounds, integral `multipleOf`, string lengths,
    /// `pattern` and `format` (as [`validate`](Self::validate) reads them), `items`, array
    /// lengths, `properties`, `required`, `additionalProperties`, `maxProperties` and `$ref`;
    /// a value that reaches any other keyword (`anyOf`, `allOf`, `not`, `uniqueItems`, ...) or
    /// a pattern needing backtracking is not sure.
    ///
    /// ```
    /// use clamator_protocol::SchemaValidator;
    /// let v = SchemaValidator::from_json(
    ///     r#"{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"]}"#,
    /// )?;
    /// assert!(v.surely_accepts(r#"{"n": 3}"#));
    /// assert!(!v.surely_accepts(r#"{"n": 0}"#));
    /// assert!(v.validate(&serde_json::json!({"n": 0})).is_err());
    /// # Ok::<(), clamator_protocol::schema::SchemaError>(())
    /// ```
    pub fn surely_accepts(&self, json: &str) -> bool {
        self.quick
            .as_ref()
            .is_some_and(|q| q.surely_accepts(json, self.null_for_optional))
    }
}

impl SchemaValidator {
    /// `true` when `value`, as serde_json would write it, surely conforms: what
    /// [`surely_accepts`](Self::surely_accepts) says of its text, said of the value itself,
    /// with no text written. A typed result is checked this way before it is written.
    ///
    /// ```
    /// use clamator_protocol::SchemaValidator;
    /// #[derive(serde::Serialize)]
    /// struct Sum { sum: f64 }
    /// let v = SchemaValidator::from_json(
    ///     r#"{"type":"object","properties":{"sum":{"type":"number","maximum":10}},"required":["sum"]}"#,
    /// )?;
    /// assert!(v.surely_accepts_value(&Sum { sum: 3.5 }));
    /// assert!(!v.surely_accepts_value(&Sum { sum: 11.0 }));
    /// # Ok::<(), clamator_protocol::schema::SchemaError>(())
    /// ```
    pub fn surely_accepts_value<T: serde::Serialize + ?Sized>(&self, value: &T) -> bool {
        self.quick
            .as_ref()
            .is_some_and(|q| q.surely_accepts_value(value, self.null_for_optional))
    }
}

impl crate::server::Validator for SchemaValidator {
    fn surely_accepts(&self, json: &str) -> bool {
        SchemaValidator::surely_accepts(self, json)
    }

    fn as_schema(&self) -> Option<&SchemaValidator> {
        Some(self)
    }

    fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>> {
        SchemaValidator::validate(self, value)
    }

    /// `true` when the schema has a pattern the linear engine refuses: one check may then take
    /// the 50 ms of its budget.
    fn may_block(&self) -> bool {
        self.backtracking
    }
}

/// Every issue `validator` finds in `value`.
fn issues(validator: &jsonschema::Validator, value: &Value) -> Vec<ValidationIssue> {
    validator
        .iter_errors(value)
        .map(|e| ValidationIssue::new(e.instance_path().as_str(), message(&e)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------------------

/// The formats checked: those clamator's contracts use. Every other draft-7 format is
/// accepted as it comes, as clamator's peers accept it (zod's `url()`, say, is more lenient
/// than RFC 3986), so a value one peer takes is not refused by another.
const UNCHECKED_FORMATS: [&str; 13] = [
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// An issue's message: the crate's wording with the value masked, except for a missing
/// property, which keeps the wording clamator-rs has always used.
fn message(e: &jsonschema::ValidationError<'_>) -> String {
    match e.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => {
            format!("missing required property {property}")
        }
        _ => e.masked().to_string(),
    }
}

/// A schema that did not compile, and whether it is a pattern the engine refused.
struct Refused {
    error: SchemaError,
    regex: bool,
}

fn compile(schema: &Value, plan: &Plan, engine: &Engine) -> Result<jsonschema::Validator, Refused> {
    let mut options = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .with_format("uuid", is_uuid)
        .with_format("time", is_time);
    for format in UNCHECKED_FORMATS {
        options = options.with_format(format, |_: &str| true);
    }
    let options = match engine {
        Engine::Linear => options.with_pattern_options(jsonschema::PatternOptions::regex()),
        Engine::Fallback(patterns) => {
            let patterns = Arc::clone(patterns);
            options
                .with_pattern_options(
                    jsonschema::PatternOptions::fancy_regex().backtrack_limit(BACKTRACK_LIMIT),
                )
                .with_keyword("pattern", move |_, value, _| patterns.keyword(value))
        }
    };
    options.build(schema).map_err(|e| {
        let reason = e.to_string();
        let mut pointer = e.instance_path().as_str().to_owned();
        let regex = matches!(
            e.kind(),
            jsonschema::error::ValidationErrorKind::Format { format } if format == "regex"
        );
        if regex && pointer.is_empty() {
            // Refused by the `pattern` keyword of the fallback: where it is, in the schema.
            e.schema_path().as_str().clone_into(&mut pointer);
        }
        if let jsonschema::error::ValidationErrorKind::Referencing(_) = e.kind() {
            // Reference errors carry no location: find the `$ref` they quote.
            if let Some((site, _)) = plan.refs.iter().find(|(_, text)| {
                let quoted = format!("'{}'", text.strip_prefix('#').unwrap_or(text));
                reason.contains(&quoted)
            }) {
                pointer = to_pointer(site);
            }
        }
        Refused {
            error: SchemaError::new(pointer, reason),
            regex,
        }
    })
}

// ---------------------------------------------------------------------------------------
// Patterns the linear engine refuses
// ---------------------------------------------------------------------------------------

/// How a schema's patterns are matched.
enum Engine {
    /// All by the `regex` crate (linear time); the built-in `pattern` keyword.
    Linear,
    /// `pattern` taken over by [`Pattern`]; `patternProperties` by `fancy-regex` under
    /// [`BACKTRACK_LIMIT`].
    Fallback(Arc<Patterns>),
}

impl Engine {
    fn fallback() -> Self {
        Self::Fallback(Arc::default())
    }
}

/// The `pattern`s of one schema compiled so far, by pattern: the strict and the relaxed
/// schema share them.
#[derive(Default)]
struct Patterns(Mutex<HashMap<String, Arc<Pattern>>>);

impl Patterns {
    /// The keyword checking strings against the pattern `value`.
    fn keyword(
        &self,
        value: &Value,
    ) -> Result<Box<dyn for<'i> jsonschema::Keyword<'i>>, jsonschema::ValidationError<'static>>
    {
        let Value::String(pattern) = value else {
            return Err(jsonschema::ValidationError::schema(format!(
                "{value} is not of type \"string\""
            )));
        };
        let known = self.0.lock().ok().and_then(|m| m.get(pattern).cloned());
        let compiled = match known {
            Some(compiled) => compiled,
            None => {
                let compiled = Arc::new(Pattern::compile(pattern)?);
                if let Ok(mut m) = self.0.lock() {
                    m.insert(pattern.clone(), Arc::clone(&compiled));
                }
                compiled
            }
        };
        Ok(Box::new(SharedPattern(compiled)))
    }
}

/// One `pattern` of a schema the linear engine cannot compile whole.
struct Pattern {
    /// `{"pattern": <pattern>}` compiled alone, so reading the pattern as ECMA-262 stays the
    /// `jsonschema` crate's, as do the messages.
    check: jsonschema::Validator,
    /// Compiled by `fancy-regex`: its matches are charged to the [`Budget`].
    backtracking: bool,
}

impl Pattern {
    fn compile(pattern: &str) -> Result<Self, jsonschema::ValidationError<'static>> {
        let schema = serde_json::json!({ "pattern": pattern });
        let options = jsonschema::options().with_draft(jsonschema::Draft::Draft7);
        let linear = options
            .clone()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&schema);
        if let Ok(check) = linear {
            return Ok(Self {
                check,
                backtracking: false,
            });
        }
        let check = options
            .with_pattern_options(
                jsonschema::PatternOptions::fancy_regex().backtrack_limit(BACKTRACK_LIMIT),
            )
            .build(&schema)?;
        Ok(Self {
            check,
            backtracking: true,
        })
    }

    fn check<'i>(&self, instance: &'i Value) -> Result<(), jsonschema::ValidationError<'i>> {
        if self.backtracking && instance.is_string() {
            Budget::charge(|| self.check.validate(instance))
        } else {
            self.check.validate(instance)
        }
    }
}

/// The keyword jsonschema holds: a compiled [`Pattern`], shared.
struct SharedPattern(Arc<Pattern>);

impl<'i> jsonschema::Keyword<'i> for SharedPattern {
    fn validate(&self, instance: &'i Value) -> Result<(), jsonschema::ValidationError<'i>> {
        self.0.check(instance)
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        if self.0.backtracking {
            self.0.check(instance).is_ok()
        } else {
            self.0.check.is_valid(instance)
        }
    }
}

thread_local! {
    /// The budget of the [`SchemaValidator::validate`] call running on this thread, if any.
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// What one check has spent matching patterns with the backtracking engine.
#[derive(Clone, Copy, Default)]
struct Budget {
    /// Time spent in backtracking matches.
    spent: Duration,
    /// A pattern was not checked: the budget was spent.
    exhausted: bool,
    /// A match gave up at the step limit (or its engine failed).
    undecided: bool,
}

impl Budget {
    /// Runs `check` with a fresh budget on this thread; returns what it spent too.
    fn run<T>(check: impl FnOnce() -> T) -> (T, Budget) {
        /// Puts back the budget of the enclosing check (if any), even if `check` unwinds.
        struct Restore(Option<Budget>);
        impl Drop for Restore {
            fn drop(&mut self) {
                BUDGET.with(|b| b.set(self.0));
            }
        }
        let restore = Restore(BUDGET.with(|b| b.replace(Some(Budget::default()))));
        let out = check();
        let spent = BUDGET.with(Cell::get).unwrap_or_default();
        drop(restore);
        (out, spent)
    }

    /// Runs one backtracking match under the budget of this thread's check: not at all once
    /// it is spent. Outside a check (no budget) the match just runs.
    fn charge<'i>(
        matching: impl FnOnce() -> Result<(), jsonschema::ValidationError<'i>>,
    ) -> Result<(), jsonschema::ValidationError<'i>> {
        let Some(mut budget) = BUDGET.with(Cell::get) else {
            return matching();
        };
        let result = if budget.spent >= BACKTRACKING_BUDGET {
            budget.exhausted = true;
            Err(jsonschema::ValidationError::custom(budget_exceeded()))
        } else {
            let started = Instant::now();
            let result = matching();
            budget.spent += started.elapsed();
            if let Err(e) = &result {
                budget.undecided |= !matches!(
                    e.kind(),
                    jsonschema::error::ValidationErrorKind::Pattern { .. }
                );
            }
            result
        };
        BUDGET.with(|b| b.set(Some(budget)));
        result
    }

    /// The outcome of a check that found `issues` and spent this: refused whenever a pattern
    /// went unchecked or undecided, with the budget named once, where it ran out.
    fn settle(self, mut issues: Vec<ValidationIssue>) -> Result<(), Vec<ValidationIssue>> {
        if self.exhausted {
            let message = budget_exceeded();
            let mut first = true;
            issues.retain(|i| i.message != message || std::mem::take(&mut first));
            if first {
                // Not reported where it ran out (under `not`, say): the value is refused all
                // the same.
                issues.push(ValidationIssue::new("", message));
            }
        }
        if self.undecided && issues.is_empty() {
            issues.push(ValidationIssue::new(
                "",
                "a pattern check could not be completed (backtracking limit)",
            ));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

/// The issue of a pattern left unchecked.
fn budget_exceeded() -> String {
    format!(
        "pattern check budget exceeded ({} ms of backtracking pattern matching per value); \
         not checked",
        BACKTRACKING_BUDGET.as_millis()
    )
}

/// `uuid` (RFC 4122 text form, any version, any case).
fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

/// `time`: RFC 3339 `full-time`, or `partial-time` without an offset (taken as UTC). A leap
/// second (`:60`) is only valid at 23:59 UTC.
fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    let two = |i: usize| -> Option<i32> {
        match (b.get(i), b.get(i + 1)) {
            (Some(h @ b'0'..=b'9'), Some(l @ b'0'..=b'9')) => {
                Some(i32::from(h - b'0') * 10 + i32::from(l - b'0'))
            }
            _ => None,
        }
    };
    let (Some(hour), Some(minute), Some(second)) = (two(0), two(3), two(6)) else {
        return false;
    };
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return false;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut end = 8;
    if b.get(end) == Some(&b'.') {
        end += 1;
        let digits = end;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == digits {
            return false;
        }
    }
    let offset = match b.get(end..) {
        Some([] | [b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let (Some(h), Some(m)) = (two(end + 1), two(end + 4)) else {
                return false;
            };
            if h > 23 || m > 59 {
                return false;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return false,
    };
    second < 60 || (hour * 60 + minute - offset).rem_euclid(24 * 60) == 23 * 60 + 59
}

/// True when `v` nests deeper than `limit` levels of arrays and objects.
fn nests_deeper_than(v: &Value, limit: usize) -> bool {
    match v {
        Value::Array(items) => limit == 0 || items.iter().any(|x| nests_deeper_than(x, limit - 1)),
        Value::Object(m) => limit == 0 || m.values().any(|x| nests_deeper_than(x, limit - 1)),
        _ => false,
    }
}

/// JSON Pointer to the first array or object nested deeper than `limit` levels in `v`.
fn too_deep_at(v: &Value, limit: usize) -> Option<String> {
    if !nests_deeper_than(v, limit) {
        return None;
    }
    let Some(budget) = limit.checked_sub(1) else {
        return Some(String::new());
    };
    let (token, child) = match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find(|(_, x)| nests_deeper_than(x, budget))
            .map(|(i, x)| (i.to_string(), x))?,
        Value::Object(m) => m
            .iter()
            .find(|(_, x)| nests_deeper_than(x, budget))
            .map(|(k, x)| (escape_token(k), x))?,
        _ => return None,
    };
    let rest = too_deep_at(child, budget).unwrap_or_default();
    Some(format!("/{token}{rest}"))
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn to_pointer(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", escape_token(t)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// `null` for optional properties
// ---------------------------------------------------------------------------------------
//
// The relaxed schema is the schema with every optional property's subschema `P` replaced by
// `{"if": {"type": "null"}, "else": P}`: `null` passes, anything else is checked against `P`
// and reports `P`'s own issues. Wrapping moves `P` one level down, so `$ref`s that point into
// or at a wrapped subschema (zod-to-json-schema writes `"#/properties/a"` for a reused schema)
// get `/else` inserted at the same place and still reach `P`, which stays as strict as the
// schema using it asks. `#/...` pointers are read from the document root, as they are in
// self-contained schemas (a nested `$id` would rebase them; clamator's schemas have none).

/// Where the relaxed schema differs from the original, in the original's coordinates
/// (reference tokens, unescaped).
#[derive(Default)]
struct Plan {
    /// Optional property subschemas to wrap.
    wraps: HashSet<Vec<String>>,
    /// Every `$ref` in a subschema: where the keyword is, and its text.
    refs: Vec<(Vec<String>, String)>,
    /// Subschemas already walked.
    seen: HashSet<Vec<String>>,
}

/// Keywords whose value is one subschema, or an array of them.
const SUBSCHEMA_KEYWORDS: [&str; 12] = [
    "items",
    "additionalItems",
    "contains",
    "additionalProperties",
    "propertyNames",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
];

/// Keywords whose value maps names to subschemas (`dependencies` also holds name lists).
const SUBSCHEMA_MAPS: [&str; 4] = ["patternProperties", "dependencies", "definitions", "$defs"];

impl Plan {
    /// Walks `schema` from the root, then every `$ref` target not reached that way.
    fn of(schema: &Value) -> Self {
        let mut plan = Plan::default();
        plan.walk(schema, &mut Vec::new());
        let mut next = 0;
        while let Some((_, text)) = plan.refs.get(next) {
            next += 1;
            let Some(mut target) = ref_target(text) else {
                continue;
            };
            if let Some(found) = lookup(schema, &target) {
                plan.walk(found, &mut target);
            }
        }
        plan
    }

    fn walk(&mut self, schema: &Value, at: &mut Vec<String>) {
        let Value::Object(m) = schema else {
            return;
        };
        if !self.seen.insert(at.clone()) {
            return;
        }
        if let Some(Value::String(text)) = m.get("$ref") {
            let mut site = at.clone();
            site.push("$ref".to_owned());
            self.refs.push((site, text.clone()));
        }
        let required: Vec<&str> = match m.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for (key, value) in m {
            at.push(key.clone());
            match (key.as_str(), value) {
                ("properties", Value::Object(props)) => {
                    for (name, sub) in props {
                        at.push(name.clone());
                        if !required.contains(&name.as_str()) && !accepts_anything(sub) {
                            self.wraps.insert(at.clone());
                        }
                        self.walk(sub, at);
                        at.pop();
                    }
                }
                (k, Value::Object(subs)) if SUBSCHEMA_MAPS.contains(&k) => {
                    for (name, sub) in subs {
                        at.push(name.clone());
                        self.walk(sub, at);
                        at.pop();
                    }
                }
                (k, Value::Array(list)) if SUBSCHEMA_KEYWORDS.contains(&k) => {
                    for (i, sub) in list.iter().enumerate() {
                        at.push(i.to_string());
                        self.walk(sub, at);
                        at.pop();
                    }
                }
                (k, sub) if SUBSCHEMA_KEYWORDS.contains(&k) => self.walk(sub, at),
                _ => {}
            }
            at.pop();
        }
    }

    /// The relaxed copy of `schema`.
    fn relax(&self, schema: &Value) -> Value {
        let mut doc = schema.clone();
        // `$ref` texts first: rewriting them moves nothing.
        for (site, text) in &self.refs {
            if let Some(rewritten) = self.rewrite_ref(text) {
                if let Some(slot) = lookup_mut(&mut doc, site) {
                    *slot = Value::String(rewritten);
                }
            }
        }
        // Deepest first, so the places still to wrap have not moved.
        let mut wraps: Vec<&Vec<String>> = self.wraps.iter().collect();
        wraps.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        for site in wraps {
            if let Some(slot) = lookup_mut(&mut doc, site) {
                let inner = slot.take();
                let mut wrapper = Map::new();
                wrapper.insert("if".to_owned(), serde_json::json!({"type": "null"}));
                wrapper.insert("else".to_owned(), inner);
                *slot = Value::Object(wrapper);
            }
        }
        doc
    }

    /// `text` with `/else` after every wrapped subschema its pointer passes through; `None`
    /// when it passes through none (or is not a `#/...` pointer).
    fn rewrite_ref(&self, text: &str) -> Option<String> {
        let raw = text.strip_prefix("#/")?;
        let mut path = Vec::new();
        let mut out = String::from("#");
        let mut changed = false;
        for segment in raw.split('/') {
            path.push(decode_token(segment)?);
            out.push('/');
            out.push_str(segment);
            if self.wraps.contains(&path) {
                out.push_str("/else");
                changed = true;
            }
        }
        changed.then_some(out)
    }
}

/// `true` and `{}`: they accept `null` already.
fn accepts_anything(schema: &Value) -> bool {
    match schema {
        Value::Bool(b) => *b,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// The reference tokens of a `#`, `#/...` `$ref`; `None` for other references.
fn ref_target(text: &str) -> Option<Vec<String>> {
    let fragment = text.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(Vec::new());
    }
    fragment
        .strip_prefix('/')?
        .split('/')
        .map(decode_token)
        .collect()
}

/// One reference token of a URI-fragment JSON Pointer: percent-decoded, then unescaped.
fn decode_token(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    let token = String::from_utf8(out).ok()?;
    Some(token.replace("~1", "/").replace("~0", "~"))
}

fn lookup<'v>(mut v: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    for t in tokens {
        v = match v {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn lookup_mut<'v>(mut v: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    for t in tokens {
        v = match v {
            Value::Object(m) => m.get_mut(t)?,
            Value::Array(a) => a.get_mut(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(schema: Value) -> SchemaValidator {
        SchemaValidator::new(schema).unwrap()
    }

    fn relaxed(schema: Value) -> SchemaValidator {
        compile(schema).accepting_null_for_optional()
    }

    /// The paths of the issues, empty when valid.
    fn paths(v: &SchemaValidator, value: Value) -> Vec<String> {
        match v.validate(&value) {
            Ok(()) => Vec::new(),
            Err(issues) => {
                assert!(!issues.is_empty());
                issues.into_iter().map(|i| i.path).collect()
            }
        }
    }

    /// The `(path, message)` pairs of the issues, empty when valid.
    fn issues(v: &SchemaValidator, value: Value) -> Vec<(String, String)> {
        match v.validate(&value) {
            Ok(()) => Vec::new(),
            Err(issues) => issues.into_iter().map(|i| (i.path, i.message)).collect(),
        }
    }

    fn ok(v: &SchemaValidator, value: Value) {
        assert_eq!(paths(v, value.clone()), Vec::<String>::new(), "{value}");
    }

    fn bad(v: &SchemaValidator, value: Value, at: &[&str]) {
        assert_eq!(paths(v, value.clone()), at, "{value}");
    }

    fn schema_error(schema: Value) -> SchemaError {
        SchemaValidator::new(schema).unwrap_err()
    }

    fn nest(n: usize) -> Value {
        let mut v = json!(null);
        for _ in 0..n {
            v = Value::Array(vec![v]);
        }
        v
    }

    /// Runs `f` on a thread with a tokio worker's stack (2 MiB).
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    // ----- what clamator relies on ---------------------------------------------------

    #[test]
    fn issues_carry_json_pointers() {
        let s = compile(json!({
            "type": "object",
            "properties": {
                "a": {"type": "number"},
                "items": {"items": {"properties": {"x": {"type": "string"}}}}
            },
            "required": ["a"],
            "additionalProperties": {"type": "number"}
        }));
        // the root is ""
        assert_eq!(
            issues(&s, json!([])),
            [("".to_owned(), r#"value is not of type "object""#.to_owned())]
        );
        bad(&s, json!({}), &[""]);
        bad(&s, json!({"a": "x"}), &["/a"]);
        bad(
            &s,
            json!({"a": 1, "items": [{"x": "s"}, {"x": 1}]}),
            &["/items/1/x"],
        );
        // `~` and `/` in keys are escaped, the empty key is "/"
        bad(&s, json!({"a": 1, "a/b": "x"}), &["/a~1b"]);
        bad(&s, json!({"a": 1, "m~n": "x"}), &["/m~0n"]);
        bad(&s, json!({"a": 1, "~/": "x"}), &["/~0~1"]);
        bad(&s, json!({"a": 1, "": "x"}), &["/"]);
        // escaping in the schema's own pointers
        let s = compile(json!({
            "properties": {"a/b": {"$ref": "#/$defs/x~1y"}},
            "$defs": {"x/y": {"type": "null"}}
        }));
        bad(&s, json!({"a/b": 1}), &["/a~1b"]);
    }

    #[test]
    fn every_issue_is_reported_in_a_deterministic_order() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "number", "minimum": 0},
                "b": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 2}}
            },
            "required": ["a", "b", "c"],
            "additionalProperties": false
        });
        let value = json!({"tags": ["ok", "long", 3], "a": -1, "z": 1, "y": 2});
        let first = compile(schema.clone()).validate(&value).unwrap_err();
        let got: Vec<(&str, &str)> = first
            .iter()
            .map(|i| (i.path.as_str(), i.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("", r#"missing required property "b""#),
                ("", r#"missing required property "c""#),
                ("/tags/1", "value is longer than 2 characters"),
                ("/tags/2", r#"value is not of type "string""#),
                ("/a", "value is less than the minimum of 0"),
                (
                    "",
                    "Additional properties are not allowed ('z', 'y' were unexpected)"
                ),
            ]
        );
        for _ in 0..3 {
            let v = compile(schema.clone());
            assert_eq!(v.validate(&value).unwrap_err(), first);
            assert_eq!(v.validate(&value).unwrap_err(), first);
        }
    }

    #[test]
    fn messages_do_not_quote_the_value() {
        let s = compile(json!({
            "type": "object",
            "properties": {
                "password": {"type": "string", "minLength": 12, "pattern": "[0-9]"},
                "pin": {"enum": [1, 2]},
                "when": {"type": "string", "format": "date-time"}
            }
        }));
        let issues = s
            .validate(&json!({"password": "hunter", "pin": 31337, "when": "s3cr3t"}))
            .unwrap_err();
        assert_eq!(issues.len(), 4);
        for issue in issues {
            for secret in ["hunter", "31337", "s3cr3t"] {
                assert!(!issue.message.contains(secret), "{}", issue.message);
            }
        }
    }

    #[test]
    fn integral_floats_are_integers() {
        let s = compile(json!({"type": "integer"}));
        ok(&s, json!(5));
        ok(&s, json!(-5));
        ok(&s, json!(5.0));
        ok(&s, json!(u64::MAX));
        ok(&s, json!(1e300));
        assert_eq!(
            issues(&s, json!(5.5)),
            [(
                "".to_owned(),
                r#"value is not of type "integer""#.to_owned()
            )]
        );
        bad(&s, json!("5"), &[""]);
        // numbers compare by value everywhere
        let s = compile(json!({"const": {"a": 1.0, "b": [2]}}));
        ok(&s, json!({"b": [2.0], "a": 1}));
        let s = compile(json!({"enum": [1, "one"]}));
        ok(&s, json!(1.0));
        let s = compile(json!({"uniqueItems": true}));
        bad(&s, json!([1, 2, 1.0]), &[""]);
    }

    // ----- null for optional properties ----------------------------------------------

    #[test]
    fn null_for_optional_properties_only_when_asked() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "tag": {"type": "string", "minLength": 1},
                "any": {},
                "never": false
            },
            "required": ["id"],
            "additionalProperties": {"type": "number"}
        });
        let strict = compile(schema.clone());
        let lenient = strict.clone().accepting_null_for_optional();
        bad(&strict, json!({"id": "a", "tag": null}), &["/tag"]);
        ok(&lenient, json!({"id": "a", "tag": null}));
        ok(
            &lenient,
            json!({"id": "a", "tag": null, "any": null, "never": null}),
        );
        // relaxing a clone leaves the original strict
        bad(&strict, json!({"id": "a", "tag": null}), &["/tag"]);
        // required properties stay strict
        bad(&lenient, json!({"id": null}), &["/id"]);
        // other values are checked as before, with the same messages
        assert_eq!(
            issues(&lenient, json!({"id": "a", "tag": ""})),
            issues(&strict, json!({"id": "a", "tag": ""}))
        );
        bad(&lenient, json!({"id": "a", "tag": 1}), &["/tag"]);
        bad(&lenient, json!({"id": "a", "never": 1}), &["/never"]);
        // undeclared properties are not optional ones
        bad(&lenient, json!({"id": "a", "extra": null}), &["/extra"]);
        // the codegen helpers: params relaxed, results strict
        let text = schema.to_string().leak();
        let params = crate::__codegen::params_validator(text).unwrap();
        let result = crate::__codegen::validator(text).unwrap();
        ok(&params, json!({"id": "a", "tag": null}));
        bad(&result, json!({"id": "a", "tag": null}), &["/tag"]);
        // no optional properties: nothing to relax
        let s = relaxed(json!({"properties": {"a": {"type": "string"}}, "required": ["a"]}));
        assert!(s.relaxed.is_none());
        bad(&s, json!({"a": null}), &["/a"]);
    }

    #[test]
    fn null_for_optional_properties_at_every_level() {
        // the inventory contract's shapes: nested objects, arrays of objects, `$defs`, unions
        let schema = json!({
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "filters": {
                    "type": "object",
                    "properties": {
                        "minPrice": {"type": "number", "minimum": 0},
                        "kinds": {"type": "array", "items": {"$ref": "#/$defs/Kind"}}
                    },
                    "additionalProperties": false
                },
                "items": {"type": "array", "items": {"$ref": "#/definitions/Item"}},
                "result": {"anyOf": [
                    {"type": "object", "properties": {"ok": {"const": true}, "pid": {"type": "integer"}},
                     "required": ["ok"], "additionalProperties": false},
                    {"type": "object", "properties": {"ok": {"const": false}, "why": {"type": "string"}},
                     "required": ["ok", "why"], "additionalProperties": false}
                ]}
            },
            "required": ["query", "items"],
            "additionalProperties": false,
            "$defs": {"Kind": {"type": "string", "enum": ["a", "b"]}},
            "definitions": {
                "Item": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "note": {"type": "string"}},
                    "required": ["id"],
                    "additionalProperties": false
                }
            }
        });
        let strict = compile(schema.clone());
        let lenient = relaxed(schema);
        let value = json!({
            "query": "q",
            "filters": {"minPrice": null, "kinds": null},
            "items": [{"id": "1", "note": null}, {"id": "2"}],
            "result": {"ok": true, "pid": null}
        });
        ok(&lenient, value.clone());
        bad(
            &strict,
            value,
            &[
                "/filters/minPrice",
                "/filters/kinds",
                "/items/0/note",
                "/result",
            ],
        );
        ok(
            &lenient,
            json!({"query": "q", "items": [], "filters": null, "result": null}),
        );
        // required ones, at every level, stay strict
        bad(&lenient, json!({"query": null, "items": []}), &["/query"]);
        bad(
            &lenient,
            json!({"query": "q", "items": [{"id": null}]}),
            &["/items/0/id"],
        );
        bad(
            &lenient,
            json!({"query": "q", "items": [], "result": {"ok": false, "why": null}}),
            &["/result"],
        );
        // and non-null values are still checked
        bad(
            &lenient,
            json!({"query": "q", "items": [], "filters": {"minPrice": -1, "kinds": ["c"]}}),
            &["/filters/minPrice", "/filters/kinds/0"],
        );
    }

    #[test]
    fn null_for_optional_properties_through_refs_into_properties() {
        // zod-to-json-schema refers to a reused schema by where it first appeared
        let s = relaxed(json!({
            "type": "object",
            "properties": {
                "home": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                    "required": ["city"]
                },
                "work": {"$ref": "#/properties/home"},
                "city": {"$ref": "#/properties/home/properties/city"},
                "zip": {"$ref": "#/properties/home/properties/zip"},
                "zip2": {"$ref": "#/properties/home/properties/zip"}
            },
            "required": ["work", "zip"]
        }));
        ok(
            &s,
            json!({"work": {"city": "x", "zip": null}, "home": null, "zip": "1", "city": null}),
        );
        // the target keeps the strictness of where it is used
        bad(&s, json!({"work": null, "zip": "1"}), &["/work"]);
        bad(
            &s,
            json!({"work": {"city": null}, "zip": "1"}),
            &["/work/city"],
        );
        bad(&s, json!({"work": {"city": "x"}, "zip": null}), &["/zip"]);
        ok(&s, json!({"work": {"city": "x"}, "zip": "1", "zip2": null}));
        bad(
            &s,
            json!({"work": {"city": 1, "zip": 2}, "zip": "1"}),
            &["/work/city", "/work/zip"],
        );
        // percent-encoded and escaped pointers are followed too
        let s = relaxed(json!({
            "properties": {
                "a b": {"properties": {"c/d": {"type": "string"}}},
                "e": {"$ref": "#/properties/a%20b/properties/c~1d"}
            },
            "required": ["e"]
        }));
        ok(&s, json!({"a b": {"c/d": null}, "e": "x"}));
        bad(&s, json!({"e": null}), &["/e"]);
        // and recursive ones
        let s = relaxed(json!({
            "type": "object",
            "properties": {"value": {"type": "number"}, "next": {"$ref": "#"}},
            "required": ["value"]
        }));
        ok(&s, json!({"value": 1, "next": {"value": 2, "next": null}}));
        bad(
            &s,
            json!({"value": 1, "next": {"value": null}}),
            &["/next/value"],
        );
    }

    // ----- formats -------------------------------------------------------------------

    #[test]
    fn formats_are_checked() {
        let dt = compile(json!({"type": "string", "format": "date-time"}));
        for good in [
            "2024-02-29T12:34:56Z",
            "2024-01-01T00:00:00.123456+05:30",
            "2024-01-01t23:59:59z",
            "1998-12-31T23:59:60Z",
            "1998-12-31T15:59:60-08:00",
        ] {
            ok(&dt, json!(good));
        }
        for bad in [
            "2024-01-01T00:00:00",  // no offset
            "2024-01-01 00:00:00Z", // space
            "2023-02-29T00:00:00Z", // not a leap year
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0530",
            "2024-01-01T12:00:60Z", // leap second at the wrong time
            "2024-01-01",
            "",
            "2024-01-01T00:00:00Z ",
        ] {
            assert_eq!(
                issues(&dt, json!(bad)),
                [("".to_owned(), r#"value is not a "date-time""#.to_owned())],
                "{bad}"
            );
        }

        let d = compile(json!({"format": "date"}));
        ok(&d, json!("2000-02-29"));
        ok(&d, json!(17)); // formats only apply to strings
        for bad in [
            "1900-02-29",
            "2000-04-31",
            "2000-1-01",
            "2000-01-01T",
            "20000-01-01",
        ] {
            assert_eq!(paths(&d, json!(bad)), [""], "{bad}");
        }

        // zod's z.string().time() gives times without an offset
        let t = compile(json!({"format": "time"}));
        for good in [
            "08:30:06",
            "08:30:06.123",
            "08:30:06Z",
            "08:30:06.5+01:00",
            "23:59:60Z",
            "23:59:60",
            "15:59:60-08:00",
        ] {
            ok(&t, json!(good));
        }
        for bad in [
            "8:30:06",
            "08:30",
            "08:60:00",
            "24:00:00",
            "08:30:06.",
            "08:30:06+1",
            "08:30:06+01:60",
            "12:00:60Z",
            "23:59:60+01:00",
            "08:30:06 ",
            "",
        ] {
            assert_eq!(paths(&t, json!(bad)), [""], "{bad}");
        }

        // uuid is not a draft-7 format, but zod emits it
        let u = compile(json!({"format": "uuid"}));
        ok(&u, json!("7b71d3ce-52a5-4d0b-9b7e-3f7a7c0b5e11"));
        ok(&u, json!("7B71D3CE-52A5-4D0B-9B7E-3F7A7C0B5E11"));
        for bad in [
            "7b71d3ce52a54d0b9b7e3f7a7c0b5e11",
            "{7b71d3ce-52a5-4d0b-9b7e-3f7a7c0b5e11}",
            "7b71d3ce-52a5-4d0b-9b7e-3f7a7c0b5e1g",
            "",
        ] {
            assert_eq!(paths(&u, json!(bad)), [""], "{bad}");
        }

        let e = compile(json!({"format": "email"}));
        ok(&e, json!("a@b"));
        ok(&e, json!("first.last+tag@example.co.uk"));
        for bad in ["ab", "@b", "a@", "a b@c"] {
            assert_eq!(paths(&e, json!(bad)), [""], "{bad}");
        }

        // unknown formats are ignored (z.bigint() emits int64)
        let s = compile(json!({"type": "integer", "format": "int64"}));
        ok(&s, json!(5));
        // other draft-7 formats are left to the peers, which disagree on them
        for format in UNCHECKED_FORMATS {
            ok(
                &compile(json!({"format": format})),
                json!("not quite :// a [value"),
            );
        }
    }

    // ----- $ref ----------------------------------------------------------------------

    #[test]
    fn refs_resolve_inside_the_schema() {
        let s = compile(json!({
            "type": "object",
            "properties": {
                "a": {"$ref": "#/$defs/Pos"},
                "b": {"$ref": "#/definitions/Name"},
                "c": {"$ref": "#/properties/a"}
            },
            "$defs": {"Pos": {"type": "number", "minimum": 0}},
            "definitions": {"Name": {"type": "string"}}
        }));
        ok(&s, json!({"a": 1, "b": "x", "c": 2}));
        bad(&s, json!({"a": -1, "b": 2, "c": -3}), &["/a", "/b", "/c"]);
        // percent-encoded fragment
        let s = compile(json!({"$ref": "#/%24defs/A%20B", "$defs": {"A B": {"type": "null"}}}));
        ok(&s, json!(null));
        bad(&s, json!(1), &[""]);
        // siblings of $ref are ignored (draft 7)
        let s = compile(
            json!({"$ref": "#/$defs/S", "minLength": 5, "$defs": {"S": {"type": "string"}}}),
        );
        ok(&s, json!("ab"));
    }

    #[test]
    fn recursive_refs() {
        let tree = compile(json!({
            "$ref": "#/definitions/Node",
            "definitions": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number"},
                        "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}
                    },
                    "required": ["value"],
                    "additionalProperties": false
                }
            }
        }));
        ok(
            &tree,
            json!({"value": 1, "children": [{"value": 2}, {"value": 3, "children": []}]}),
        );
        bad(
            &tree,
            json!({"value": 1, "children": [{"value": 2, "children": [{"value": "x"}]}]}),
            &["/children/0/children/0/value"],
        );
        // "#" is the root
        let list = compile(json!({
            "type": ["object", "null"],
            "properties": {"head": {"type": "number"}, "tail": {"$ref": "#"}}
        }));
        ok(&list, json!({"head": 1, "tail": {"head": 2, "tail": null}}));
        bad(
            &list,
            json!({"head": 1, "tail": {"head": 2, "tail": 3}}),
            &["/tail/tail"],
        );
    }

    #[test]
    fn deep_values_are_reported_not_overflowed() {
        let recursive =
            json!({"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#"}}]});
        let s = compile(recursive.clone());
        let lenient = relaxed(json!({
            "type": ["array", "null"],
            "items": {"type": "object", "properties": {"x": {"$ref": "#"}}}
        }));
        on_small_stack(move || {
            s.validate(&nest(MAX_VALUE_DEPTH)).unwrap();
            let errs = s.validate(&nest(5000)).unwrap_err();
            assert_eq!(
                errs,
                [ValidationIssue::new(
                    "/0".repeat(MAX_VALUE_DEPTH),
                    "value nested too deeply (more than 128 levels)"
                )]
            );
            // whatever the JSON parser accepts is within the limit
            let text = format!("{}null{}", "[".repeat(200), "]".repeat(200));
            let mut deepest = None;
            for n in 1..200 {
                if let Ok(v) = serde_json::from_str::<Value>(&text[200 - n..200 + 4 + n]) {
                    deepest = Some(v);
                }
            }
            s.validate(&deepest.unwrap()).unwrap();
            // the relaxed schema too
            let mut v = json!(null);
            for _ in 0..MAX_VALUE_DEPTH / 2 {
                v = json!([{ "x": v }]);
            }
            lenient.validate(&v).unwrap();
            assert!(lenient.validate(&json!([{"x": [{"x": 1}]}])).is_err());
            // a schema without $ref never descends deeper than itself
            compile(json!({"type": "array"}))
                .validate(&nest(5000))
                .unwrap();
        });
    }

    // ----- invalid schemas -----------------------------------------------------------

    #[test]
    fn invalid_schemas_are_errors_that_point_into_the_schema() {
        let e = schema_error(json!({"properties": {"a": {"pattern": "(unclosed"}}}));
        assert_eq!(e.pointer, "/properties/a/pattern");
        assert!(
            e.to_string()
                .starts_with("invalid schema at /properties/a/pattern: "),
            "{e}"
        );
        let e = schema_error(json!({"properties": {"a/b": {"$ref": "#/$defs/Missing"}}}));
        assert_eq!(e.pointer, "/properties/a~1b/$ref");
        assert!(e.reason.contains("/$defs/Missing"), "{e}");

        for (schema, pointer) in [
            (json!({"$ref": "other.json#/x"}), "/$ref"),
            (json!({"allOf": [{"$ref": "#anchor"}]}), "/allOf/0/$ref"),
            (json!({"$ref": 1}), "/$ref"),
            (
                json!({"patternProperties": {"[": {}}}),
                "/patternProperties",
            ),
            (json!({"type": "float"}), "/type"),
            (json!({"type": ["string", 1]}), "/type"),
            (json!({"required": "a"}), "/required"),
            (json!({"required": ["a", 1]}), "/required/1"),
            (json!({"minLength": -1}), "/minLength"),
            (json!({"maxItems": 1.5}), "/maxItems"),
            (json!({"minimum": "0"}), "/minimum"),
            (json!({"exclusiveMinimum": true}), "/exclusiveMinimum"),
            (json!({"multipleOf": 0}), "/multipleOf"),
            (json!({"uniqueItems": 1}), "/uniqueItems"),
            (json!({"enum": "a"}), "/enum"),
            (json!({"anyOf": []}), "/anyOf"),
            (json!({"oneOf": {}}), "/oneOf"),
            (json!({"items": [{}, 3]}), "/items"),
            (json!({"properties": {"a": 3}}), "/properties/a"),
            (json!({"properties": []}), "/properties"),
            (
                json!({"additionalProperties": "no"}),
                "/additionalProperties",
            ),
            (json!({"not": null}), "/not"),
            (json!({"format": 1}), "/format"),
            (json!({"definitions": {"A": 1}}), "/definitions/A"),
            (json!("string"), ""),
            (json!(null), ""),
        ] {
            let e = SchemaValidator::new(schema.clone()).unwrap_err();
            assert_eq!(e.pointer, pointer, "{schema}: {e}");
            assert!(!e.reason.is_empty());
        }
        assert!(schema_error(json!(3))
            .to_string()
            .starts_with("invalid schema at the root: "));
        // unknown formats and keywords are fine
        compile(json!({"format": "made-up", "x-custom": {"type": 3}}));
    }

    #[test]
    fn from_json_and_deeply_nested_schemas() {
        let e = SchemaValidator::from_json("{not json").unwrap_err();
        assert_eq!(e.pointer, "");
        assert!(e.reason.starts_with("schema is not valid JSON"), "{e}");
        ok(
            &SchemaValidator::from_json(r#"{"type":"string"}"#).unwrap(),
            json!("x"),
        );

        let nest_not = |n: usize| {
            let mut deep = json!({});
            for _ in 0..n {
                deep = json!({ "not": deep });
            }
            deep
        };
        // as deep as `new` allows (the JSON parser allows a level less); an odd number of
        // `not`s around `{}` rejects everything, an even one accepts everything
        let deepest = nest_not(MAX_SCHEMA_DEPTH - 1);
        let parsable = nest_not(MAX_SCHEMA_DEPTH - 2).to_string();
        on_small_stack(move || {
            let s = compile(deepest);
            s.validate(&json!(1)).unwrap_err();
            let s = SchemaValidator::from_json(&parsable).unwrap();
            s.validate(&json!(1)).unwrap();
        });
        let e = schema_error(nest_not(300));
        assert_eq!(e.reason, "schema nested too deeply (more than 128 levels)");
        let mut deep = json!(1);
        for _ in 0..300 {
            deep = json!([deep]);
        }
        schema_error(json!({ "const": deep }));
        SchemaValidator::from_json(&json!({ "const": deep }).to_string()).unwrap_err();
    }

    /// Every params and result schema of the example contracts and the codegen golden files
    /// compiles, strict and relaxed (with the file's `$defs` beside it, as in the file).
    #[test]
    fn contract_schemas_compile() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut compiled = 0;
        for dir in ["contracts", "clamator-codegen/tests/golden"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            let mut in_dir = 0;
            for file in files {
                let contract: Value =
                    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
                let Some(methods) = contract.get("methods").and_then(Value::as_object) else {
                    continue; // the manifest
                };
                for (method, m) in methods {
                    for part in ["params", "result"] {
                        let Some(schema) = m.get(part) else {
                            continue; // notifications have no result
                        };
                        let mut schema = schema.clone();
                        if let (Some(defs), Some(obj)) =
                            (contract.get("$defs"), schema.as_object_mut())
                        {
                            obj.insert("$defs".to_owned(), defs.clone());
                        }
                        let at = format!("{}: {method}.{part}", file.display());
                        let v = SchemaValidator::new(schema)
                            .unwrap_or_else(|e| panic!("{at}: {e}"))
                            .accepting_null_for_optional();
                        // A `$ref` that did not resolve would have failed above; check one runs.
                        let _ = v.validate(&json!({}));
                        in_dir += 1;
                    }
                }
            }
            assert!(in_dir > 0, "no schemas found under {dir}");
            compiled += in_dir;
        }
        assert!(compiled >= 30, "{compiled}");
    }

    #[test]
    fn contract_refs_are_checked() {
        // inventory.addItem: params refer to the contract's `$defs`
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/inventory.json"),
        )
        .unwrap();
        let contract: Value = serde_json::from_str(&text).unwrap();
        let mut params = contract["methods"]["addItem"]["params"].clone();
        params["$defs"] = contract["$defs"].clone();
        let v = relaxed(params);
        let item = json!({"id": "x", "name": "X", "price": 1, "kind": "digital"});
        ok(&v, json!({"item": item, "tags": null, "dryRun": true}));
        let mut wrong = item.clone();
        wrong["price"] = json!(-1);
        bad(&v, json!({"item": wrong}), &["/item/price"]);
    }

    // ----- draft-7 keywords (ported from the old validator's tests) ------------------

    #[test]
    fn object_keywords() {
        let s = compile(json!({
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "string"}},
            "required": ["a", "b"],
            "additionalProperties": false
        }));
        ok(&s, json!({"a": 1, "b": "x"}));
        bad(&s, json!({"a": "x", "c": 1}), &["", "/a", ""]);
        let s = compile(json!({"properties": {"a": {"type": "number"}}}));
        ok(&s, json!({}));
        ok(&s, json!({"z": "anything"}));
        ok(&s, json!("not an object")); // no `type`: object keywords ignore non-objects
        bad(&s, json!({"a": null}), &["/a"]);

        // z.record(z.number())
        let s = compile(json!({"type": "object", "additionalProperties": {"type": "number"}}));
        ok(&s, json!({"x": 1, "y": 2.5}));
        bad(&s, json!({"x": 1, "y": "no", "z": null}), &["/y", "/z"]);
        let s = compile(json!({
            "properties": {"n": {"type": "string"}},
            "additionalProperties": {"type": "number"}
        }));
        ok(&s, json!({"n": "s", "m": 1}));
        bad(&s, json!({"n": 1}), &["/n"]);

        let s = compile(
            json!({"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}),
        );
        ok(&s, json!({"x-a": "s"}));
        bad(&s, json!({"x-a": 1}), &["/x-a"]);
        bad(&s, json!({"y": 1}), &[""]);

        let s = compile(json!({"type": "object", "propertyNames": {"enum": ["a", "b"]}}));
        ok(&s, json!({"a": 1}));
        bad(&s, json!({"c": 1}), &[""]);

        let s = compile(json!({"minProperties": 1, "maxProperties": 2}));
        ok(&s, json!({"a": 1}));
        bad(&s, json!({}), &[""]);
        bad(&s, json!({"a": 1, "b": 2, "c": 3}), &[""]);

        let s = compile(json!({"dependencies": {"a": ["b"], "c": {"required": ["d"]}}}));
        ok(&s, json!({"a": 1, "b": 2}));
        ok(&s, json!({"b": 2}));
        bad(&s, json!({"a": 1}), &[""]);
        bad(&s, json!({"c": 1}), &[""]);

        let s = compile(json!({"type": "object", "properties": {}, "additionalProperties": false}));
        ok(&s, json!({}));
        bad(&s, json!({"a": 1}), &[""]);
    }

    #[test]
    fn array_keywords() {
        let s = compile(json!({"type": "array", "items": {"type": "string"}}));
        ok(&s, json!(["a", "b"]));
        bad(&s, json!(["a", 1, "c", null]), &["/1", "/3"]);

        // z.tuple([z.string(), z.number()])
        let s = compile(json!({
            "type": "array", "minItems": 2, "maxItems": 2,
            "items": [{"type": "string"}, {"type": "number"}]
        }));
        ok(&s, json!(["a", 1]));
        bad(&s, json!([1, "a"]), &["/0", "/1"]);
        bad(&s, json!(["a"]), &[""]);
        bad(&s, json!(["a", 1, 2]), &[""]);
        let s =
            compile(json!({"items": [{"type": "string"}], "additionalItems": {"type": "number"}}));
        ok(&s, json!(["a", 1, 2]));
        bad(&s, json!(["a", 1, "x"]), &["/2"]);
        let s = compile(json!({"items": [{"type": "string"}], "additionalItems": false}));
        bad(&s, json!(["a", 1]), &[""]);

        let s = compile(json!({"uniqueItems": true}));
        ok(&s, json!([1, 2, "1", [1], {"a": 1}, {"a": 2}]));
        bad(&s, json!([{"a": 1, "b": 2}, {"b": 2, "a": 1}]), &[""]);
        let s = compile(json!({"contains": {"type": "string"}}));
        ok(&s, json!([1, "a"]));
        bad(&s, json!([1, 2]), &[""]);
        bad(&s, json!([]), &[""]);
    }

    #[test]
    fn number_and_string_keywords() {
        let s = compile(json!({"type": "number", "minimum": 0, "maximum": 10}));
        ok(&s, json!(0));
        ok(&s, json!(10.0));
        bad(&s, json!(-0.0001), &[""]);
        bad(&s, json!(10.5), &[""]);
        let s = compile(json!({"exclusiveMinimum": 0, "exclusiveMaximum": 1.5}));
        ok(&s, json!(1e-9));
        bad(&s, json!(0), &[""]);
        bad(&s, json!(1.5), &[""]);
        ok(&s, json!("not a number")); // numeric keywords ignore other types
        let s = compile(json!({"maximum": 9007199254740992u64}));
        ok(&s, json!(9007199254740992u64));
        bad(&s, json!(9007199254740993u64), &[""]);

        let s = compile(json!({"multipleOf": 3}));
        ok(&s, json!(-9));
        ok(&s, json!(9.0));
        bad(&s, json!(10), &[""]);
        bad(&s, json!(4.5), &[""]);
        let s = compile(json!({"multipleOf": 0.1}));
        ok(&s, json!(0.3));
        ok(&s, json!(7));
        bad(&s, json!(0.35), &[""]);
        let s = compile(json!({"multipleOf": 0.01}));
        ok(&s, json!(19.99));
        bad(&s, json!(19.999), &[""]);

        // lengths count code points
        let s = compile(json!({"type": "string", "minLength": 2, "maxLength": 3}));
        ok(&s, json!("héé"));
        ok(&s, json!("😀😀😀"));
        bad(&s, json!("é"), &[""]);
        bad(&s, json!("😀😀😀😀"), &[""]);

        // patterns search, unanchored; zod's cuid and emoji patterns work
        let s = compile(json!({"pattern": "b+"}));
        ok(&s, json!("abbbc"));
        bad(&s, json!("ac"), &[""]);
        let s = compile(json!({"pattern": "^[cC][^\\s-]{8,}$"}));
        ok(&s, json!("cjld2cjxh0000qzrmn831i7rn"));
        let s = compile(json!({"pattern": "^(\\p{Extended_Pictographic}|\\p{Emoji_Component})+$"}));
        ok(&s, json!("😀"));
        bad(&s, json!("a"), &[""]);
    }

    // ----- patterns: linear engine, or a budget ----------------------------------------

    /// The hostile pattern of issue 26: only the backtracking engine takes it, and a string
    /// of `a`s that does not end the match makes it try every way of splitting the `a`s.
    const HOSTILE: &str = "^((?=a)a+)+$";

    fn may_block(v: &SchemaValidator) -> bool {
        crate::server::Validator::may_block(v)
    }

    #[test]
    fn patterns_the_linear_engine_takes_are_matched_by_it() {
        // nested quantifiers are harmless for the linear engine, however long the string
        let s = compile(json!({"type": "string", "pattern": "(a+)+$"}));
        assert!(!may_block(&s));
        let started = Instant::now();
        let a = "a".repeat(100_000);
        assert!(s.validate(&json!(format!("!{a}"))).is_ok());
        assert!(s.validate(&json!(format!("{a}!"))).is_err());
        let s = compile(json!({"pattern": "^(a|aa)+$"}));
        assert!(s.validate(&json!(format!("{a}!"))).is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        // the messages stay the validator's own
        assert_eq!(
            issues(&compile(json!({"pattern": "^x+$"})), json!("y")),
            [("".to_owned(), r#"value does not match "^x+$""#.to_owned())]
        );
        for linear in [
            json!({"patternProperties": {"^(a+)+$": {}}}),
            json!({"propertyNames": {"pattern": "^[a-z]+$"}}),
            json!({"pattern": "^\\p{Lu}\\d{2,}\\s?$"}),
        ] {
            assert!(!may_block(&compile(linear.clone())), "{linear}");
        }
    }

    #[test]
    fn lookaround_and_backreferences_still_work() {
        // each needs the backtracking engine: the schema is checked under a budget
        let s = compile(json!({
            "type": "object",
            "properties": {
                "password": {"type": "string", "pattern": "^(?=.*\\d)(?=.*[a-z]).{8,}$"},
                "word": {"type": "string", "pattern": "(?<!x)y$"},
                "twice": {"type": "string", "pattern": "^(ab)\\1$"},
                "plain": {"type": "string", "pattern": "^[a-z]+$"}
            },
            "propertyNames": {"pattern": "^(?!_)"},
            "patternProperties": {"^(?=n)": {"type": "number"}}
        }));
        assert!(may_block(&s));
        ok(
            &s,
            json!({"password": "abcdefg1", "word": "ay", "twice": "abab", "plain": "x", "n1": 1}),
        );
        assert_eq!(
            issues(
                &s,
                json!({"password": "abcdefgh", "word": "xy", "twice": "abba", "plain": "X", "n1": "s"})
            ),
            [
                (
                    "/password".to_owned(),
                    r#"value does not match "^(?=.*\d)(?=.*[a-z]).{8,}$""#.to_owned()
                ),
                (
                    "/word".to_owned(),
                    r#"value does not match "(?<!x)y$""#.to_owned()
                ),
                (
                    "/twice".to_owned(),
                    r#"value does not match "^(ab)\1$""#.to_owned()
                ),
                (
                    "/plain".to_owned(),
                    r#"value does not match "^[a-z]+$""#.to_owned()
                ),
                (
                    "/n1".to_owned(),
                    r#"value is not of type "number""#.to_owned()
                ),
            ]
        );
        bad(&s, json!({"_x": 1}), &[""]);
        // null for optional properties, and a relaxed copy under the same rules
        ok(
            &s.clone().accepting_null_for_optional(),
            json!({"word": null}),
        );
        bad(
            &s.clone().accepting_null_for_optional(),
            json!({"word": "xy"}),
            &["/word"],
        );
        // an invalid pattern beside them is still an error pointing at it
        let e = schema_error(json!({"properties": {
            "a": {"pattern": "(?<=x)y"}, "b": {"pattern": "(unclosed"}
        }}));
        assert_eq!(e.pointer, "/properties/b/pattern", "{e}");
        assert!(e.reason.contains("(unclosed"), "{e}");
        // one that neither engine compiles (too large), found by the fallback's own keyword
        let e = schema_error(json!({"properties": {
            "a": {"pattern": "(?<=x)y"}, "b": {"items": {"pattern": "(?:a{1000}){1000}"}}
        }}));
        assert_eq!(e.pointer, "/properties/b/items/pattern", "{e}");
        assert!(
            e.to_string()
                .starts_with("invalid schema at /properties/b/items/pattern: "),
            "{e}"
        );
        let e =
            schema_error(json!({"properties": {"a": {"pattern": "(?<=x)y"}, "b": {"pattern": 3}}}));
        assert_eq!(e.pointer, "/properties/b/pattern", "{e}");
    }

    #[test]
    fn hostile_patterns_on_many_strings_are_refused_within_a_budget() {
        // 600 distinct strings (21 KB): every one of them hits the step limit
        let s = relaxed(json!({
            "type": "object",
            "properties": {"xs": {"type": "array", "items": {"type": "string", "pattern": HOSTILE}}}
        }));
        assert!(may_block(&s));
        let xs: Vec<Value> = (0..600)
            .map(|i| json!(format!("{}!{i:03}", "a".repeat(30))))
            .collect();
        let value = json!({"xs": xs});
        assert!(value.to_string().len() > 21_000);
        let started = Instant::now();
        let found = s.validate(&value).unwrap_err();
        let took = started.elapsed();
        // generous: the budget is 50 ms, unbudgeted it is minutes
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let budget: Vec<&ValidationIssue> = found
            .iter()
            .filter(|i| i.message.starts_with("pattern check budget exceeded ("))
            .collect();
        assert_eq!(budget.len(), 1, "{found:?}");
        assert!(budget[0].path.starts_with("/xs/"), "{found:?}");
        // the strings checked before it ran out each gave up at the step limit
        assert!(
            found
                .iter()
                .all(|i| i == budget[0] || i.message.contains("backtracking")),
            "{found:?}"
        );
        // the next check has a budget of its own
        ok(&s, json!({"xs": ["aaa"]}));
    }

    #[test]
    fn what_a_budget_left_unchecked_is_never_accepted() {
        // under `not`, a pattern not run (or given up on) would read as "not matched"
        let s = compile(json!({"type": "array", "items": {"not": {"pattern": HOSTILE}}}));
        let xs: Vec<Value> = (0..600)
            .map(|i| json!(format!("{}!{i:03}", "a".repeat(30))))
            .collect();
        let found = s.validate(&Value::Array(xs)).unwrap_err();
        assert!(
            found
                .iter()
                .any(|i| i.message.starts_with("pattern check budget exceeded (")),
            "{found:?}"
        );
        // one string that makes the match give up
        let found = s
            .validate(&json!([format!("{}!", "a".repeat(30))]))
            .unwrap_err();
        assert_eq!(found.len(), 1, "{found:?}");
        // strings the pattern decides are judged as usual
        ok(&s, json!(["b", "a!"]));
        bad(&s, json!(["aaa"]), &["/0"]);
    }

    #[test]
    fn combinators_and_boolean_schemas() {
        let s = compile(json!({"anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}]}));
        ok(&s, json!("x"));
        ok(&s, json!(3));
        bad(&s, json!(-1), &[""]);
        let s = compile(json!({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]}));
        ok(&s, json!(1));
        ok(&s, json!(2.5));
        bad(&s, json!(3), &[""]);
        bad(&s, json!(1.5), &[""]);
        let s = compile(json!({"allOf": [{"minimum": 5}, {"multipleOf": 2}]}));
        assert_eq!(paths(&s, json!(3)).len(), 2);
        let s = compile(json!({"not": {"type": "string"}}));
        ok(&s, json!(1));
        bad(&s, json!("x"), &[""]);
        let s = compile(json!({
            "if": {"properties": {"kind": {"const": "n"}}},
            "then": {"properties": {"v": {"type": "number"}}},
            "else": {"properties": {"v": {"type": "string"}}}
        }));
        ok(&s, json!({"kind": "n", "v": 1}));
        ok(&s, json!({"kind": "s", "v": "x"}));
        bad(&s, json!({"kind": "n", "v": "x"}), &["/v"]);
        bad(&s, json!({"kind": "s", "v": 1}), &["/v"]);
        ok(&compile(json!({"then": false, "else": false})), json!(1));

        ok(&compile(json!(true)), json!({"anything": [1, null]}));
        ok(&compile(json!({})), json!("anything"));
        ok(
            &compile(
                json!({"title": "T", "description": "d", "default": 3, "examples": [1],
                "$comment": "c", "readOnly": true,
                "$schema": "http://json-schema.org/draft-07/schema#", "x-custom": 1}),
            ),
            json!("anything"),
        );
        bad(&compile(json!(false)), json!(1), &[""]);
        bad(&compile(json!({"not": {}})), json!(1), &[""]);
        let s = compile(json!({"properties": {"a": false, "b": true}}));
        ok(&s, json!({"b": 1}));
        bad(&s, json!({"a": 1}), &["/a"]);
    }

    #[test]
    fn zod_shapes() {
        // z.number().nullable()
        let s = compile(json!({"type": ["number", "null"]}));
        ok(&s, json!(null));
        bad(&s, json!("x"), &[""]);
        // z.object({ s: z.string().optional().nullable() })
        let s = compile(json!({
            "type": "object",
            "properties": {
                "s": {"anyOf": [{"anyOf": [{"not": {}}, {"type": "string"}]}, {"type": "null"}]}
            },
            "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#"
        }));
        ok(&s, json!({}));
        ok(&s, json!({"s": null}));
        ok(&s, json!({"s": "x"}));
        bad(&s, json!({"s": 1}), &["/s"]);
        // z.discriminatedUnion("ok", [...]) at the root
        let s = compile(json!({
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean", "const": true}, "pid": {"type": "integer"}},
                    "required": ["ok", "pid"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean", "const": false},
                        "reason": {"type": "string", "enum": ["busy", "denied"]}
                    },
                    "required": ["ok", "reason"],
                    "additionalProperties": false
                }
            ],
            "$schema": "http://json-schema.org/draft-07/schema#"
        }));
        ok(&s, json!({"ok": true, "pid": 12}));
        ok(&s, json!({"ok": false, "reason": "busy"}));
        bad(&s, json!({"ok": true, "pid": "12"}), &[""]);
        bad(&s, json!({"ok": false, "reason": "bored"}), &[""]);
        bad(&s, json!([]), &[""]);
    }

    #[test]
    fn is_a_validator_and_cheap_to_clone() {
        use crate::server::Validator;
        fn boxed(v: impl Validator) -> Box<dyn Validator> {
            Box::new(v)
        }
        let s = compile(json!({"type": "object", "required": ["a"]}));
        let v = boxed(s.clone());
        assert!(v.validate(&json!({"a": 1})).is_ok());
        assert_eq!(
            v.validate(&json!({})).unwrap_err(),
            [ValidationIssue::new("", r#"missing required property "a""#)]
        );
        assert!(Arc::ptr_eq(&s.strict, &s.clone().strict));
        assert!(format!("{s:?}").starts_with("SchemaValidator"));
    }

    #[test]
    fn validator_plugs_into_a_service() {
        use crate::server::{Method, Service};
        let schema = compile(json!({
            "type": "object",
            "properties": {"a": {"type": "number"}},
            "required": ["a"],
            "additionalProperties": false
        }));
        let method = Method::new(|p: Value| async move { Ok(p) }).params_validator(schema);
        assert!(Service::builder("svc").add("echo", method).build().is_ok());
    }
}
