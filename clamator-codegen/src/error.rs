//! [`CodegenError`].

use std::path::{Path, PathBuf};

/// What can go wrong generating code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodegenError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A contract breaks the rules.
    #[error("{}: at {}: {reason}", path.display(), if pointer.is_empty() { "the root" } else { pointer })]
    Contract {
        /// The contract file.
        path: PathBuf,
        /// JSON Pointer to the offending part of the file.
        pointer: String,
        /// What is wrong.
        reason: String,
    },
    /// `--check`: what is on disk differs from what the contracts generate (Rust files by
    /// syntax, the others byte for byte).
    #[error("{}", drift_message(files, unparsable))]
    Drift {
        /// The files that differ or are missing.
        files: Vec<PathBuf>,
        /// Those of `files` that are Rust and do not parse, each with why (the parser's
        /// message): such a file cannot be compared by syntax, so it counts as out of date.
        unparsable: Vec<(PathBuf, String)>,
    },
    /// The generator made Rust that does not parse: a bug in clamator-codegen, not in the
    /// contract.
    #[error("{}: {reason} (a bug in clamator-codegen; please report it with this contract)", path.display())]
    Internal {
        /// The contract file being generated.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The message of [`CodegenError::Drift`]: the files, then why each unparsable one is listed.
fn drift_message(files: &[PathBuf], unparsable: &[(PathBuf, String)]) -> String {
    let mut message = format!(
        "generated files are out of date (re-run clamator-codegen): {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (file, why) in unparsable {
        message.push_str(&format!("; {} {why}", file.display()));
    }
    message
}

impl CodegenError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn contract(path: &Path, pointer: &str, reason: String) -> Self {
        Self::Contract {
            path: path.to_owned(),
            pointer: pointer.to_owned(),
            reason,
        }
    }
}
