//! Cross-language interop suite against the published Python clamator
//! (`clamator-protocol` / `clamator-over-redis` 0.1.9, pinned in `py/requirements.txt`,
//! installed into `target/interop-venv` when missing). A test of `clamator-testkit`, whose
//! binaries it drives: `cargo test -p clamator-testkit --test interop`.
//!
//! Drivers speak clamator's JSON-over-stdio runner protocol: the test kit's `fault-server`
//! (the example arith server, plus `--faulty`) and `py/server.py` print `READY`,
//! `{"pinged":…}` per ping and `HANDLED:<n>` at SIGTERM; the test kit's `interop-client` and
//! `py/client.py` read the calls on stdin and print `{"results":[…]}`. Every scenario runs in
//! each direction (Rust server ← Python client, Python server ← Rust client), pools mix both
//! languages in one consumer group, and each run uses its own key prefix and deletes its keys
//! afterwards.
//!
//! [`harness`] holds what the scenarios share, above all [`harness::Trial::exchange`]: start
//! a server, make the calls, stop it, and hand back the results and the handler count. The
//! scenarios, by subject: [`calls`], [`errors`], [`pools`], [`recovery`], [`evolution`],
//! [`deployments`] and [`generated`] (the Python that clamator-codegen writes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod calls;
mod deployments;
mod errors;
mod evolution;
mod generated;
mod harness;
mod pools;
mod recovery;
