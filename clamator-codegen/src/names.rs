//! Rust identifiers for the names in a contract: wire keys, schema names, service and method
//! names. Every function returns a valid identifier (raw, `r#type`, for keywords), so the
//! emitters can build tokens from them without checking.

use heck::{ToPascalCase, ToShoutySnakeCase, ToSnakeCase};

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// `s` as an identifier: keywords become raw identifiers, except those that cannot be
/// (`self`, `Self`, `super`, `crate`), which get a `_`.
fn unkeyword(mut s: String) -> String {
    if matches!(s.as_str(), "self" | "Self" | "super" | "crate") {
        s.push('_');
    } else if KEYWORDS.contains(&s.as_str()) {
        s = format!("r#{s}");
    }
    s
}

/// The Rust field name for a wire key: snake_case, made a valid identifier.
pub(crate) fn field_ident(wire: &str) -> String {
    let mut s: String = wire
        .to_snake_case()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // `_` alone is not a name; a leading digit is not allowed.
    if s.chars().all(|c| c == '_') || s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("f_{s}");
    }
    unkeyword(s)
}

/// The Rust method names for a contract method: the call and its `_with` variant.
/// `new` is taken by the client's constructor, so method `new` becomes `call_new`.
pub(crate) fn method_idents(method: &str) -> (String, String) {
    let ident = match field_ident(method) {
        ident if ident == "new" => "call_new".to_owned(),
        ident => ident,
    };
    let with = unkeyword(format!("{}_with", ident.trim_start_matches("r#")));
    (ident, with)
}

/// The module of a service: `order_service` for `order-service`.
pub(crate) fn module_ident(service: &str) -> String {
    unkeyword(service.replace('-', "_"))
}

/// A SHOUTY_SNAKE constant name prefix: `SLOW_ADD` for `slowAdd`.
pub(crate) fn const_ident(s: &str) -> String {
    let mut out: String = s
        .to_shouty_snake_case()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if out.chars().all(|c| c == '_') || out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("C_{out}");
    }
    out
}

/// True for a name that is a Rust type or variant name as it is: `^[A-Z][A-Za-z0-9]*$`, and
/// not `Self`.
pub(crate) fn is_type_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && s != "Self"
}

/// A PascalCase type name.
pub(crate) fn type_ident(s: &str) -> String {
    pascal(s, "T")
}

/// A PascalCase enum variant name for a wire value.
pub(crate) fn variant_ident(value: &str) -> String {
    pascal(value, "V")
}

fn pascal(s: &str, prefix: &str) -> String {
    let mut out: String = s
        .to_pascal_case()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("{prefix}{out}");
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// Orders names the way JavaScript's `localeCompare` does for clamator's names (ICU root
/// collation): letters compare case-insensitively first, `_` before `-` before digits before
/// letters, shorter prefixes first, and on a full tie lowercase before uppercase.
pub(crate) fn locale_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn primary(c: char) -> (u8, char) {
        match c {
            '_' => (0, c),
            '-' => (1, c),
            '0'..='9' => (2, c),
            c if c.is_alphabetic() => (3, c.to_ascii_lowercase()),
            c => (4, c),
        }
    }
    let pa = a.chars().map(primary);
    let pb = b.chars().map(primary);
    pa.cmp(pb).then_with(|| {
        // Tertiary: lowercase sorts before uppercase.
        let ta = a.chars().map(|c| c.is_uppercase());
        let tb = b.chars().map(|c| c.is_uppercase());
        ta.cmp(tb)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers() {
        assert_eq!(field_ident("sleepMs"), "sleep_ms");
        assert_eq!(field_ident("type"), "r#type");
        assert_eq!(field_ident("self"), "self_");
        assert_eq!(field_ident("2x"), "f_2x");
        assert_eq!(field_ident("é"), "f__");
        assert_eq!(field_ident(""), "f_");
        assert_eq!(
            method_idents("new"),
            ("call_new".into(), "call_new_with".into())
        );
        assert_eq!(method_idents("type"), ("r#type".into(), "type_with".into()));
        assert_eq!(
            method_idents("slowAdd"),
            ("slow_add".into(), "slow_add_with".into())
        );
        assert_eq!(module_ident("order-service"), "order_service");
        assert_eq!(module_ident("match"), "r#match");
        assert_eq!(const_ident("echoText"), "ECHO_TEXT");
        assert_eq!(type_ident("self"), "Self_");
        assert_eq!(type_ident("1st"), "T1st");
        assert_eq!(variant_ident("out-of-range"), "OutOfRange");
    }
}
