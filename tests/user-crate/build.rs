fn main() -> Result<(), Box<dyn std::error::Error>> {
    clamator_codegen::compile_contracts("contracts")?;
    Ok(())
}
