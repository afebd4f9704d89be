//! `clamator dashboard` over plain HTTP: the token, the write guard, bounded pages, and the
//! least-privilege user `clamator acl --role dashboard` prints, against a private
//! redis-server. What a browser shows and runs is `browser.rs` (step 3).

use std::time::{Duration, Instant};

use clamator_examples::arith::{self, Counter};
use clamator_redis::{RedisServer, ServerConfig};
use clamator_testkit::local_redis::RedisProcess;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use crate::{clamator, eventually, redis_conn};

/// The token the tests start dashboards with.
pub(crate) const TOKEN: &str = "test-token-0123456789abcdef";

/// A running `clamator dashboard`, killed when dropped.
pub(crate) struct Dashboard {
    _child: tokio::process::Child,
    /// `127.0.0.1:<port>`.
    pub(crate) addr: String,
}

impl Dashboard {
    /// Starts one for `prefix` on the Redis at `url` (on a free port, sampling every
    /// 300 ms unless `extra` says), with `extra` flags; returns once it printed its URL.
    pub(crate) async fn start(url: &str, prefix: &str, extra: &[&str]) -> Self {
        let mut args = vec!["dashboard", "--listen", "127.0.0.1:0", "--token", TOKEN];
        if !extra.contains(&"--interval") {
            args.extend(["--interval", "300ms"]);
        }
        args.extend_from_slice(extra);
        let mut cmd = crate::command(url, prefix, &args);
        cmd.env_remove("CLAMATOR_DASHBOARD_TOKEN");
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the dashboard printed nothing within 20 s")
            .unwrap()
            .expect("the dashboard ended without printing its URL");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        assert!(line.contains(&format!("?token={TOKEN}")), "{line}");
        // The rest of stderr is drained, so the dashboard never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            addr,
        }
    }

    /// `GET path` with the token.
    pub(crate) async fn get(&self, path: &str) -> Response {
        http(&self.addr, "GET", path, &[("Authorization", &bearer())], "").await
    }

    /// Presses the replay button of dead letter `letter` of `arith`: its page's form, with
    /// the page's CSRF token.
    pub(crate) async fn replay_from_page(&self, letter: &str) -> Response {
        let page = self.get(&format!("/s/arith/dlq/{letter}")).await;
        let csrf = csrf_of(&page.body);
        http(
            &self.addr,
            "POST",
            &format!("/s/arith/dlq/{letter}/replay"),
            &[
                ("Authorization", &bearer()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={csrf}"),
        )
        .await
    }
}

/// `Bearer <TOKEN>`.
pub(crate) fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// A response: status, headers (lower-case names), body.
#[derive(Debug)]
pub(crate) struct Response {
    /// The status code.
    pub(crate) status: u16,
    /// The header lines.
    pub(crate) headers: String,
    /// The body.
    pub(crate) body: String,
}

/// One HTTP/1.1 request on its own connection, read to its end (at most 10 s).
pub(crate) async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("no full response within 10 s")
        .unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// The first server-sent event of `path` with data, read from a stream that stays open.
pub(crate) async fn first_event(addr: &str, path: &str, wanted: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\r\n",
        bearer()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} in the events of {path}: {seen}"))
            .unwrap();
        assert!(n > 0, "{path} ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if seen.contains(wanted) {
            return seen;
        }
    }
}

/// The CSRF token in a page's forms.
pub(crate) fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in the page: {page}"))
        .to_owned()
}

/// A request of `arith.add` on `<prefix>:cmds:arith`, taken by a consumer that then
/// "crashed" (read, never acknowledged), with a server that dead-letters it on its next
/// delivery: the letter of a handler that never finished. Returns the server and the
/// letter's id.
pub(crate) async fn crashed_request(
    redis: &RedisProcess,
    prefix: &str,
    method: &str,
    params: &str,
) -> (RedisServer, String) {
    let mut conn = redis_conn(redis).await;
    let stream = format!("{prefix}:cmds:arith");
    let envelope =
        format!(r#"{{"jsonrpc":"2.0","id":"lost-1","method":"{method}","params":{params}}}"#);
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(&envelope)
        .arg("reply-to")
        .arg(format!("{prefix}:replies:browser"))
        .query_async(&mut conn)
        .await
        .unwrap();
    crate::taken_and_left(&mut conn, &stream, "arith", "arith:crashed", None).await;
    let server = RedisServer::builder(
        ServerConfig::new(prefix)
            .redis_url(redis.url())
            .instance_id("rust-1")
            .claim_idle(Duration::from_millis(200))
            .max_deliveries(1),
    )
    .service(arith::arith_service(Counter::default()).unwrap())
    .start()
    .await
    .unwrap();
    let dlq = format!("{prefix}:dlq:arith");
    eventually(Duration::from_secs(15), || {
        let mut conn = conn.clone();
        let dlq = dlq.clone();
        async move {
            redis::cmd("XLEN")
                .arg(&dlq)
                .query_async::<u64>(&mut conn)
                .await
                .unwrap()
                == 1
        }
    })
    .await;
    let letters: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(&dlq)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    (server, letters[0].0.clone())
}

/// The replies on the caller's reply stream that carry a result (the server's error reply
/// when it dead-lettered the request is not one).
pub(crate) async fn replies(redis: &RedisProcess, prefix: &str) -> Vec<String> {
    let mut conn = redis_conn(redis).await;
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("{prefix}:replies:browser"))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    entries
        .into_iter()
        .flat_map(|(_, fields)| fields.into_iter().map(|(_, v)| v))
        .filter(|v| v.contains("\"result\""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_needs_the_token_and_writes_need_the_flag_and_the_form() {
    let redis = RedisProcess::start().unwrap();
    let (server, letter) = crashed_request(&redis, "d1", "arith.add", r#"{"a":1,"b":2}"#).await;
    let read_only = Dashboard::start(&redis.url(), "d1", &[]).await;
    let addr = &read_only.addr;

    // No token, a wrong one, another dashboard's cookie: refused, and nothing leaks.
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token-0123456789")],
        vec![("Cookie", "clamator_dashboard_1=test-token-0123456789abcdef")],
    ] {
        for path in ["/", "/s/arith", "/api/overview", "/live/overview"] {
            let r = http(addr, "GET", path, &headers, "").await;
            assert_eq!(r.status, 401, "{path} {headers:?}: {r:?}");
            assert!(!r.body.contains("arith."), "{path}: {}", r.body);
        }
    }
    // The token in the URL becomes a cookie, and the URL is cleaned of it.
    let r = http(addr, "GET", &format!("/s/arith?token={TOKEN}"), &[], "").await;
    assert_eq!(r.status, 303, "{r:?}");
    assert!(r.headers.contains("location: /s/arith\r"), "{}", r.headers);
    assert!(
        r.headers.contains("httponly; samesite=strict"),
        "{}",
        r.headers
    );
    let port = addr.rsplit(':').next().unwrap();
    let cookie = format!("clamator_dashboard_{port}={TOKEN}");
    let r = http(addr, "GET", "/s/arith", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.status, 200, "{r:?}");
    // Every response forbids inline scripts and framing.
    assert!(
        r.headers
            .contains("content-security-policy: default-src 'none'; script-src 'self';"),
        "{}",
        r.headers
    );
    assert!(r.headers.contains("x-frame-options: deny"));

    // Read-only: no write control on the letter's page, and a POST is refused whatever it
    // carries; the letter stays.
    let page = read_only.get(&format!("/s/arith/dlq/{letter}")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(!page.body.contains("<form"), "{}", page.body);
    assert!(page.body.contains("--allow-writes"));
    let forged = http(
        addr,
        "POST",
        &format!("/s/arith/dlq/{letter}/replay"),
        &[
            ("Authorization", &bearer()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "csrf=anything",
    )
    .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(forged.body.contains("read-only"), "{}", forged.body);
    let purge = http(
        addr,
        "POST",
        "/s/arith/purge",
        &[
            ("Authorization", &bearer()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "csrf=x&confirm=arith",
    )
    .await;
    assert_eq!(purge.status, 403, "{purge:?}");
    assert!(replies(&redis, "d1").await.is_empty());
    let list = clamator(&redis.url(), "d1", &["dlq", "list", "arith", "--json"]).await;
    assert_eq!(list.json()["deadLetters"].as_array().unwrap().len(), 1);

    // With --allow-writes: a POST without the page's CSRF token, or from another site, is
    // refused; the form's own replays the letter, and the server answers it.
    let writable = Dashboard::start(&redis.url(), "d1", &["--allow-writes"]).await;
    let page = writable.get(&format!("/s/arith/dlq/{letter}")).await;
    let csrf = csrf_of(&page.body);
    let post = |headers: Vec<(&'static str, String)>, body: String| {
        let addr = writable.addr.clone();
        let letter = letter.clone();
        async move {
            let mut all: Vec<(&str, &str)> =
                vec![("Content-Type", "application/x-www-form-urlencoded")];
            let bearer = bearer();
            all.push(("Authorization", &bearer));
            for (k, v) in &headers {
                all.push((k, v));
            }
            http(
                &addr,
                "POST",
                &format!("/s/arith/dlq/{letter}/replay"),
                &all,
                &body,
            )
            .await
        }
    };
    let no_csrf = post(vec![], String::new()).await;
    assert_eq!(no_csrf.status, 403, "{no_csrf:?}");
    let wrong_csrf = post(vec![], "csrf=forged".into()).await;
    assert_eq!(wrong_csrf.status, 403, "{wrong_csrf:?}");
    let cross_site = post(
        vec![("Origin", "http://evil.example".into())],
        format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(cross_site.status, 403, "{cross_site:?}");
    assert!(
        replies(&redis, "d1").await.is_empty(),
        "a refused POST replayed"
    );
    let replayed = post(
        vec![("Origin", format!("http://{}", writable.addr))],
        format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(replayed.status, 200, "{replayed:?}");
    assert!(replayed.body.contains("replayed"), "{}", replayed.body);
    eventually(Duration::from_secs(10), || async {
        replies(&redis, "d1")
            .await
            .iter()
            .any(|r| r.contains("\"lost-1\"") && r.contains("\"sum\":3"))
    })
    .await;
    // The same refusals as the CLI: replaying it again finds no such letter.
    let again = post(vec![], format!("csrf={csrf}")).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(again.body.contains("no such dead letter"), "{}", again.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_runs_as_the_user_acl_role_dashboard_prints() {
    let redis = RedisProcess::start().unwrap();
    let (server, letter) = crashed_request(&redis, "d2", "arith.add", r#"{"a":2,"b":2}"#).await;
    let mut conn = redis_conn(&redis).await;
    for (user, writes) in [("dash-ro", false), ("dash-rw", true)] {
        let mut args = vec![
            "acl",
            "--role",
            "dashboard",
            "--user",
            user,
            "--password",
            "pw",
            "--json",
        ];
        if writes {
            args.push("--allow-writes");
        }
        let acl = clamator(&redis.url(), "d2", &args).await;
        assert_eq!(acl.code, 0, "{acl:?}");
        let mut setuser = redis::cmd("ACL");
        setuser.arg("SETUSER").arg(user);
        for rule in acl.json()["rules"].as_array().unwrap() {
            setuser.arg(rule.as_str().unwrap());
        }
        let _: () = setuser.query_async(&mut conn).await.unwrap();
    }
    let port = redis.port();

    let ro = Dashboard::start(&format!("redis://dash-ro:pw@127.0.0.1:{port}"), "d2", &[]).await;
    // Every page and feed works with only what the user may do.
    for path in [
        "/",
        "/s/arith",
        &format!("/s/arith/dlq/{letter}"),
        "/s/arith/tail",
    ] {
        let r = ro.get(path).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(!r.body.contains("no permissions"), "{path}: {}", r.body);
    }
    let overview = ro.get("/api/overview").await;
    assert!(
        overview.body.contains("\"error\":null"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains("arith:rust-1"), "{}", overview.body);
    let service = ro.get("/s/arith").await;
    assert!(
        service.body.contains("1 in <code>d2:dlq:arith</code>"),
        "{}",
        service.body
    );
    assert!(service.body.contains("Published by"), "{}", service.body);
    let tail = first_event(&ro.addr, "/live/tail/arith", "tailing arith").await;
    assert!(!tail.contains("no permissions"), "{tail}");
    // The read-only user cannot replay, even with a dashboard started with --allow-writes.
    let ro_writes = Dashboard::start(
        &format!("redis://dash-ro:pw@127.0.0.1:{port}"),
        "d2",
        &["--allow-writes"],
    )
    .await;
    let refused = ro_writes.replay_from_page(&letter).await;
    assert_eq!(refused.status, 502, "{refused:?}");
    assert!(refused.body.contains("no permissions"), "{}", refused.body);
    assert!(replies(&redis, "d2").await.is_empty());

    // The writing user replays it.
    let rw = Dashboard::start(
        &format!("redis://dash-rw:pw@127.0.0.1:{port}"),
        "d2",
        &["--allow-writes"],
    )
    .await;
    let replayed = rw.replay_from_page(&letter).await;
    assert_eq!(replayed.status, 200, "{replayed:?}");
    eventually(Duration::from_secs(10), || async {
        replies(&redis, "d2")
            .await
            .iter()
            .any(|r| r.contains("\"sum\":4"))
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_huge_envelopes_are_shown_as_bounded_text() {
    let redis = RedisProcess::start().unwrap();
    let mut conn = redis_conn(&redis).await;
    let hostile = r#"<script>window.__xss=1</script>"><img src=x onerror=alert(1)>"#;
    // A pending request of 5 MB, and a dead letter whose every field is hostile.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":"big","method":"arith.add","params":{{"pad":"{}"}}}}"#,
        "x".repeat(5 << 20)
    );
    let _: String = redis::cmd("XADD")
        .arg("d3:cmds:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(&big)
        .query_async(&mut conn)
        .await
        .unwrap();
    crate::taken_and_left(
        &mut conn,
        "d3:cmds:arith",
        "arith",
        &format!("arith:{hostile}"),
        None,
    )
    .await;
    let escaped_json = serde_json::to_string(hostile).unwrap();
    let letter: String = redis::cmd("XADD")
        .arg("d3:dlq:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(format!(
            r#"{{"jsonrpc":"2.0","id":{escaped_json},"method":{escaped_json},"params":{{"p":{escaped_json}}}}}"#
        ))
        .arg("dlq-reason")
        .arg(hostile)
        .arg("dlq-error")
        .arg(hostile)
        .query_async(&mut conn)
        .await
        .unwrap();
    // A dead letter written by hand, far past what servers keep (256 KiB).
    let huge: String = redis::cmd("XADD")
        .arg("d3:dlq:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(&big)
        .query_async(&mut conn)
        .await
        .unwrap();
    let d = Dashboard::start(&redis.url(), "d3", &[]).await;
    let page = d.get(&format!("/s/arith/dlq/{huge}")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.len() < 1 << 20, "{} bytes", page.body.len());
    assert!(page.body.contains("bytes in all"), "{}", &page.body[..2000]);
    for path in ["/", "/s/arith", &format!("/s/arith/dlq/{letter}")] {
        let r = d.get(path).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(
            !r.body.contains("<script>window"),
            "{path}: markup from Redis"
        );
        assert!(!r.body.contains("<img"), "{path}: markup from Redis");
        assert!(r.body.len() < 1 << 20, "{path}: {} bytes", r.body.len());
    }
    let service = d.get("/s/arith").await;
    assert!(
        service.body.contains("&lt;script&gt;window.__xss=1"),
        "{}",
        service.body
    );
    // The pending page lists the 5 MB request by its method, not its bytes.
    assert!(
        service.body.contains("<td>arith.add</td>"),
        "{}",
        service.body
    );
    let overview = first_event(&d.addr, "/live/overview", "arith").await;
    assert!(!overview.contains("<img"), "{overview}");
}

/// Redis's CPU seconds so far (`INFO cpu`: system + user).
async fn redis_cpu(conn: &mut redis::aio::MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            matches!(k, "used_cpu_sys" | "used_cpu_user").then(|| v.parse::<f64>().ok())?
        })
        .sum()
}

/// The load figure of the issue that asked for the dashboard: a stream of 1,000,000 entries
/// with 100,000 pending. Its pages stay bounded (asserted) and it prints how long each
/// took and what an open dashboard costs Redis's CPU (reported, not asserted: timings are
/// for benchmarks). Run with `--no-capture` to see the line.
#[cfg(feature = "full-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_entries_and_a_hundred_thousand_pending_stay_bounded() {
    let redis = RedisProcess::start().unwrap();
    let mut conn = redis_conn(&redis).await;
    let envelope = r#"{"jsonrpc":"2.0","id":"x","method":"big.work","params":{"n":1}}"#;
    // One script per 100,000 entries, so no single call holds Redis for long.
    for _ in 0..10 {
        let _: () = redis::cmd("EVAL")
            .arg(
                "for i = 1, 100000 do redis.call('XADD', KEYS[1], '*', 'type', 'rpc', \
                 'envelope', ARGV[1], 'reply-to', 'dl:replies:c') end",
            )
            .arg(1)
            .arg("dl:cmds:big")
            .arg(envelope)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("dl:cmds:big")
        .arg("big")
        .arg("0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("EVAL")
        .arg(
            "redis.call('XREADGROUP', 'GROUP', 'big', 'big:worker', 'COUNT', 100000, \
             'STREAMS', KEYS[1], '>')",
        )
        .arg(1)
        .arg("dl:cmds:big")
        .query_async(&mut conn)
        .await
        .unwrap();
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("dl:cmds:big")
        .arg("big")
        .query_async(&mut conn)
        .await
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("XPENDING: {pending:?}")
    };
    assert_eq!(summary[0], redis::Value::Int(100_000));

    // Redis idle, then with a dashboard open (its default 2 s sampling, one live overview).
    let window = Duration::from_secs(5);
    let before = redis_cpu(&mut conn).await;
    tokio::time::sleep(window).await;
    let idle = redis_cpu(&mut conn).await - before;
    let d = Dashboard::start(&redis.url(), "dl", &["--interval", "2s"]).await;
    let _ = first_event(&d.addr, "/live/overview", "big").await;
    let mut times = serde_json::Map::new();
    for path in ["/", "/api/overview", "/s/big", "/s/big/tail"] {
        let mut worst = Duration::ZERO;
        for _ in 0..3 {
            let started = Instant::now();
            let r = d.get(path).await;
            worst = worst.max(started.elapsed());
            assert_eq!(r.status, 200, "{path}: {r:?}");
            if path == "/s/big" {
                assert!(
                    r.body.contains("100000 pending; the oldest 100"),
                    "{}",
                    r.body
                );
                assert_eq!(r.body.matches("<td>big.work</td>").count(), 100);
            }
        }
        let ms = (worst.as_secs_f64() * 10_000.0).round() / 10.0;
        times.insert(path.to_owned(), serde_json::json!(ms));
    }
    // Open and idle: the sampler alone, with a live overview connected.
    let mut overview = tokio::net::TcpStream::connect(&d.addr).await.unwrap();
    overview
        .write_all(
            format!(
                "GET /live/overview HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\r\n",
                d.addr,
                bearer()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let before = redis_cpu(&mut conn).await;
    tokio::time::sleep(window).await;
    let open = redis_cpu(&mut conn).await - before;
    // It was pushed every sample meanwhile.
    let mut pushed = vec![0u8; 1 << 20];
    let n = overview.read(&mut pushed).await.unwrap();
    assert!(String::from_utf8_lossy(&pushed[..n]).contains("event: overview"));
    let secs = window.as_secs_f64();
    let line = serde_json::json!({
        "entries": 1_000_000,
        "pending": 100_000,
        "pageMs": times,
        "redisCpuIdlePercent": (idle / secs * 1000.0).round() / 10.0,
        "redisCpuDashboardOpenPercent": (open / secs * 1000.0).round() / 10.0,
        "dashboardAddsPercent": ((open - idle) / secs * 1000.0).round() / 10.0,
    });
    #[allow(clippy::print_stdout)]
    {
        println!("dashboard load: {line}");
    }
}

/// Adds an entry (a request's type and nothing else) to `key`.
async fn add_request(conn: &mut redis::aio::MultiplexedConnection, key: &str) {
    let _: String = redis::cmd("XADD")
        .arg(key)
        .arg("*")
        .arg("type")
        .arg("rpc")
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_said_on_the_pages_and_the_dashboard_comes_back() {
    let mut redis = RedisProcess::start().unwrap();
    let mut conn = redis_conn(&redis).await;
    add_request(&mut conn, "d4:cmds:arith").await;
    let d = Dashboard::start(&redis.url(), "d4", &[]).await;
    let sampled_ok = || async {
        let r = d.get("/api/overview").await;
        r.body.contains("\"error\":null") && r.body.contains("d4:cmds:arith")
    };
    eventually(Duration::from_secs(10), sampled_ok).await;

    // Paused (SIGSTOP): a page does not hang (the helper gives up after 10 s; the response
    // timeout is 5 s), and says why.
    redis.pause();
    let page = d.get("/s/arith").await;
    assert_eq!(page.status, 502, "{page:?}");
    redis.resume();
    eventually(Duration::from_secs(15), sampled_ok).await;

    // Killed: the overview says the sample failed, pages answer 502 naming the failure, and
    // the dashboard itself keeps serving.
    redis.kill();
    eventually(Duration::from_secs(15), || async {
        d.get("/").await.body.contains("id=\"sample-error\"")
    })
    .await;
    let page = d.get("/s/arith").await;
    assert_eq!(page.status, 502, "{page:?}");
    assert!(
        page.body.contains("failed: Connection refused"),
        "{}",
        page.body
    );
    // Back (empty: it kept nothing on disk): sampling resumes by itself.
    redis.restart().unwrap();
    let mut conn = redis_conn(&redis).await;
    add_request(&mut conn, "d4:cmds:arith").await;
    eventually(Duration::from_secs(20), sampled_ok).await;
    assert_eq!(d.get("/s/arith").await.status, 200);
}

/// POSTs a form of the page at `page_path` (its CSRF token) to `action` with `fields`.
async fn press(d: &Dashboard, page_path: &str, action: &str, fields: &str) -> Response {
    let page = d.get(page_path).await;
    let csrf = csrf_of(&page.body);
    let body = if fields.is_empty() {
        format!("csrf={csrf}")
    } else {
        format!("csrf={csrf}&{fields}")
    };
    http(
        &d.addr,
        "POST",
        action,
        &[
            ("Authorization", &bearer()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_letter_is_republished_a_subscriber_rewound_and_letters_purged() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let redis = RedisProcess::start().unwrap();
    let mut conn = redis_conn(&redis).await;
    let (runs, fixed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let server = RedisServer::builder(
        ServerConfig::new("d5")
            .redis_url(redis.url())
            .max_deliveries(1),
    )
    .subscribe(
        "billing",
        crate::orders_subscriber(Arc::clone(&runs), Some(Arc::clone(&fixed))),
    )
    .start()
    .await
    .unwrap();
    let transport = clamator_redis::RedisTransport::connect(
        clamator_redis::TransportConfig::new("d5").redis_url(redis.url()),
    )
    .await
    .unwrap();
    transport
        .publish_event(
            "orders",
            "orderPlaced",
            &serde_json::json!({"orderId": "o-1"}),
        )
        .await
        .unwrap();
    let dlq_len = |conn: redis::aio::MultiplexedConnection| async move {
        redis::cmd("XLEN")
            .arg("d5:dlq:billing")
            .query_async::<u64>(&mut conn.clone())
            .await
            .unwrap()
    };
    eventually(Duration::from_secs(10), || {
        let conn = conn.clone();
        async move { dlq_len(conn).await == 1 }
    })
    .await;
    let letters: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("d5:dlq:billing")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    let letter = letters[0].0.clone();
    let d = Dashboard::start(&redis.url(), "d5", &["--allow-writes"]).await;

    // The subscriber's page: its letter, and the publisher it subscribes to (rewindable).
    eventually(Duration::from_secs(10), || async {
        d.get("/s/billing")
            .await
            .body
            .contains("events of <b>orders</b>")
    })
    .await;
    let letter_page = format!("/s/billing/dlq/{letter}");
    let page = d.get(&letter_page).await;
    assert!(page.body.contains("Republish"), "{}", page.body);
    assert!(
        !page.body.contains(">Replay<"),
        "an event's letter offered for replay"
    );

    // Fixed, republished for billing: it runs once, and the letter is gone.
    fixed.store(true, Ordering::SeqCst);
    let republished = press(&d, &letter_page, &format!("{letter_page}/republish"), "").await;
    assert_eq!(republished.status, 200, "{republished:?}");
    assert!(
        republished.body.contains("for billing"),
        "{}",
        republished.body
    );
    eventually(Duration::from_secs(10), || {
        let runs = Arc::clone(&runs);
        async move { runs.load(Ordering::SeqCst) == 1 }
    })
    .await;
    assert_eq!(dlq_len(conn.clone()).await, 0);

    // Rewound to the oldest event: billing is delivered both events again.
    let rewound = press(&d, "/s/billing", "/e/orders/billing/rewind", "to=oldest").await;
    assert_eq!(rewound.status, 200, "{rewound:?}");
    eventually(Duration::from_secs(10), || {
        let runs = Arc::clone(&runs);
        async move { runs.load(Ordering::SeqCst) == 3 }
    })
    .await;
    // A rewind to a time that is not one is refused, as the CLI refuses it.
    let bad = press(&d, "/s/billing", "/e/orders/billing/rewind", "to=yesterday").await;
    assert_eq!(bad.status, 400, "{bad:?}");

    // Purge: refused unless the name is typed again.
    let _: String = redis::cmd("XADD")
        .arg("d5:dlq:billing")
        .arg("*")
        .arg("type")
        .arg("event")
        .query_async(&mut conn)
        .await
        .unwrap();
    let page = "/s/billing";
    eventually(Duration::from_secs(5), || async {
        d.get(page).await.body.contains("Purge")
    })
    .await;
    let wrong = press(&d, page, "/s/billing/purge", "confirm=orders").await;
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert_eq!(dlq_len(conn.clone()).await, 1);
    let purged = press(&d, page, "/s/billing/purge", "confirm=billing").await;
    assert_eq!(purged.status, 200, "{purged:?}");
    assert!(
        purged.body.contains("purged 1 dead letters of billing"),
        "{}",
        purged.body
    );
    assert_eq!(dlq_len(conn.clone()).await, 0);
    transport.stop().await;
    server.stop().await;
}
