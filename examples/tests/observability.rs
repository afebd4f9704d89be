//! The operator's example (feature `observability`): `arith-server --metrics-addr` serves
//! Prometheus text whose counters move with calls, and `arith-client` writes the trace
//! context of its call into the request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clamator_testkit::local_redis::RedisProcess;
use clamator_testkit::process::{output_within, LineReader};

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_metrics(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn the_server_serves_metrics_and_the_client_writes_its_trace_context() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_arith-server"))
            .args(["--redis-url", &url, "--key-prefix", "obs"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = LineReader::new(server.0.stdout.take().unwrap());
    assert_eq!(
        lines
            .next_within(Duration::from_secs(20))
            .unwrap()
            .as_deref(),
        Some("READY")
    );

    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_arith-client"))
            .args(["--redis-url", &url, "--key-prefix", "obs", "arith.add"])
            .arg(r#"{"a":2,"b":3}"#),
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = get_metrics(port);
        if text.contains(
            r#"clamator_server_requests_total{service="arith",method="add",outcome="ok"} 1"#,
        ) {
            break;
        }
        assert!(Instant::now() < deadline, "no request counted in:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Durations are histograms with buckets (summaries cannot be added up across instances).
    let text = get_metrics(port);
    let handler_bucket = |le: &str| {
        text.lines().any(|l| {
            l.starts_with("clamator_server_handler_duration_seconds_bucket{")
                && l.contains(r#"method="add""#)
                && l.contains(&format!(r#"le="{le}""#))
        })
    };
    assert!(
        handler_bucket("0.0005") && handler_bucket("10") && handler_bucket("+Inf"),
        "{text}"
    );
    assert!(
        !text.contains("clamator_server_handler_duration_seconds{"),
        "a summary's quantiles: {text}"
    );

    // The request the client wrote carries a W3C traceparent after clamator's fields.
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("obs:cmds:arith")
        .arg("-")
        .arg("+")
        .query(&mut raw)
        .unwrap();
    let traceparent: Option<String> = entries.ids.iter().find_map(|e| e.get("traceparent"));
    let traceparent = traceparent.expect("a traceparent field");
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    assert!(traceparent.starts_with("00-"), "{traceparent}");
}
