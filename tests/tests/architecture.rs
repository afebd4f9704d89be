//! `docs/architecture.md` is the map of the crates, and this keeps it honest: every source
//! file of each crate is on its crate's table and every file on a table exists; every other
//! file the map names exists too; every feature of a crate's `Cargo.toml` is on its features
//! table (default ones marked `yes`) and in its crate docs, and nothing else is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The crates the map covers, each under a `## <crate>` heading.
const CRATES: [&str; 4] = [
    "clamator-protocol",
    "clamator-redis",
    "clamator-codegen",
    "clamator-cli",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The lines of `doc` under `## <krate>`, up to the next `## ` heading.
fn section<'a>(doc: &'a str, krate: &str) -> Vec<&'a str> {
    let heading = format!("## {krate}");
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading);
    assert!(
        lines.next().is_some(),
        "docs/architecture.md has no `{heading}` section"
    );
    lines.take_while(|l| !l.starts_with("## ")).collect()
}

/// The backticked words of a table row's first cell.
fn first_cell_names(row: &str) -> Vec<String> {
    let cell = row
        .trim()
        .trim_start_matches('|')
        .split('|')
        .next()
        .unwrap_or("");
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The tables of a section: each as its header's first cell and its rows.
fn tables<'a>(lines: &[&'a str]) -> Vec<(String, Vec<&'a str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_table = false;
    for line in lines {
        let row = line.trim();
        if !row.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            let head = row.trim_start_matches('|').split('|').next().unwrap_or("");
            out.push((head.trim().to_owned(), Vec::new()));
            in_table = true;
        } else if !row.starts_with("|---") {
            if let Some((_, rows)) = out.last_mut() {
                rows.push(row);
            }
        }
    }
    out
}

/// Every `.rs` file under `dir`, relative to it, with `/` separators.
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

/// The features of a `Cargo.toml` (`default` aside) and the default ones.
fn features(manifest: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut defaults = BTreeSet::new();
    let mut in_features = false;
    let mut in_default = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') && !in_default {
            in_features = line == "[features]";
            continue;
        }
        if !in_features || line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((key, _)) = line.split_once('=').filter(|_| !in_default) {
            let key = key.trim();
            if key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                if key == "default" {
                    in_default = true;
                } else {
                    all.insert(key.to_owned());
                }
            }
        }
        if in_default {
            defaults.extend(line.split('"').skip(1).step_by(2).map(str::to_owned));
            if line.contains(']') {
                in_default = false;
            }
        }
    }
    (all, defaults)
}

#[test]
fn the_map_lists_every_source_file_and_only_those() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut problems = Vec::new();
    for krate in CRATES {
        let lines = section(&doc, krate);
        let mapped: BTreeSet<String> = tables(&lines)
            .into_iter()
            .filter(|(head, _)| head == "file")
            .flat_map(|(_, rows)| rows.into_iter().flat_map(first_cell_names))
            .collect();
        let src = root().join(krate).join("src");
        let mut actual = BTreeSet::new();
        sources(&src, &src, &mut actual);
        for missing in actual.difference(&mapped) {
            problems.push(format!("{krate}/src/{missing} is not on the map"));
        }
        for stale in mapped.difference(&actual) {
            problems.push(format!(
                "the map lists {krate}/src/{stale}, which does not exist"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/architecture.md is out of date:\n{}",
        problems.join("\n")
    );
}

/// The `.rs` names in backticks anywhere in `text`.
fn named_files(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| t.ends_with(".rs") && !t.contains(' '))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_file_the_map_names_exists() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut files = Vec::new();
    for krate in CRATES {
        let src = root().join(krate).join("src");
        let mut in_crate = BTreeSet::new();
        sources(&src, &src, &mut in_crate);
        files.extend(in_crate.into_iter().map(|f| format!("{krate}/src/{f}")));
    }
    // A name is a path from the repository's root, or a crate file named from its `src/`.
    let stale: Vec<String> = named_files(&doc)
        .into_iter()
        .filter(|n| {
            !root().join(n).is_file() && !files.iter().any(|f| f.ends_with(&format!("/{n}")))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "docs/architecture.md names files that do not exist: {stale:?}"
    );
}

#[test]
fn each_crates_features_are_on_the_map_and_in_its_docs() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut problems = Vec::new();
    for krate in CRATES {
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        let (all, defaults) = features(&manifest);
        let lines = section(&doc, krate);
        let mut listed = BTreeSet::new();
        let mut listed_default = BTreeSet::new();
        for (_, rows) in tables(&lines).into_iter().filter(|(h, _)| h == "feature") {
            for row in rows {
                let names = first_cell_names(row);
                let default = row.split('|').nth(2).is_some_and(|c| c.trim() == "yes");
                for name in names {
                    if default {
                        listed_default.insert(name.clone());
                    }
                    listed.insert(name);
                }
            }
        }
        if listed != all {
            problems.push(format!(
                "{krate}: Cargo.toml has features {all:?}, the map lists {listed:?}"
            ));
        }
        if listed_default != defaults {
            problems.push(format!(
                "{krate}: the default features are {defaults:?}, the map marks {listed_default:?}"
            ));
        }
        let entry = if krate == "clamator-cli" {
            "main.rs"
        } else {
            "lib.rs"
        };
        let mut crate_doc =
            std::fs::read_to_string(root().join(krate).join("src").join(entry)).unwrap();
        // A crate whose docs are its README (`#![doc = include_str!("../README.md")]`).
        if crate_doc.contains(r#"include_str!("../README.md")"#) {
            crate_doc += &std::fs::read_to_string(root().join(krate).join("README.md")).unwrap();
        }
        for feature in &all {
            if !crate_doc.contains(&format!("`{feature}`")) {
                problems.push(format!(
                    "{krate}'s crate docs do not name its feature `{feature}`"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_read_tables_and_manifests() {
    let lines = [
        "| file | what |",
        "|---|---|",
        "| `a.rs`, `b/mod.rs` | x |",
        "",
        "| feature | default | what |",
        "|---|---|---|",
        "| `tls` | yes | y |",
        "| `metrics` | no | z |",
    ];
    let t = tables(&lines);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].0, "file");
    assert_eq!(first_cell_names(t[0].1[0]), ["a.rs", "b/mod.rs"]);
    assert_eq!(t[1].1.len(), 2);
    let (all, defaults) = features(
        "[package]\nname = \"x\"\n\n[features]\n# c\nmetrics = [\"dep:m\"]\nobservability = [\n  \"a\",\n]\ndefault = [\"tls\"]\ntls = []\n\n[dev-dependencies]\nfoo = \"1\"\n",
    );
    assert_eq!(
        all.into_iter().collect::<Vec<_>>(),
        ["metrics", "observability", "tls"]
    );
    assert_eq!(defaults.into_iter().collect::<Vec<_>>(), ["tls"]);
}
