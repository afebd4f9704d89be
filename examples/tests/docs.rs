//! The newcomers' map, `docs/architecture.md`, names the library's files as they are: every
//! file it names exists, and every source file of the three library crates and the CLI is on
//! it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const CRATES: [&str; 4] = [
    "clamator-protocol",
    "clamator-redis",
    "clamator-codegen",
    "clamator-cli",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, as a path relative to `base` with `/` separators.
fn sources(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(base).unwrap();
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The `.rs` names in backticks in `text`.
fn named_files(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| t.ends_with(".rs") && !t.contains(' '))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_architecture_map_matches_the_tree() {
    let map = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let named = named_files(&map);
    // Each file as `<crate>/src/<path>`, and as the map mostly names it, `<path>`.
    let mut files: Vec<(String, String)> = Vec::new();
    for krate in CRATES {
        let src = root().join(krate).join("src");
        let mut in_crate = BTreeSet::new();
        sources(&src, &src, &mut in_crate);
        files.extend(
            in_crate
                .into_iter()
                .map(|f| (format!("{krate}/src/{f}"), f)),
        );
    }
    assert!(files.len() > 30, "found only {files:?}");
    let stale: Vec<&String> = named
        .iter()
        .filter(|n| {
            !root().join(n).is_file()
                && !files
                    .iter()
                    .any(|(full, _)| full.ends_with(&format!("/{n}")))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "docs/architecture.md names files that do not exist: {stale:?}"
    );
    let missing: Vec<&String> = files
        .iter()
        .filter(|(full, rel)| !named.contains(full) && !named.contains(rel))
        .map(|(full, _)| full)
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md leaves out: {missing:?}"
    );
}
