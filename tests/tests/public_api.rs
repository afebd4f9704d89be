//! The public API of each library crate, pinned: every `pub` item (with its signature),
//! public field, variant and method, and every `pub use`, listed per module and compared
//! with the committed `tests/public-api/<crate>.txt`. A change to the API is then a visible
//! diff in review. After an intended change, write the files again with
//! `CLAMATOR_BLESS=1 cargo test -p clamator-tests --test public_api`.
//!
//! Read from the sources with `syn`, so it needs no nightly rustdoc. `pub` items in private
//! modules count too: the workspace's `unreachable_pub` lint keeps every `pub` item
//! reachable, so a `pub` item is part of the API. `pub(crate)` and narrower are not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quote::ToTokens;
use syn::{Fields, ImplItem, Item, Visibility};

/// The library crates whose API is pinned.
const CRATES: [&str; 3] = ["clamator-protocol", "clamator-redis", "clamator-codegen"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

/// Tokens as one line, the way `quote` prints them.
fn text(tokens: &impl ToTokens) -> String {
    tokens.to_token_stream().to_string()
}

/// The `#[cfg(…)]` an item carries, as a prefix (features change the API).
fn cfg(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .map(|a| format!("{} ", text(a)))
        .collect()
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && text(a).contains("test"))
}

/// Lists the public API of the module in `file` (module path `path`), and of the modules it
/// declares, into `out`.
fn walk(file: &Path, path: &str, out: &mut Vec<String>) {
    let source = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let parsed =
        syn::parse_file(&source).unwrap_or_else(|e| panic!("cannot parse {}: {e}", file.display()));
    let dir = if file.ends_with("lib.rs") || file.ends_with("mod.rs") {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    items(&parsed.items, path, &dir, out);
}

fn items(list: &[Item], path: &str, dir: &Path, out: &mut Vec<String>) {
    for item in list {
        let line = |out: &mut Vec<String>, what: String| out.push(format!("{path}: {what}"));
        match item {
            Item::Mod(m) if !is_test(&m.attrs) => {
                let name = m.ident.to_string();
                let sub = format!("{path}::{name}");
                if is_pub(&m.vis) {
                    line(out, format!("{}pub mod {name}", cfg(&m.attrs)));
                }
                match &m.content {
                    Some((_, inner)) => items(inner, &sub, &dir.join(&name), out),
                    None => {
                        // `#[path = "…"]` names the file beside this one.
                        let named = m.attrs.iter().find_map(|a| match &a.meta {
                            syn::Meta::NameValue(nv) if nv.path.is_ident("path") => {
                                match &nv.value {
                                    syn::Expr::Lit(syn::ExprLit {
                                        lit: syn::Lit::Str(s),
                                        ..
                                    }) => Some(s.value()),
                                    _ => None,
                                }
                            }
                            _ => None,
                        });
                        let flat = dir.join(format!("{name}.rs"));
                        let nested = dir.join(&name).join("mod.rs");
                        let file = match named {
                            Some(file) => dir.join(file),
                            None if flat.exists() => flat,
                            None => nested,
                        };
                        walk(&file, &sub, out);
                    }
                }
            }
            Item::Use(u) if is_pub(&u.vis) => line(out, format!("{}{}", cfg(&u.attrs), text(u))),
            Item::Fn(f) if is_pub(&f.vis) => {
                line(out, format!("{}pub {}", cfg(&f.attrs), text(&f.sig)))
            }
            Item::Const(c) if is_pub(&c.vis) => line(
                out,
                format!("{}pub const {}: {}", cfg(&c.attrs), c.ident, text(&c.ty)),
            ),
            Item::Static(s) if is_pub(&s.vis) => line(
                out,
                format!("{}pub static {}: {}", cfg(&s.attrs), s.ident, text(&s.ty)),
            ),
            Item::Type(t) if is_pub(&t.vis) => line(
                out,
                format!(
                    "{}pub type {}{} = {}",
                    cfg(&t.attrs),
                    t.ident,
                    text(&t.generics),
                    text(&t.ty)
                ),
            ),
            Item::Trait(t) if is_pub(&t.vis) => {
                line(
                    out,
                    format!(
                        "{}pub trait {}{}",
                        cfg(&t.attrs),
                        t.ident,
                        text(&t.generics)
                    ),
                );
                for i in &t.items {
                    if let syn::TraitItem::Fn(f) = i {
                        line(out, format!("  trait {}: {}", t.ident, text(&f.sig)));
                    }
                }
            }
            Item::Struct(s) if is_pub(&s.vis) => {
                let name = format!("{}{}", s.ident, text(&s.generics));
                line(out, format!("{}pub struct {name}", cfg(&s.attrs)));
                if let Fields::Named(fields) = &s.fields {
                    for f in fields.named.iter().filter(|f| is_pub(&f.vis)) {
                        let field = f
                            .ident
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        line(out, format!("  field {}.{field}: {}", s.ident, text(&f.ty)));
                    }
                }
            }
            Item::Enum(e) if is_pub(&e.vis) => {
                line(
                    out,
                    format!("{}pub enum {}{}", cfg(&e.attrs), e.ident, text(&e.generics)),
                );
                for v in &e.variants {
                    line(
                        out,
                        format!("  variant {}::{}{}", e.ident, v.ident, text(&v.fields)),
                    );
                }
            }
            Item::Impl(i) if !is_test(&i.attrs) => {
                let of = match &i.trait_ {
                    Some((t, _)) => format!("{} for {}", text(t), text(&i.self_ty)),
                    None => text(&i.self_ty),
                };
                for member in &i.items {
                    match member {
                        // A trait impl's methods are the trait's: listed once, with the impl.
                        ImplItem::Fn(f) if is_pub(&f.vis) && i.trait_.is_none() => line(
                            out,
                            format!("  impl {of}: {}{}", cfg(&f.attrs), text(&f.sig)),
                        ),
                        ImplItem::Const(c) if is_pub(&c.vis) => line(
                            out,
                            format!("  impl {of}: const {}: {}", c.ident, text(&c.ty)),
                        ),
                        ImplItem::Macro(m) => {
                            line(out, format!("  impl {of}: macro {}!", text(&m.mac.path)));
                        }
                        _ => {}
                    }
                }
                if i.trait_.is_some() {
                    line(out, format!("{}impl {of}", cfg(&i.attrs)));
                }
            }
            Item::Macro(m)
                if m.ident.is_some()
                    && m.attrs.iter().any(|a| a.path().is_ident("macro_export")) =>
            {
                line(out, format!("macro_rules! {}", text(&m.ident)));
            }
            _ => {}
        }
    }
}

/// The public API of one crate, one line per item, sorted for stable diffs.
fn api(krate: &str) -> String {
    let lib = root().join(krate).join("src/lib.rs");
    let mut lines = Vec::new();
    walk(&lib, &krate.replace('-', "_"), &mut lines);
    // A trait implemented for a crate-private type is not API.
    let public: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| {
            let (_, item) = l.split_once(": ")?;
            let rest = item
                .rsplit_once("pub struct ")
                .or_else(|| item.rsplit_once("pub enum "))?
                .1;
            Some(rest.split([' ', '<']).next()?.to_owned())
        })
        .collect();
    lines.retain(|l| match l.split_once(" for ") {
        Some((head, ty)) if head.contains(": impl ") || head.contains(":   impl ") => {
            let name = ty.split([' ', '<']).next().unwrap_or("");
            public.contains(name) || !name.chars().next().is_some_and(char::is_uppercase)
        }
        _ => true,
    });
    lines.sort();
    lines.dedup();
    let mut out = format!(
        "# The public API of {krate}, checked by tests/tests/public_api.rs.\n\
         # After an intended change: CLAMATOR_BLESS=1 cargo test -p clamator-tests --test public_api\n"
    );
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    out
}

#[test]
fn the_public_api_of_each_library_crate_matches_its_committed_list() {
    let bless = std::env::var_os("CLAMATOR_BLESS").is_some();
    let mut changed = Vec::new();
    for krate in CRATES {
        let file = root().join("tests/public-api").join(format!("{krate}.txt"));
        let now = api(krate);
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        if now == committed {
            continue;
        }
        if bless {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &now).unwrap();
            continue;
        }
        let old: BTreeSet<&str> = committed.lines().collect();
        let new: BTreeSet<&str> = now.lines().collect();
        let mut diff = String::new();
        for gone in old.difference(&new) {
            let _ = writeln!(diff, "- {gone}");
        }
        for added in new.difference(&old) {
            let _ = writeln!(diff, "+ {added}");
        }
        changed.push(format!("{krate} ({}):\n{diff}", file.display()));
    }
    assert!(
        changed.is_empty(),
        "the public API changed; if intended, run \
         `CLAMATOR_BLESS=1 cargo test -p clamator-tests --test public_api`, review the diff \
         and note the change in CHANGELOG.md:\n{}",
        changed.join("\n")
    );
}

#[test]
fn the_lister_sees_items_methods_fields_and_reexports() {
    let file: syn::File = syn::parse_quote! {
        pub use inner::Thing;
        mod inner {
            pub struct Thing { pub a: u8, b: u8 }
            impl Thing {
                pub fn new(a: u8) -> Self { Self { a, b: 0 } }
                pub(crate) fn hidden(&self) {}
            }
            pub(crate) struct Private;
        }
        pub enum Kind { A, B(u8) }
        #[cfg(test)]
        mod tests { pub fn t() {} }
    };
    let mut out = Vec::new();
    items(&file.items, "k", Path::new("/nonexistent"), &mut out);
    let out = out.join("\n");
    for want in [
        "k: pub use inner :: Thing ;",
        "k::inner: pub struct Thing",
        "k::inner:   field Thing.a: u8",
        "k::inner:   impl Thing: fn new (a : u8) -> Self",
        "k:   variant Kind::B(u8)",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    for never in ["hidden", "Private", "field Thing.b", "fn t"] {
        assert!(!out.contains(never), "{never:?} listed in:\n{out}");
    }
}
