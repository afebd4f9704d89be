//! # clamator-codegen
//!
//! Turns clamator contract files (`contracts/<service>.json`: a service, its methods' params
//! and result JSON Schemas, shared `$defs`) into typed Rust: param/result types, a
//! `<Service>Client`, a `<Service>Service` trait, a function that mounts an implementation
//! on a server, and a contract constant with schemas and hashes; for a contract with `events`,
//! the payload types, a typed `<Service>Events` publisher, a `<Service>Subscriber` trait and
//! `<service>_subscriber` to mount one. The same contracts also give
//! Python (pydantic models, a client, an abstract service and the `Contract` the published
//! Python clamator serves) and TypeScript (Zod schemas and types, a client class, a service
//! interface), with the names clamator's own generator uses. Also writes clamator's manifest
//! of schema hashes. Use it from `build.rs`, as prost-build / tonic-build are used:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     clamator_codegen::compile_contracts("contracts")?;
//!     Ok(())
//! }
//! // src/lib.rs:
//! // include!(concat!(env!("OUT_DIR"), "/clamator_contracts.rs"));
//! ```
//!
//! or, to commit the generated code, with [`Builder`] or the `clamator-codegen` command
//! (`clamator-codegen --src contracts --out-rust src/generated [--out-py DIR] [--out-ts DIR]
//! --manifest contracts/manifest.json [--check]`).
//!
//! The API: [`Builder`] (with [`Layout`] and [`OutputFile`]), [`compile_contracts`],
//! [`generate_module`], [`generate_python_module`], [`generate_typescript_module`], [`export`]
//! (contracts from Rust types), [`breaking`] (is a contract change compatible with peers
//! deployed from the old one?) and [`CodegenError`].
//!
//! Inside, a contract goes load → lower → emit → format; every file of the crate, and what
//! it holds, is on [the map of the crates](https://github.com/clamator-rs/clamator-rs/blob/main/docs/architecture.md), which a test keeps in step with the
//! sources.
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `cli` | yes | the `clamator-codegen` binary (clap); a `build.rs` takes the library alone with `default-features = false` |
//!
//! Output is byte-for-byte the same on every machine, rustfmt installed or not. Generated
//! Rust files carry `#![cfg_attr(rustfmt, rustfmt::skip)]`, so `cargo fmt` leaves them as
//! printed; Python and TypeScript are written as text, no formatter involved.

use std::path::{Path, PathBuf};

pub mod breaking;
mod builder;
mod emit;
mod emit_py;
mod emit_ts;
mod error;
pub mod export;
mod format;
mod load;
mod lower;
mod manifest;
mod names;
mod peer;

pub use builder::{Builder, Layout, OutputFile};
pub use error::CodegenError;

/// Generates the Rust module of one contract file: what `--out-rust` writes as
/// `<service>.rs`.
pub fn generate_module(path: impl AsRef<Path>) -> Result<String, CodegenError> {
    let contract = load::load_file(path.as_ref())?;
    emit::generate(&contract)?.module_file()
}

/// Generates the Python module of one contract file: what `--out-py` writes as
/// `<service>.py` (hyphens → underscores), for the published Python clamator packages.
pub fn generate_python_module(path: impl AsRef<Path>) -> Result<String, CodegenError> {
    let contract = load::load_file(path.as_ref())?;
    Ok(emit_py::generate(&contract)?.contents)
}

/// Generates the TypeScript module of one contract file: what `--out-ts` writes as
/// `<service>.ts`: Zod schemas and types, the client class and the service interface.
pub fn generate_typescript_module(path: impl AsRef<Path>) -> Result<String, CodegenError> {
    let contract = load::load_file(path.as_ref())?;
    Ok(emit_ts::generate(&contract)?.contents)
}

/// For `build.rs`: generates `$OUT_DIR/clamator_contracts.rs` from the contracts in `src`
/// and tells cargo to re-run when they change. Include it with
/// `include!(concat!(env!("OUT_DIR"), "/clamator_contracts.rs"));`.
pub fn compile_contracts(src: impl AsRef<Path>) -> Result<(), CodegenError> {
    let src = src.as_ref();
    let out = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            CodegenError::io(
                Path::new("OUT_DIR"),
                std::io::Error::other("OUT_DIR is not set; call this from build.rs"),
            )
        })?;
    #[allow(clippy::print_stdout)]
    {
        println!("cargo:rerun-if-changed={}", src.display());
    }
    Builder::new(src)
        .out_rust(out)
        .layout(Layout::SingleFile)
        .write()?;
    Ok(())
}
