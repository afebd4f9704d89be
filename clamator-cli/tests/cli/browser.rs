//! The dashboard in a real browser: headless Chromium driven through WebDriver
//! (chromedriver), against a private redis-server with a server, a subscriber and traffic.
//! The screenshots it takes are written to `target/dashboard-screenshots/`, and with
//! `CLAMATOR_SCREENSHOTS=docs` to `docs/dashboard/` too: those are the documentation's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::Client;
use clamator_redis::{RedisServer, RedisTransport, ServerConfig, TransportConfig};
use clamator_testkit::local_redis::RedisProcess;
use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::dashboard::{crashed_request, replies, Dashboard, TOKEN};
use crate::{eventually, redis_conn, serve};

/// A headless Chromium and its chromedriver, both stopped when dropped.
struct Browser {
    client: fantoccini::Client,
    _driver: tokio::process::Child,
    _profile: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // A test that failed never closed its session: chromedriver is killed with it, but
        // the Chromium it started would stay. Every process of this profile goes too.
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f"])
            .arg(self.0.as_os_str())
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    async fn start() -> Self {
        clamator_testkit::tools::require("chromedriver", 3);
        clamator_testkit::tools::require("chromium", 3);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        eventually(Duration::from_secs(20), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        let profile =
            std::env::temp_dir().join(format!("clamator-chromium-{}-{port}", std::process::id()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": which("chromium"),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        Self {
            client,
            _driver: driver,
            _profile: TempDir(profile),
        }
    }

    /// Opens the dashboard with its token (the dashboard keeps it in a cookie and sends the
    /// browser on to `path`).
    async fn open(&self, dashboard: &Dashboard, path: &str) {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.client
            .goto(&format!(
                "http://{}{path}{sep}token={TOKEN}",
                dashboard.addr
            ))
            .await
            .unwrap();
    }

    async fn goto(&self, dashboard: &Dashboard, path: &str) {
        self.client
            .goto(&format!("http://{}{path}", dashboard.addr))
            .await
            .unwrap();
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap_or_default());
        }
        out
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        match self.client.find(Locator::Css(css)).await {
            // The live part may have been redrawn since it was found: as not there.
            Ok(e) => e.attr(name).await.ok().flatten(),
            Err(_) => None,
        }
    }

    /// Waits until `css` matches an element whose text contains `text`.
    async fn wait_text(&self, css: &str, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if self.texts(css).await.iter().any(|t| t.contains(text)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {css} with {text:?} within 20 s; the page: {}",
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether a script from Redis ran: what the hostile names would set.
    async fn scripts_ran(&self) -> bool {
        let ran = self
            .client
            .execute(
                "return window.__xss !== undefined || window.__xss2 !== undefined;",
                vec![],
            )
            .await
            .unwrap();
        ran == Value::Bool(true)
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/dashboard-screenshots"
        );
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), &png).unwrap();
        if std::env::var("CLAMATOR_SCREENSHOTS").as_deref() == Ok("docs") {
            let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dashboard");
            std::fs::create_dir_all(docs).unwrap();
            std::fs::write(format!("{docs}/{name}.png"), &png).unwrap();
        }
    }

    /// `fetch(path, init)` from the page; the response's status.
    async fn fetch_status(&self, path: &str, init: Value) -> u64 {
        let status = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch(arguments[0], arguments[1]).then(r => done(r.status), e => done(-1));",
                vec![json!(path), init],
            )
            .await
            .unwrap();
        status.as_u64().unwrap_or(0)
    }
}

/// How many samples the overview's requests-per-second chart holds.
async fn spark_points(b: &Browser) -> u64 {
    b.attr(
        "svg.spark[aria-label='requests in per second']",
        "data-points",
    )
    .await
    .and_then(|p| p.parse::<u64>().ok())
    .unwrap_or(0)
}

fn which(command: &str) -> String {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(command))
                .find(|p| p.is_file())
        })
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| command.to_owned())
}

/// Calls `arith.add` every 20 ms and publishes `orders.orderPlaced` every 100 ms until
/// `stop`.
fn traffic(
    url: String,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let transport = RedisTransport::connect(TransportConfig::new(prefix).redis_url(&url))
            .await
            .unwrap();
        let client = Client::new(transport.clone());
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let _: Result<Value, _> = client.call("arith", "add", &json!({"a": n, "b": 1})).await;
            if n.is_multiple_of(5) {
                let _ = transport
                    .publish_event("orders", "orderPlaced", &json!({"orderId": n}))
                    .await;
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        transport.stop().await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_moves_and_the_tail_shows_calls_as_they_pass() {
    let redis = RedisProcess::start().unwrap();
    let server = serve(&redis, "b1", "rust-1", 1, |_| {}).await;
    let runs = Arc::new(AtomicU64::new(0));
    let subscriber = RedisServer::builder(ServerConfig::new("b1").redis_url(redis.url()))
        .subscribe("billing", crate::orders_subscriber(Arc::clone(&runs), None))
        .start()
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = traffic(redis.url(), "b1", Arc::clone(&stop));
    let dashboard = Dashboard::start(&redis.url(), "b1", &[]).await;
    let browser = Browser::start().await;

    browser.open(&dashboard, "/").await;
    browser.wait_text("a.service", "arith").await;
    browser.wait_text("span.consumer", "arith:rust-1").await;
    browser.wait_text("a.subscriber", "billing").await;
    // The live part is redrawn after every sample, and the charts grow a point each time.
    let before = spark_points(&browser).await;
    eventually(Duration::from_secs(20), || async {
        let updates = browser
            .attr("#live", "data-updates")
            .await
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0);
        updates >= 3 && spark_points(&browser).await >= before + 3
    })
    .await;
    // Requests per second is a real figure now.
    eventually(Duration::from_secs(20), || async {
        browser
            .texts("table.services td .figure")
            .await
            .first()
            .and_then(|t| t.parse::<f64>().ok())
            .is_some_and(|rate| rate > 0.0)
    })
    .await;
    assert!(!browser.scripts_ran().await);
    browser.screenshot("overview").await;

    browser.goto(&dashboard, "/s/arith").await;
    browser.wait_text("#contract span.method", "add").await;
    browser.wait_text("#charts figcaption", "requests/s").await;
    browser.screenshot("service").await;

    browser.goto(&dashboard, "/s/arith/tail").await;
    browser.wait_text("#tail tbody tr", "arith.add").await;
    browser.wait_text("#tail tbody tr", "ok").await;
    browser.screenshot("tail").await;
    // Paused, it shows nothing new and counts what it skips; resumed, rows come again.
    browser
        .client
        .find(Locator::Id("pause"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let first_row = browser.texts("#tail tbody tr").await.first().cloned();
    browser
        .wait_text("#tail-skipped", "not shown while paused")
        .await;
    assert_eq!(
        browser.texts("#tail tbody tr").await.first().cloned(),
        first_row
    );
    assert!(browser.texts("#tail tbody tr").await.len() <= 200);

    // The service page counts the methods the tail saw.
    browser.goto(&dashboard, "/s/arith").await;
    browser.wait_text("#traffic table", "arith.add").await;

    stop.store(true, Ordering::SeqCst);
    calls.await.unwrap();
    assert!(runs.load(Ordering::SeqCst) > 0);
    let _ = browser.client.close().await;
    subscriber.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_replayed_from_its_page_and_hostile_text_stays_text() {
    let redis = RedisProcess::start().unwrap();
    let (server, letter) = crashed_request(&redis, "b2", "arith.add", r#"{"a":1,"b":2}"#).await;
    let mut conn = redis_conn(&redis).await;
    // A letter whose method, id, params, reason and error are markup.
    let script = "<script>window.__xss=1</script>";
    let img = r#""><img src=x onerror="window.__xss2=1">"#;
    let method = serde_json::to_string(&format!("arith.{script}{img}")).unwrap();
    let params = json!({"note": format!("{script}{img}")}).to_string();
    let hostile: String = redis::cmd("XADD")
        .arg("b2:dlq:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(format!(
            r#"{{"jsonrpc":"2.0","id":"h-1","method":{method},"params":{params}}}"#
        ))
        .arg("dlq-reason")
        .arg(format!("max-deliveries{img}"))
        .arg("dlq-error")
        .arg(format!("{script}{img}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let writable = Dashboard::start(&redis.url(), "b2", &["--allow-writes"]).await;
    let browser = Browser::start().await;

    browser.open(&writable, "/s/arith").await;
    browser.wait_text("#dead-letters a.letter", &letter).await;
    browser
        .wait_text(
            "#dead-letters span.method",
            "arith.<script>window.__xss=1</script>",
        )
        .await;
    assert!(!browser.scripts_ran().await, "a script from Redis ran");

    browser
        .goto(&writable, &format!("/s/arith/dlq/{hostile}"))
        .await;
    browser
        .wait_text("pre", "<script>window.__xss=1</script>")
        .await;
    browser.wait_text("pre.error-text", "onerror=").await;
    assert!(!browser.scripts_ran().await, "a script from Redis ran");
    assert!(
        browser
            .client
            .find_all(Locator::Css("img"))
            .await
            .unwrap()
            .is_empty(),
        "markup from Redis became an element"
    );

    browser
        .goto(&writable, &format!("/s/arith/dlq/{letter}"))
        .await;
    browser.wait_text("pre", "\"lost-1\"").await;
    browser.screenshot("dead-letter").await;
    browser
        .client
        .find(Locator::Css("form.action button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_text("p.done", &format!("replayed {letter}"))
        .await;
    eventually(Duration::from_secs(10), || async {
        replies(&redis, "b2")
            .await
            .iter()
            .any(|r| r.contains("\"lost-1\"") && r.contains("\"sum\":3"))
    })
    .await;

    // Read-only: no write control on the page, and a POST from the page is refused.
    let read_only = Dashboard::start(&redis.url(), "b2", &[]).await;
    browser
        .open(&read_only, &format!("/s/arith/dlq/{hostile}"))
        .await;
    browser.wait_text("p.note", "--allow-writes").await;
    assert!(browser
        .client
        .find_all(Locator::Css("form"))
        .await
        .unwrap()
        .is_empty());
    let forged = browser
        .fetch_status(
            &format!("/s/arith/dlq/{hostile}/replay"),
            json!({"method": "POST",
                   "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                   "body": "csrf=forged"}),
        )
        .await;
    assert_eq!(forged, 403);
    // Without the token (no cookie), nothing is shown.
    let anonymous = browser
        .fetch_status("/api/overview", json!({"credentials": "omit"}))
        .await;
    assert_eq!(anonymous, 401);
    let list: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("b2:dlq:arith")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        list.len(),
        1,
        "the hostile letter stays; the replayed one is gone"
    );
    let _ = browser.client.close().await;
    server.stop().await;
}
