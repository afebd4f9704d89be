//! The programs the test steps need from the machine, and the one-line stop when one is
//! missing.
//!
//! The steps of the test ladder (README, CONTRIBUTING.md): step 1 (`cargo test`) needs none;
//! step 2 (`--features redis-tests`) needs a Redis server and its command-line client; step 3
//! (`--features full-tests`) needs the Python and TypeScript peers' tools too. This file is
//! also compiled into the test kit's build script (which has no dependencies), so that a
//! step stops before its first test is built when a tool is missing; the launchers call
//! [`require`] again at run time, for a tool removed after the build.

use std::path::Path;

/// A program a test step runs, and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The command, as looked up on `PATH`.
    pub command: &'static str,
    /// What provides it (a Debian package, with a hint where it is not in the main archive).
    pub package: &'static str,
    /// The first step that needs it: 2 (`redis-tests`) or 3 (`full-tests`).
    pub step: u8,
}

/// Every tool of steps 2 and 3. A Valkey pass (`CLAMATOR_TEST_SERVER=valkey-server`) needs
/// `valkey-server` and `valkey-cli` instead of Redis's, checked where they are started.
pub const TOOLS: &[Tool] = &[
    Tool {
        command: "redis-server",
        package: "Debian package redis-server",
        step: 2,
    },
    Tool {
        command: "redis-cli",
        package: "Debian package redis-tools",
        step: 2,
    },
    Tool {
        command: "openssl",
        package: "Debian package openssl (the TLS tests make their certificates with it)",
        step: 2,
    },
    Tool {
        command: "python3",
        package: "Debian packages python3 and python3-venv (Python 3.9+)",
        step: 3,
    },
    Tool {
        command: "node",
        package: "Debian package nodejs (Node.js 18+)",
        step: 3,
    },
    Tool {
        command: "npm",
        package: "Debian package npm",
        step: 3,
    },
    Tool {
        command: "chromium",
        package: "Debian package chromium (the dashboard's browser tests)",
        step: 3,
    },
    Tool {
        command: "chromedriver",
        package: "Debian package chromium-driver (the dashboard's browser tests)",
        step: 3,
    },
];

/// What provides `command`, for the message of a missing tool.
pub fn package_of(command: &str) -> String {
    TOOLS
        .iter()
        .find(|t| t.command == command)
        .map(|t| t.package.to_owned())
        .unwrap_or_else(|| match command {
            "valkey-server" | "valkey-cli" => {
                "Debian package valkey-server (Debian 12: from bookworm-backports)".to_owned()
            }
            other => format!("a package that provides {other}"),
        })
}

/// Whether `command` is an executable file on `path` (a `PATH`-style list).
pub fn on_path(command: &str, path: &str) -> bool {
    if command.contains('/') {
        return is_executable(Path::new(command));
    }
    std::env::split_paths(path).any(|dir| is_executable(&dir.join(command)))
}

fn is_executable(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        file.is_file()
    }
}

/// The one line that stops a step: which tool is missing, what provides it, and the step.
pub fn missing_line(command: &str, step: u8) -> String {
    let feature = if step >= 3 {
        "full-tests"
    } else {
        "redis-tests"
    };
    format!(
        "clamator tests: `{command}` is not on PATH; install the {} (step {step} of the test \
         ladder, `--features {feature}`; CONTRIBUTING.md lists what each step needs)",
        package_of(command)
    )
}

/// The first tool of `step` and the steps below it that `path` lacks.
pub fn first_missing(step: u8, path: &str) -> Option<&'static Tool> {
    TOOLS
        .iter()
        .find(|t| t.step <= step && !on_path(t.command, path))
}

/// Stops the test process with [`missing_line`] when `command` is not on `PATH`: one line
/// naming the tool, not a panic deep inside a test (and not one per test).
pub fn require(command: &str, step: u8) {
    let path = std::env::var("PATH").unwrap_or_default();
    if !on_path(command, &path) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}", missing_line(command, step));
        }
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_is_found_on_the_path_and_not_elsewhere() {
        let dir = std::env::temp_dir().join(format!("clamator-tools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tool = dir.join("redis-server");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.to_string_lossy().into_owned();
        assert!(on_path("redis-server", &path));
        assert!(!on_path("redis-cli", &path));
        assert_eq!(
            first_missing(2, &path).map(|t| t.command),
            Some("redis-cli")
        );
        assert_eq!(first_missing(1, &path), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_line_names_the_tool_its_package_and_the_step() {
        let line = missing_line("node", 3);
        assert!(line.contains("`node`"), "{line}");
        assert!(line.contains("nodejs"), "{line}");
        assert!(line.contains("full-tests"), "{line}");
        assert!(!line.contains('\n'));
        assert!(missing_line("valkey-server", 2).contains("bookworm-backports"));
    }
}
