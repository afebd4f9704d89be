//! Stops a step of the test ladder before its tests are built when the machine lacks a tool
//! the step needs, with one line naming the tool and its package (the test kit is built
//! before every suite that starts a server or a peer).

#[path = "src/tools.rs"]
#[allow(dead_code, unreachable_pub)]
mod tools;

fn main() {
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-changed=src/tools.rs");
    let step = if std::env::var_os("CARGO_FEATURE_FULL_TESTS").is_some() {
        3
    } else if std::env::var_os("CARGO_FEATURE_REDIS_TESTS").is_some() {
        2
    } else {
        return;
    };
    let path = std::env::var("PATH").unwrap_or_default();
    if let Some(tool) = tools::first_missing(step, &path) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}", tools::missing_line(tool.command, step));
        }
        std::process::exit(1);
    }
}
