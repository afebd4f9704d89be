//! A program under test as a child process: killed when the test ends, however it ends, and
//! started only once it printed `READY`.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// A child process killed (and reaped) on drop, so an assertion that fails first leaves no
/// server behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `command` with stdout and stderr piped and waits up to 20 s for its first line,
/// which must be `READY`; returns the process and the rest of its stdout. Panics (it is for
/// tests) when it cannot start, prints something else, or says nothing in time.
#[allow(clippy::panic)] // a test helper: failing the test is how it reports
pub fn start_ready(command: &mut Command) -> (KillOnDrop, Lines<BufReader<ChildStdout>>) {
    let what = command.get_program().to_string_lossy().into_owned();
    let mut child = KillOnDrop(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}")),
    );
    let Some(stdout) = child.0.stdout.take() else {
        panic!("{what} has no stdout");
    };
    let mut lines = BufReader::new(stdout).lines();
    // Read on a thread, so a program that never gets ready fails the test instead of hanging
    // it (the thread ends when the program is killed and its stdout closes).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let first = lines.next();
        let _ = tx.send((first, lines));
    });
    let Ok((first, lines)) = rx.recv_timeout(Duration::from_secs(20)) else {
        panic!("{what} printed no READY within 20 s");
    };
    match first {
        Some(Ok(line)) if line == "READY" => (child, lines),
        other => panic!("{what} printed {other:?} instead of READY"),
    }
}
