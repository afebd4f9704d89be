//! Unions, or a union on one side: pairing old branches with new ones (by tag value, by
//! type, or by being equivalent) and reporting the branches gained and lost.

use std::collections::BTreeSet;

use serde_json::Value;

use super::normalize::{Branch, Norm};
use super::{Cmp, Effect};

impl Cmp<'_> {
    /// Unions (or a union on one side): branches are paired by tag value, else by type,
    /// else by being equivalent; what cannot be paired is reported as such.
    pub(super) fn compare_union(&mut self, on: &Norm, nn: &Norm, at: &str, depth: usize) {
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
}

fn quoted(value: Option<&str>) -> String {
    Value::String(value.unwrap_or_default().to_owned()).to_string()
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
