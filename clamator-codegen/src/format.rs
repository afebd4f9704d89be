//! Printing tokens as source, in-process: `syn` parses them, `prettyplease` prints them.
//! No `rustfmt` is involved, so the bytes depend only on the (locked) crate versions, not
//! on the machine. Generated files tell rustfmt to leave them alone
//! (`#![cfg_attr(rustfmt, rustfmt::skip)]`), so `cargo fmt --check` accepts them as printed.
//!
//! The bytes still depend on the printer's version, which a user's lock file picks, so
//! `--check` compares Rust by syntax ([`same_syntax`]): a file printed by another release of
//! the printer is not drift.

use std::path::Path;

use proc_macro2::TokenStream;

use crate::error::CodegenError;

/// `header` (comment lines), a blank line, then `tokens` printed as a file. `origin` names
/// the contract in the error should the tokens not parse (a bug in the emitters).
pub(crate) fn file(
    header: &str,
    tokens: TokenStream,
    origin: &Path,
) -> Result<String, CodegenError> {
    let file: syn::File = syn::parse2(tokens).map_err(|e| CodegenError::Internal {
        path: origin.to_owned(),
        reason: format!("the generated code does not parse: {e}"),
    })?;
    Ok(format!(
        "{header}\n{}",
        space_items(&prettyplease::unparse(&file))
    ))
}

/// Whether `on_disk` and `generated` are the same Rust whatever their layout: both are
/// parsed and printed again by the same printer, which decides every line break, indent and
/// trailing comma itself, so what is left to differ is the code, its doc comments (which are
/// `#[doc]` attributes) and its plain `//` comment lines (compared apart, in order, as the
/// parser drops them). `Err` says which side does not parse, and why.
pub(crate) fn same_syntax(on_disk: &str, generated: &str) -> Result<bool, String> {
    let generated = canonical(generated).map_err(|e| {
        format!("the generated code does not parse: {e} (a bug in clamator-codegen)")
    })?;
    let on_disk = canonical(on_disk).map_err(|e| format!("does not parse as Rust: {e}"))?;
    Ok(on_disk == generated)
}

/// `text` printed again by prettyplease, and its plain comment lines.
fn canonical(text: &str) -> syn::Result<(String, Vec<&str>)> {
    let file = syn::parse_file(text)?;
    let comments = text
        .lines()
        .map(str::trim)
        .filter(|line| is_plain_comment(line))
        .collect();
    Ok((prettyplease::unparse(&file), comments))
}

/// A `//` comment that is not a doc comment (`///`, but not `////`, and `//!` are).
fn is_plain_comment(line: &str) -> bool {
    let doc = (line.starts_with("///") && !line.starts_with("////")) || line.starts_with("//!");
    line.starts_with("//") && !doc
}

/// prettyplease prints items on consecutive lines. This puts a blank line where rustfmt
/// keeps one in hand-written code: after the inner attributes, and between an item that
/// ends (a line ending in `}` or `;`) and the next item at the same depth. Fields and
/// variants, which end in `,`, stay together.
fn space_items(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut prev: Option<&str> = None;
    for line in text.lines() {
        if prev.is_some_and(|prev| blank_between(prev, line)) {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        prev = Some(line);
    }
    out
}

fn blank_between(prev: &str, line: &str) -> bool {
    let indent = |s: &str| s.len() - s.trim_start().len();
    if indent(prev) != indent(line) {
        return false;
    }
    let (prev, line) = (prev.trim(), line.trim());
    let inner = |s: &str| s.starts_with("//!") || s.starts_with("#![");
    if inner(prev) {
        return !inner(line);
    }
    // Declarations stay together: `pub mod a;` above `pub mod b;`.
    let declaration = |s: &str| {
        ["mod ", "pub mod ", "use ", "pub use "]
            .iter()
            .any(|d| s.starts_with(d))
    };
    if declaration(prev) && declaration(line) {
        return false;
    }
    let ends_item = prev.ends_with('}') || prev.ends_with(';');
    let starts_item = [
        "///", "#[", "pub ", "pub(", "fn ", "impl", "const ", "type ", "use ", "mod ",
    ]
    .iter()
    .any(|start| line.starts_with(start));
    ends_item && starts_item
}

#[cfg(test)]
mod tests {
    use super::{is_plain_comment, same_syntax, space_items};

    #[test]
    fn plain_comments_are_not_doc_comments() {
        for (line, plain) in [
            ("// @generated", true),
            ("//// four slashes", true),
            ("//", true),
            ("/// Doc.", false),
            ("//! Inner doc.", false),
            ("pub a: i64,", false),
        ] {
            assert_eq!(is_plain_comment(line), plain, "{line}");
        }
    }

    #[test]
    fn syntax_ignores_layout_and_keeps_the_rest() {
        let printed = "// head\n\n/// A.\npub struct A {\n    pub x: i64,\n}\n";
        let same = "// head\n/// A.\npub struct A { pub x: i64 }\n";
        assert_eq!(same_syntax(same, printed), Ok(true));
        for changed in [
            "// head\n/// B.\npub struct A { pub x: i64 }\n",
            "// other\n/// A.\npub struct A { pub x: i64 }\n",
            "/// A.\npub struct A { pub x: i64 }\n",
            "// head\n/// A.\npub struct A { pub y: i64 }\n",
        ] {
            assert_eq!(same_syntax(changed, printed), Ok(false), "{changed}");
        }
        let unparsable = same_syntax("pub struct {", printed).unwrap_err();
        assert!(
            unparsable.starts_with("does not parse as Rust: "),
            "{unparsable}"
        );
    }

    #[test]
    fn spaces_items_but_not_fields_or_statements() {
        let printed = "\
//! Doc.
#![cfg_attr(rustfmt, rustfmt::skip)]
use a as b;
pub mod c;
pub mod d;
/// A.
pub struct A {
    /// X.
    pub x: i64,
    /// Y.
    pub y: i64,
}
impl A {
    /// New.
    pub fn new() -> Self {
        let a = 1;
        Self { x: a, y: a }
    }
    /// Get.
    pub fn get(&self) -> i64 {
        self.x
    }
}
fn f() -> bool {
    true
}
";
        let spaced = "\
//! Doc.
#![cfg_attr(rustfmt, rustfmt::skip)]

use a as b;
pub mod c;
pub mod d;

/// A.
pub struct A {
    /// X.
    pub x: i64,
    /// Y.
    pub y: i64,
}

impl A {
    /// New.
    pub fn new() -> Self {
        let a = 1;
        Self { x: a, y: a }
    }

    /// Get.
    pub fn get(&self) -> i64 {
        self.x
    }
}

fn f() -> bool {
    true
}
";
        assert_eq!(space_items(printed), spaced);
    }
}
