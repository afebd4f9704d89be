fn main() {
    // A broken contract fails the build with the error as people read it (what `?` in
    // `main` would print is its `Debug` form).
    if let Err(e) = clamator_codegen::compile_contracts("contracts") {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
