//! `clamator acl`: the users it prints run a real server (exactly-once scripts, lease
//! renewal, reclaim, housekeeping, dead letters) and a real client (calls, notifications)
//! without a single ACL denial, and can do nothing else: the client reads no other
//! client's replies and writes no command stream it was not granted, the server writes
//! nothing outside its namespace and reads no reply stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_examples::arith::{self, Counter};
use clamator_protocol::{CallOptions, Client};
use clamator_redis::{RedisServer, RedisTransport, ServerConfig, ServiceOptions, TransportConfig};
use clamator_testkit::local_redis::{cli_binary, RedisProcess};
use serde_json::{json, Value};

use crate::{clamator, eventually, redis_conn};

/// `major.minor` of the server under test, from `INFO server` (Valkey 8 says 7.2).
async fn redis_version(conn: &mut redis::aio::MultiplexedConnection) -> String {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(conn)
        .await
        .unwrap();
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap()
        .trim();
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Creates the user `clamator acl` describes, from its `--json` rules.
async fn create_user(conn: &mut redis::aio::MultiplexedConnection, doc: &Value) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(doc["user"].as_str().unwrap());
    for rule in doc["rules"].as_array().unwrap() {
        cmd.arg(rule.as_str().unwrap());
    }
    let _: () = cmd.query_async(conn).await.unwrap();
}

/// The denials `ACL LOG` holds for `users`, as `user: reason object`.
async fn denials(conn: &mut redis::aio::MultiplexedConnection, users: &[&str]) -> Vec<String> {
    let log: Vec<Vec<redis::Value>> = redis::cmd("ACL")
        .arg("LOG")
        .query_async(conn)
        .await
        .unwrap();
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    };
    log.iter()
        .filter_map(|entry| {
            let get = |name: &str| {
                entry
                    .chunks(2)
                    .find(|kv| text(&kv[0]) == name)
                    .map(|kv| text(&kv[1]))
                    .unwrap_or_default()
            };
            users.contains(&get("username").as_str()).then(|| {
                format!(
                    "{}: {} {} ({})",
                    get("username"),
                    get("reason"),
                    get("object"),
                    get("context")
                )
            })
        })
        .collect()
}

/// Whether `cmd`, sent as the user behind `conn`, is refused by the ACL.
async fn refused(conn: &mut redis::aio::MultiplexedConnection, cmd: &redis::Cmd) -> bool {
    match cmd.query_async::<redis::Value>(conn).await {
        Err(e) => e.code() == Some("NOPERM"),
        Ok(_) => false,
    }
}

async fn login(port: u16, user: &str, password: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{user}:{password}@127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_serve_and_call_and_nothing_more() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let port = redis.port();
    let mut admin = redis_conn(&redis).await;
    let version = redis_version(&mut admin).await;
    let services = ["arith", "notifications"];

    let acl = |role: &'static str, user: &'static str, password: &'static str| {
        let url = url.clone();
        let version = version.clone();
        async move {
            let mut args = vec!["acl"];
            args.extend(services);
            args.extend(["--role", role, "--user", user, "--password", password]);
            args.extend(["--redis-version", &version, "--json"]);
            if role == "client" {
                args.extend(["--instance-id", "cli-*"]);
            }
            let out = clamator(&url, "a1", &args).await;
            assert_eq!(out.code, 0, "{out:?}");
            out.json()
        }
    };
    let server_doc = acl("server", "srv", "srv-pw").await;
    let client_doc = acl("client", "cli", "cli-pw").await;
    assert_eq!(server_doc["role"], "server");
    assert!(server_doc["keylessCommands"]
        .as_array()
        .unwrap()
        .contains(&json!("script|load")));
    create_user(&mut admin, &server_doc).await;
    create_user(&mut admin, &client_doc).await;

    // Without --json, stdout is the one line, and it pipes into redis-cli as it is.
    let printed = clamator(
        &url,
        "a1",
        &[
            "acl",
            "arith",
            "--role",
            "client",
            "--user",
            "pasted",
            "--password",
            "p w\"x",
        ],
    )
    .await;
    assert_eq!(printed.code, 0, "{printed:?}");
    assert_eq!(printed.stdout.lines().count(), 1, "{printed:?}");
    assert!(printed.stderr.contains("# client of arith"), "{printed:?}");
    // No --redis-version: the line is for the Redis at hand (asked with INFO), so the
    // paste below works on Redis 7.0, which refuses a 7.2 line's `+client|setinfo`.
    assert!(
        printed.stderr.contains(&format!("Redis {version}")),
        "{printed:?}"
    );
    let line = printed.stdout.trim_end().to_owned();
    assert!(line.starts_with("ACL SETUSER pasted "), "{line}");
    let mut cli = tokio::process::Command::new(cli_binary())
        .args(["-p", &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = cli.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{line}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let pasted = tokio::time::timeout(Duration::from_secs(30), cli.wait_with_output())
        .await
        .expect("redis-cli did not finish within 30 s")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&pasted.stdout).trim(),
        "OK",
        "{line}"
    );
    let mut as_pasted = login(port, "pasted", "p w\"x").await;
    let _: redis::Value = redis::cmd("PING")
        .query_async(&mut as_pasted)
        .await
        .unwrap();

    // A request a server took and died with, before ours starts: only ours can finish it,
    // through its reclaim loop (XAUTOCLAIM, XPENDING) as the printed user.
    let orphan_replies = "a1:replies:cli-orphan";
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("a1:cmds:arith")
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("a1:cmds:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(r#"{"jsonrpc":"2.0","id":"orphan","method":"arith.add","params":{"a":20,"b":22}}"#)
        .arg("reply-to")
        .arg(orphan_replies)
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:gone")
        .arg("STREAMS")
        .arg("a1:cmds:arith")
        .arg(">")
        .query_async(&mut admin)
        .await
        .unwrap();

    // A server and a client running as those users, through every path they take.
    let pings = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&pings);
    let server = RedisServer::builder(
        ServerConfig::new("a1")
            .redis_url(format!("redis://srv:srv-pw@127.0.0.1:{port}"))
            .claim_idle(Duration::from_millis(600))
            .housekeeping_interval(Duration::from_millis(200)),
    )
    .service_with(
        arith::arith_service(Counter::default()).unwrap(),
        ServiceOptions::new().exactly_once(true),
    )
    .service(
        arith::notifications_service(Counter::default(), move |tag| {
            seen.lock().unwrap().push(tag);
        })
        .unwrap(),
    )
    .start()
    .await
    .unwrap();
    // The client checks at connect that the published contract is the one it was generated
    // from, refusing drift (and so failing if it could not read the contract).
    let transport = RedisTransport::connect(
        TransportConfig::new("a1")
            .redis_url(format!("redis://cli:cli-pw@127.0.0.1:{port}"))
            .instance_id("cli-1")
            .expect_contract(&clamator_examples::generated::arith::ARITH_CONTRACT)
            .refuse_contract_drift(true),
    )
    .await
    .unwrap();
    let client = Client::new(transport.clone());
    let sum: Value = client
        .call("arith", "add", &json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(sum["sum"], 5.0);
    // Longer than a third of the claim idle time: its lease is renewed meanwhile.
    let slow: Value = client
        .call("arith", "slowAdd", &json!({"a": 1, "b": 1, "sleepMs": 500}))
        .await
        .unwrap();
    assert_eq!(slow["sum"], 2.0);
    let error = client
        .call_value(
            "arith",
            "divide",
            &json!({"a": 1, "b": 0}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(-32000));
    // Exactly-once: the same key twice is answered from the record.
    for _ in 0..2 {
        let keyed: Value = client
            .call_value(
                "arith",
                "add",
                &json!({"a": 4, "b": 4}),
                CallOptions::timeout(Duration::from_secs(5)).with_idempotency_key("k-1"),
            )
            .await
            .unwrap();
        assert_eq!(keyed["sum"], 8.0);
    }
    client
        .notify("notifications", "ping", &json!({"tag": "acl"}))
        .await
        .unwrap();
    // A malformed entry from the client: the server dead-letters it and answers -32700.
    let mut as_client = login(port, "cli", "cli-pw").await;
    let _: String = redis::cmd("XADD")
        .arg("a1:cmds:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg("{oops")
        .arg("reply-to")
        .arg("a1:replies:cli-1")
        .query_async(&mut as_client)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || {
        let mut admin = admin.clone();
        async move {
            redis::cmd("XLEN")
                .arg("a1:dlq:arith")
                .query_async::<u64>(&mut admin)
                .await
                .unwrap()
                == 1
        }
    })
    .await;
    eventually(Duration::from_secs(5), || {
        let pings = Arc::clone(&pings);
        async move { pings.lock().unwrap().contains(&Some("acl".to_owned())) }
    })
    .await;
    // The CLI as the client user: its own reply stream under cli-*, the contract readable.
    let cli_call = {
        let url = format!("redis://cli:cli-pw@127.0.0.1:{port}");
        clamator(
            &url,
            "a1",
            &[
                "call",
                "arith.add",
                r#"{"a":1,"b":1}"#,
                "--instance-id",
                "cli-tool",
                "--json",
            ],
        )
        .await
    };
    assert_eq!(cli_call.code, 0, "{cli_call:?}");
    assert_eq!(cli_call.json()["result"]["sum"], 2.0);
    // Reclaim ran: the dead consumer's request was taken over and answered. (A denial ends
    // the wait early, to be shown below.)
    let watcher = admin.clone();
    let denied = || {
        let mut admin = watcher.clone();
        async move { !denials(&mut admin, &["srv", "cli"]).await.is_empty() }
    };
    let replies_to_orphan = || {
        let mut admin = watcher.clone();
        async move {
            let replies: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(orphan_replies)
                .arg("-")
                .arg("+")
                .query_async(&mut admin)
                .await
                .unwrap();
            replies
                .ids
                .iter()
                .filter_map(|e| e.get::<String>("envelope"))
                .map(|s| serde_json::from_str::<Value>(&s).unwrap())
                .collect::<Vec<_>>()
        }
    };
    eventually(Duration::from_secs(20), || async {
        denied().await || (server.stats().reclaimed >= 1 && !replies_to_orphan().await.is_empty())
    })
    .await;
    assert_eq!(
        denials(&mut admin, &["srv", "cli"]).await,
        Vec::<String>::new()
    );
    let answer = replies_to_orphan().await;
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert_eq!(answer[0]["id"], "orphan", "{answer:?}");
    assert_eq!(answer[0]["result"]["sum"], 42.0, "{answer:?}");
    // Housekeeping ran (every 200 ms, under its lock: SET NX, XINFO, XPENDING, XTRIM, the
    // release script): everything acknowledged was trimmed from both command streams.
    let lengths = || {
        let mut admin = watcher.clone();
        async move {
            let mut lengths = Vec::new();
            for stream in ["a1:cmds:arith", "a1:cmds:notifications"] {
                let len: u64 = redis::cmd("XLEN")
                    .arg(stream)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                lengths.push(len);
            }
            lengths
        }
    };
    eventually(Duration::from_secs(20), || async {
        denied().await || lengths().await == [0, 0]
    })
    .await;
    assert_eq!(
        denials(&mut admin, &["srv", "cli"]).await,
        Vec::<String>::new()
    );
    assert_eq!(lengths().await, [0, 0], "command streams not trimmed");
    let report = server.stop().await;
    transport.stop().await;
    assert!(report.drained, "{report:?}");
    assert_eq!(
        denials(&mut admin, &["srv", "cli"]).await,
        Vec::<String>::new()
    );

    // Nothing more: real attempts, each refused.
    let cmd = |args: &[&str]| {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c
    };
    for args in [
        &["XREAD", "STREAMS", "a1:replies:someone-else", "0"][..],
        &["XADD", "a1:cmds:inventory", "*", "type", "rpc"],
        &["XREAD", "STREAMS", "a1:cmds:arith", "0"],
        &["XRANGE", "a1:cmds:arith", "-", "+"],
        &[
            "XREADGROUP",
            "GROUP",
            "arith",
            "x",
            "STREAMS",
            "a1:cmds:arith",
            ">",
        ],
        &["SET", "a1:contracts:arith", "{}"],
        &["GET", "a1:contracts:arith"],
        &["DEL", "a1:dlq:arith"],
    ] {
        assert!(
            refused(&mut as_client, &cmd(args)).await,
            "client may {args:?}"
        );
    }
    let mut as_server = login(port, "srv", "srv-pw").await;
    for args in [
        &["SET", "elsewhere", "x"][..],
        &["XADD", "b1:cmds:arith", "*", "type", "rpc"],
        &["XADD", "a1:cmds:inventory", "*", "type", "rpc"],
        &["XREAD", "STREAMS", "a1:replies:cli-1", "0"],
        &["XRANGE", "a1:replies:cli-1", "-", "+"],
        &["DEL", "a1:replies:cli-1"],
        &["FLUSHALL"],
        &["KEYS", "*"],
    ] {
        assert!(
            refused(&mut as_server, &cmd(args)).await,
            "server may {args:?}"
        );
    }
    // ACL DRYRUN (Redis 7) agrees without sending anything.
    let dry: String = redis::cmd("ACL")
        .arg("DRYRUN")
        .arg("cli")
        .arg("XREAD")
        .arg("STREAMS")
        .arg("a1:replies:cli-2")
        .arg("0")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(dry, "OK", "another process of the same client, under cli-*");
    let denied: String = redis::cmd("ACL")
        .arg("DRYRUN")
        .arg("srv")
        .arg("XADD")
        .arg("other:replies:x")
        .arg("*")
        .arg("a")
        .arg("b")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(denied.contains("no permissions"), "{denied}");
}

/// The event grants: a subscriber (`--subscribes-to orders`, exactly-once, with housekeeping,
/// and a broadcast of the same events) and a publisher (`--publishes`) run as the printed
/// users without a denial, and the
/// subscriber still cannot publish. Before, the server user failed at start with NOPERM on
/// `XGROUP CREATE a2:events:orders`, and nothing let a client publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_subscribe_and_publish_events() {
    use clamator_protocol::Service;
    use clamator_redis::SubscriptionOptions;

    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let port = redis.port();
    let mut admin = redis_conn(&redis).await;
    let version = redis_version(&mut admin).await;
    let acl = |args: Vec<&'static str>| {
        let (url, version) = (url.clone(), version.clone());
        async move {
            let mut all = vec!["acl"];
            all.extend(args);
            all.extend(["--redis-version", &version, "--json"]);
            let out = clamator(&url, "a2", &all).await;
            assert_eq!(out.code, 0, "{out:?}");
            out.json()
        }
    };
    let sub_doc = acl(vec![
        "billing",
        "--role",
        "server",
        "--user",
        "sub",
        "--password",
        "sub-pw",
        "--subscribes-to",
        "orders",
    ])
    .await;
    let pub_doc = acl(vec![
        "orders",
        "--role",
        "client",
        "--user",
        "pub",
        "--password",
        "pub-pw",
        "--instance-id",
        "pub-1",
        "--publishes",
    ])
    .await;
    create_user(&mut admin, &sub_doc).await;
    create_user(&mut admin, &pub_doc).await;

    // `orders.orderPlaced` handled by pushing each event's `n`.
    let recorder = || {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&seen);
        let service = Service::builder("orders")
            .notification("orderPlaced", move |p: Value| {
                let keep = Arc::clone(&keep);
                async move {
                    keep.lock().unwrap().push(p["n"].as_u64().unwrap_or(0));
                    Ok::<_, clamator_protocol::RpcError>(())
                }
            })
            .build()
            .unwrap();
        (service, seen)
    };
    let (events, handled) = recorder();
    // And a broadcast of the same events, which reads the stream itself (XREAD).
    let (broadcast, broadcast_seen) = recorder();
    let server = RedisServer::builder(
        ServerConfig::new("a2")
            .redis_url(format!("redis://sub:sub-pw@127.0.0.1:{port}"))
            .claim_idle(Duration::from_millis(600))
            .housekeeping_interval(Duration::from_millis(200))
            // Handled events go at the next housekeeping round: its trim shows it ran.
            .event_retention(Duration::ZERO),
    )
    .subscribe_with(
        "billing",
        events,
        SubscriptionOptions::new().exactly_once(true),
    )
    .broadcast(broadcast)
    .start()
    .await
    .unwrap();
    let transport = RedisTransport::connect(
        TransportConfig::new("a2")
            .redis_url(format!("redis://pub:pub-pw@127.0.0.1:{port}"))
            .instance_id("pub-1"),
    )
    .await
    .unwrap();
    for n in 0..3u64 {
        transport
            .publish_event("orders", "orderPlaced", &json!({ "n": n }))
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(10), || {
        let (handled, broadcast_seen) = (Arc::clone(&handled), Arc::clone(&broadcast_seen));
        async move {
            handled.lock().unwrap().len() == 3 && broadcast_seen.lock().unwrap().len() == 3
        }
    })
    .await;
    // Housekeeping ran as the user (under its lock, the stream's progress read in MULTI):
    // it trimmed the handled events. A denial would stop it, and show in ACL LOG below.
    eventually(Duration::from_secs(10), || {
        let mut admin = admin.clone();
        async move {
            redis::cmd("XLEN")
                .arg("a2:events:orders")
                .query_async::<u64>(&mut admin)
                .await
                .unwrap()
                == 0
        }
    })
    .await;
    let report = server.stop().await;
    transport.stop().await;
    assert!(report.drained, "{report:?}");
    assert_eq!(*handled.lock().unwrap(), [0, 1, 2]);
    assert_eq!(*broadcast_seen.lock().unwrap(), [0, 1, 2]);
    assert_eq!(
        denials(&mut admin, &["sub", "pub"]).await,
        Vec::<String>::new()
    );
    // The subscriber's user cannot publish to the stream it reads.
    let mut as_sub = login(port, "sub", "sub-pw").await;
    let mut publish = redis::cmd("XADD");
    publish
        .arg("a2:events:orders")
        .arg("*")
        .arg("type")
        .arg("event");
    assert!(refused(&mut as_sub, &publish).await);
}
