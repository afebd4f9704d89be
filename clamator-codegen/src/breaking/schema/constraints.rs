//! The values a scalar allows: `enum` and `const`, lengths and counts, numeric bounds,
//! `multipleOf`, `pattern` and `format`.

use serde_json::{Map, Value};

use super::{Cmp, Effect};

impl Cmp<'_> {
    /// `enum` and `const`: the values allowed.
    pub(super) fn values(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
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
    pub(super) fn count(
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
    pub(super) fn bound(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        at: &str,
        lower: bool,
    ) {
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

    pub(super) fn multiple_of(&mut self, o: &Map<String, Value>, n: &Map<String, Value>, at: &str) {
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
    pub(super) fn text(
        &mut self,
        o: &Map<String, Value>,
        n: &Map<String, Value>,
        at: &str,
        key: &str,
    ) {
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

fn is_multiple(of: f64, base: f64) -> bool {
    if base == 0.0 {
        return false;
    }
    let ratio = of / base;
    (ratio - ratio.round()).abs() < 1e-9
}
