//! The published Python clamator as a peer for tests and benchmarks: a venv under
//! `target/interop-venv` with the packages pinned in `tests/interop/py/requirements.txt`,
//! created on first use, and the driver scripts next to that file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's root directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the venv's python is (whether or not it exists yet).
pub fn venv_python() -> PathBuf {
    root().join("target/interop-venv/bin/python")
}

/// A driver script of `tests/interop/py/` (`client.py`, `server.py`, …).
pub fn driver(name: &str) -> PathBuf {
    root().join("tests/interop/py").join(name)
}

/// The venv's python, after creating the venv and installing the pinned packages when they
/// are missing or the pins changed. Done once per process; an error says what failed
/// (no `python3 -m venv`, no network for pip, …).
pub fn python() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(ensure_venv).clone()
}

fn ensure_venv() -> Result<PathBuf, String> {
    let py = venv_python();
    let venv = root().join("target/interop-venv");
    let requirements = root().join("tests/interop/py/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let marker = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && py.exists() {
        return Ok(py);
    }
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    if !py.exists() {
        crate::tools::require("python3", 3);
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv (Debian/Ubuntu: apt-get install python3-venv)",
        )?;
    }
    run(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install of the pinned Python clamator packages",
    )?;
    std::fs::write(&marker, wanted).map_err(|e| e.to_string())?;
    Ok(py)
}
