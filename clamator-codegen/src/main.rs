//! `clamator-codegen --src <dir> --out-rust <dir> [--manifest <file>] [--check]`
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clamator_codegen::Builder;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Generate typed Rust clients and service traits from clamator contract files"
)]
struct Args {
    /// Directory of contract files (`<service>.json`).
    #[arg(long)]
    src: PathBuf,
    /// Directory to write Rust modules into (`<service>.rs` and `mod.rs`).
    #[arg(long)]
    out_rust: Option<PathBuf>,
    /// Write clamator's manifest of schema hashes here.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Write nothing; exit 1, naming the files, if what is on disk is out of date.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = Builder::new(&args.src);
    if let Some(dir) = &args.out_rust {
        builder = builder.out_rust(dir);
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
