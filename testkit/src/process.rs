//! A program under test as a child process: killed when the test ends, however it ends, and
//! started only once it printed `READY`; and every wait on one bounded (its end, its output,
//! its next line), so a program that hangs fails the test instead of hanging it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// The lines a program prints, read on a thread of their own (which also keeps the pipe
/// drained), so that each wait for the next one is bounded.
#[derive(Debug)]
pub struct LineReader {
    lines: mpsc::Receiver<io::Result<String>>,
}

impl LineReader {
    /// Reads `from` line by line until its end.
    pub fn new(from: impl Read + Send + 'static) -> Self {
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { lines }
    }

    /// The next line; `None` at the end of the output; an error when none came within
    /// `limit`.
    pub fn next_within(&self, limit: Duration) -> io::Result<Option<String>> {
        match self.lines.recv_timeout(limit) {
            Ok(line) => line.map(Some),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no line within {limit:?}"),
            )),
        }
    }
}

/// Spawns `command` with stdout and stderr piped and waits up to 20 s for its first line,
/// which must be `READY`; returns the process and the rest of its stdout. Panics (it is for
/// tests) when it cannot start, prints something else, or says nothing in time.
#[allow(clippy::panic)] // a test helper: failing the test is how it reports
pub fn start_ready(command: &mut Command) -> (KillOnDrop, LineReader) {
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
    let lines = LineReader::new(stdout);
    match lines.next_within(Duration::from_secs(20)) {
        Ok(Some(line)) if line == "READY" => (child, lines),
        Err(e) => panic!("{what} printed no READY within 20 s: {e}"),
        other => panic!("{what} printed {other:?} instead of READY"),
    }
}

/// Waits up to `limit` for `child` to end; past it the child is killed and an error says so.
pub fn wait_within(child: &mut Child, limit: Duration) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the program did not end within {limit:?}; killed"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` to its end, with `input` on its stdin (none: stdin is closed) and its
/// stdout and stderr collected, waiting up to `limit`: what `Command::output` does, except
/// that a program that does not end is killed and an error says so.
pub fn output_within(
    command: &mut Command,
    input: Option<&[u8]>,
    limit: Duration,
) -> io::Result<Output> {
    let mut child = command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input)?;
    }
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = wait_within(&mut child, limit)?;
    let joined = |reader: std::thread::JoinHandle<Vec<u8>>| {
        reader
            .join()
            .map_err(|_| io::Error::other("the thread reading the program's output panicked"))
    };
    Ok(Output {
        status,
        stdout: joined(stdout)?,
        stderr: joined(stderr)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_does_not_end_is_killed_at_the_limit() {
        let started = Instant::now();
        let err = output_within(
            Command::new("sleep").arg("30"),
            None,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < Duration::from_secs(20), "not killed");
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let err = wait_within(&mut child, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(child.try_wait().unwrap().is_some(), "still running");
    }

    #[test]
    fn output_and_lines_come_through_and_a_silent_program_times_out() {
        let out = output_within(
            &mut Command::new("cat"),
            Some(b"one\ntwo\n"),
            Duration::from_secs(20),
        )
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"one\ntwo\n");
        let mut child = KillOnDrop(
            Command::new("sh")
                .args(["-c", "echo READY; exec sleep 30"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let lines = LineReader::new(child.0.stdout.take().unwrap());
        let first = lines.next_within(Duration::from_secs(20)).unwrap();
        assert_eq!(first.as_deref(), Some("READY"));
        let silent = lines.next_within(Duration::from_millis(200)).unwrap_err();
        assert_eq!(silent.kind(), io::ErrorKind::TimedOut, "{silent}");
    }
}
