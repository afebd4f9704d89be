// The crate docs are the README, so that docs.rs and crates.io show the same guide.
#![doc = include_str!("../README.md")]

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
