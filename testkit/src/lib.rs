//! # clamator-testkit
//!
//! What the project's tests share, kept apart from the examples users copy:
//!
//! * [`local_redis`]: a private `redis-server` (or `$CLAMATOR_TEST_SERVER`, such as
//!   `valkey-server`) on a free loopback port, plain or TLS, that can be paused, killed and
//!   restarted; [`local_cluster`]: a private Redis Cluster or Sentinel deployment of them.
//! * [`python_peer`]: the published Python clamator in a venv under `target/`, and the driver
//!   scripts of `tests/interop/py/`.
//! * [`tools`]: what each step of the test ladder needs from the machine, and the one-line
//!   stop (naming the tool and its package) when it is missing.
//! * [`faulty`]: a service whose handlers misbehave on purpose.
//! * [`process`]: a program under test as a child process, started once it says `READY`,
//!   and every wait on one (its end, its output, its next line) bounded.
//! * Binaries: `fault-server`, the example arith server plus the test-only flags (`--faulty`,
//!   `--fault-abort-after-reply-once`, and `--subscribe` with
//!   `--fault-abort-before-event-ack-once` for an event subscriber; the only user of
//!   clamator-redis's `fault-injection` feature), and `interop-client`, the Rust client
//!   driver of the interop suite.
//!
//! Its own tests are the interop suite (`tests/interop/`, test `interop`) and the crash tests
//! of server and subscriber processes (`tests/crashes.rs`), both of which drive those
//! binaries.

pub mod faulty;
pub mod local_cluster;
pub mod local_redis;
pub mod process;
pub mod python_peer;
pub mod tools;
