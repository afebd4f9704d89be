//! `clamator-codegen --src <dir> [--out-rust <dir>] [--out-py <dir>] [--out-ts <dir>]
//! [--manifest <file>] [--check]`, or
//! `clamator-codegen --src <dir> --breaking-against <old dir>` to check a change for
//! compatibility (exit 0 compatible, 1 breaking, 2 unreadable input).
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clamator_codegen::{breaking, Builder};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Generate typed Rust, Python and TypeScript clients and services from clamator contract files"
)]
struct Args {
    /// Directory of contract files (`<service>.json`); with `--breaking-against`, also one
    /// contract file.
    #[arg(long)]
    src: PathBuf,
    /// Directory to write Rust modules into (`<service>.rs` and `mod.rs`).
    #[arg(long)]
    out_rust: Option<PathBuf>,
    /// Directory to write Python modules into (`<service>.py`, for the Python clamator
    /// packages).
    #[arg(long)]
    out_py: Option<PathBuf>,
    /// Directory to write TypeScript modules into (`<service>.ts`: Zod schemas, the client
    /// class and the service interface).
    #[arg(long)]
    out_ts: Option<PathBuf>,
    /// Write clamator's manifest of schema hashes here.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Write nothing; exit 1, naming the files, if what is on disk is out of date. Rust
    /// files are compared by syntax (not line breaks or indentation), the others byte for
    /// byte.
    #[arg(long)]
    check: bool,
    /// Compare `--src` with these old contracts (a directory, one contract file, or a
    /// manifest, which tells less) and list what changed; exit 1 if anything breaks a peer
    /// deployed from them, 2 if either side cannot be read. Writes nothing, so it takes no
    /// other option.
    #[arg(long, value_name = "OLD", conflicts_with_all = ["out_rust", "out_py", "out_ts", "manifest", "check"])]
    breaking_against: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(old) = &args.breaking_against {
        return check_breaking(old, &args.src);
    }
    let mut builder = Builder::new(&args.src);
    if let Some(dir) = &args.out_rust {
        builder = builder.out_rust(dir);
    }
    if let Some(dir) = &args.out_py {
        builder = builder.out_py(dir);
    }
    if let Some(dir) = &args.out_ts {
        builder = builder.out_ts(dir);
    }
    if let Some(path) = &args.manifest {
        builder = builder.manifest(path);
    }
    let result = if args.check {
        builder.check().map(|()| Vec::new())
    } else {
        builder.write()
    };
    match result {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("clamator-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--breaking-against`: exit 2 (as clap does for bad usage) when input cannot be read, so
/// CI can tell a broken contract from a breaking change.
fn check_breaking(old: &Path, new: &Path) -> ExitCode {
    if breaking::is_manifest(old) {
        eprintln!(
            "clamator-codegen: note: {} is a manifest, which holds only schema hashes: removed \
             methods and services are found, but a changed schema cannot be classified and is \
             treated as breaking; pass the old contracts directory for the full check",
            old.display()
        );
    }
    match breaking::breaking_changes(old, new) {
        Ok(changes) => {
            for change in &changes {
                println!("{change}");
            }
            println!("{}", breaking::summary(&changes));
            if changes.iter().any(|c| c.breaking) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("clamator-codegen: {e}");
            ExitCode::from(2)
        }
    }
}
