//! Generates the contracts the way a user's `build.rs` would, so the tests cover that path.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    clamator_codegen::compile_contracts("../contracts")?;
    Ok(())
}
