//! Generated Python (`clamator-codegen --out-py`).
//!
//! The modules `clamator-codegen --out-py` writes from `contracts/` (committed under
//! `py/generated`, drift-checked by clamator-codegen's tests) and from its per-construct golden
//! files: they type-check under `mypy --strict` and behave under the pinned pydantic; a Python
//! server built on the generated abstract classes answers the Rust generated clients, and the
//! generated Python clients call a Rust server, every method of arith, notifications and
//! inventory, with the same answers and the same -32602 refusals both ways.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_examples::generated::inventory as inv;
use clamator_testkit::process::output_within;
use serde_json::{json, Value};

use crate::errors::Shelf;
use crate::harness::{assert_result, json_eq, python, root, Env, Lang, Server};

/// `mypy --strict` over the golden modules, the contracts' modules and the drivers that use
/// them; then `check_generated.py` imports each module and checks its models on the wire.
#[test]
fn generated_python_passes_mypy_strict_and_behaves() {
    let py = python();
    let golden = root().join("clamator-codegen/tests/golden");
    // mypy names a module after its file, and `tagged-union` is no module name: check copies.
    let copies = std::env::temp_dir().join(format!("clamator-golden-py-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copies);
    std::fs::create_dir_all(&copies).unwrap();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&golden).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "py") {
            let stem = path
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .replace('-', "_");
            let copy = copies.join(format!("golden_{stem}.py"));
            std::fs::copy(&path, &copy).unwrap();
            files.push(copy);
        }
    }
    assert!(files.len() >= 11, "only {} golden .py files", files.len());
    let drivers = root().join("tests/interop/py");
    for module in ["arith", "inventory", "notifications"] {
        files.push(drivers.join(format!("generated/{module}.py")));
    }
    for driver in [
        "generated_server.py",
        "generated_client.py",
        "check_generated.py",
    ] {
        files.push(drivers.join(driver));
    }
    // A first run without its cache takes mypy a minute or more on a loaded machine.
    let out = output_within(
        Command::new(&py)
            .args(["-m", "mypy", "--strict", "--no-color-output", "--cache-dir"])
            .arg(root().join("target/mypy-cache"))
            .args(&files),
        None,
        Duration::from_secs(600),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "mypy --strict refused the generated Python:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = output_within(
        Command::new(&py)
            .arg(drivers.join("check_generated.py"))
            .arg(&golden)
            .arg(drivers.join("generated")),
        None,
        Duration::from_secs(120),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "check_generated.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&copies);
}

/// What a call of the generated-code scenarios answers.
#[derive(Debug, Clone)]
enum Expect {
    Result(Value),
    Error(i64),
    Notification,
}

/// One call of the generated-code scenarios: typed through the generated client of each
/// language, or (`raw`) untyped, for params the generated types would refuse to build.
#[derive(Debug, Clone)]
struct Case {
    name: &'static str,
    service: &'static str,
    method: &'static str,
    params: Value,
    raw: bool,
    expect: Expect,
}

/// The inventory's one item, as both implementations answer it.
fn lamp() -> Value {
    json!({
        "id": "lamp-1", "name": "Lamp", "price": 12.5, "kind": "physical",
        "dimensions": {"width": 10, "height": 20},
        "attributes": {"color": "red", "watts": 40, "dimmable": true},
    })
}

/// Every method of arith, notifications and inventory, and a refused call of each request
/// method (params both a pydantic model and the Rust validator refuse: -32602).
fn generated_cases() -> Vec<Case> {
    let typed = |name, service, method, params, expect| Case {
        name,
        service,
        method,
        params,
        raw: false,
        expect,
    };
    let refused = |name, service, method, params| Case {
        name,
        service,
        method,
        params,
        raw: true,
        expect: Expect::Error(-32602),
    };
    let r = Expect::Result;
    let created = json!({
        "status": "created", "id": "3b241101-e2bb-4255-8caf-4136c566a962",
        "createdAt": "2024-05-01T12:00:00Z",
    });
    let bad_item = json!({"id": "x", "name": "", "price": 1, "kind": "physical"});
    vec![
        typed(
            "add",
            "arith",
            "add",
            json!({"a": 2, "b": 3}),
            r(json!({"sum": 5})),
        ),
        typed(
            "divide",
            "arith",
            "divide",
            json!({"a": 7, "b": 2}),
            r(json!({"q": 3.5})),
        ),
        typed(
            "divide by zero",
            "arith",
            "divide",
            json!({"a": 1, "b": 0}),
            Expect::Error(-32000),
        ),
        typed(
            "echoText",
            "arith",
            "echoText",
            json!({"text": "héllo ✓"}),
            r(json!({"text": "héllo ✓"})),
        ),
        typed(
            "slowAdd",
            "arith",
            "slowAdd",
            json!({"a": 1, "b": 2, "sleepMs": 10}),
            r(json!({"sum": 3})),
        ),
        typed(
            "ping",
            "notifications",
            "ping",
            json!({"tag": "x"}),
            Expect::Notification,
        ),
        typed(
            "ping untagged",
            "notifications",
            "ping",
            json!({}),
            Expect::Notification,
        ),
        typed(
            "addItem",
            "inventory",
            "addItem",
            json!({"item": {"id": "lamp-2", "name": "Lamp", "price": 12.5, "kind": "physical"}, "tags": ["new"]}),
            r(created),
        ),
        typed(
            "addItem duplicate",
            "inventory",
            "addItem",
            json!({"item": {"id": "dup", "name": "Dup", "price": 1, "kind": "digital"}}),
            r(json!({"status": "rejected", "reason": "duplicate", "detail": null})),
        ),
        typed(
            "addItem dry run",
            "inventory",
            "addItem",
            json!({"item": {"id": "x", "name": "X", "price": 1, "kind": "digital"}, "dryRun": true}),
            r(json!({"status": "rejected", "reason": "forbidden", "detail": "dry run"})),
        ),
        typed(
            "getItem",
            "inventory",
            "getItem",
            json!({"id": "lamp-1"}),
            r(json!({"item": lamp(), "stock": {"main": 3, "backup": 0}})),
        ),
        typed(
            "getItem missing",
            "inventory",
            "getItem",
            json!({"id": "none"}),
            r(json!({"item": null, "stock": {}})),
        ),
        typed(
            "itemChanged",
            "inventory",
            "itemChanged",
            json!({"id": "lamp-1", "version": "v1", "change": 2, "at": "2024-05-01T12:00:00Z"}),
            Expect::Notification,
        ),
        typed(
            "reserve",
            "inventory",
            "reserve",
            json!({"id": "lamp-1", "quantity": 2}),
            r(json!({"remaining": 1})),
        ),
        typed(
            "reserve too many",
            "inventory",
            "reserve",
            json!({"id": "lamp-1", "quantity": 5}),
            Expect::Error(4009),
        ),
        typed(
            "reserve unknown",
            "inventory",
            "reserve",
            json!({"id": "nope", "quantity": 1}),
            Expect::Error(4004),
        ),
        typed(
            "search",
            "inventory",
            "search",
            json!({"query": "lamp"}),
            r(json!({"items": [lamp()], "total": 1, "next": "asc:10"})),
        ),
        typed(
            "search filtered",
            "inventory",
            "search",
            json!({"query": "lamp", "limit": 5, "sort": "desc", "filters": {"minPrice": 20, "kinds": ["physical"]}}),
            r(json!({"items": [], "total": 0, "next": "desc:5"})),
        ),
        typed(
            "setMetadata",
            "inventory",
            "setMetadata",
            json!({"id": "lamp-1", "metadata": {"any": [1, "x", null]}, "labels": {"a": "b"}}),
            r(json!({})),
        ),
        refused("add a string", "arith", "add", json!({"a": "two", "b": 3})),
        refused("divide missing b", "arith", "divide", json!({"a": 1})),
        refused("echoText a number", "arith", "echoText", json!({"text": 5})),
        refused(
            "slowAdd negative",
            "arith",
            "slowAdd",
            json!({"a": 1, "b": 2, "sleepMs": -1}),
        ),
        refused(
            "addItem empty name",
            "inventory",
            "addItem",
            json!({"item": bad_item}),
        ),
        refused(
            "addItem unknown kind",
            "inventory",
            "addItem",
            json!({"item": {"id": "x", "name": "X", "price": 1, "kind": "liquid"}}),
        ),
        refused(
            "getItem pattern",
            "inventory",
            "getItem",
            json!({"id": "UPPER"}),
        ),
        refused(
            "reserve zero",
            "inventory",
            "reserve",
            json!({"id": "lamp-1", "quantity": 0}),
        ),
        refused(
            "search sort",
            "inventory",
            "search",
            json!({"query": "q", "sort": "sideways"}),
        ),
        refused(
            "setMetadata unknown key",
            "inventory",
            "setMetadata",
            json!({"id": "x", "metadata": 1, "extra": true}),
        ),
    ]
}

/// Checks one outcome (in the drivers' result format) against its case.
fn assert_case(case: &Case, outcome: &Value, direction: &str) {
    let what = format!("{} ({direction})", case.name);
    match &case.expect {
        Expect::Result(want) => assert_result(outcome, want.clone(), &what),
        Expect::Error(code) => {
            assert_eq!(outcome["kind"], "rpc-error", "{what}: {outcome}");
            assert_eq!(outcome["code"], *code, "{what}: {outcome}");
            if *code == 4009 {
                assert_eq!(
                    outcome["data"],
                    json!({"available": 3}),
                    "{what}: {outcome}"
                );
            }
        }
        Expect::Notification => assert_eq!(outcome["kind"], "notification", "{what}: {outcome}"),
    }
}

/// The notifications of `cases`, as `(method, params)` a server should have handled.
fn notified(cases: &[Case]) -> Vec<(String, Value)> {
    cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Notification))
        .map(|c| (format!("{}.{}", c.service, c.method), c.params.clone()))
        .collect()
}

/// Waits (10 s at most) until `seen` holds as many notifications as `want`, then compares.
fn assert_notified(seen: impl Fn() -> Vec<(String, Value)>, want: &[(String, Value)], who: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen().len() < want.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = seen();
    assert_eq!(
        got.len(),
        want.len(),
        "{who} handled {got:?}, want {want:?}"
    );
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.0 == w.0 && json_eq(&g.1, &w.1),
            "{who} handled {g:?}, want {w:?}"
        );
    }
}

/// A Rust call of `case` through the generated Rust client (typed) or `Client::call` (raw),
/// as the drivers' outcome JSON.
async fn rust_call(transport: &clamator_redis::RedisTransport, case: &Case) -> Value {
    use clamator_examples::generated::{arith, notifications};
    use clamator_examples::outcome_json;
    fn typed<P: serde::de::DeserializeOwned>(v: &Value) -> P {
        serde_json::from_value(v.clone()).unwrap()
    }
    fn value<R: serde::Serialize>(r: R) -> Option<Value> {
        Some(serde_json::to_value(r).unwrap())
    }
    let t = transport.clone();
    let p = &case.params;
    if case.raw {
        let raw = clamator_protocol::Client::new(t)
            .call::<_, Value>(case.service, case.method, p)
            .await;
        return outcome_json(raw.map(Some));
    }
    let outcome = match (case.service, case.method) {
        ("arith", m) => {
            let c = arith::ArithClient::new(t);
            match m {
                "add" => c.add(&typed(p)).await.map(value),
                "divide" => c.divide(&typed(p)).await.map(value),
                "echoText" => c.echo_text(&typed(p)).await.map(value),
                "slowAdd" => c.slow_add(&typed(p)).await.map(value),
                other => panic!("no arith.{other}"),
            }
        }
        ("notifications", "ping") => notifications::NotificationsClient::new(t)
            .ping(&typed(p))
            .await
            .map(|()| None),
        ("inventory", m) => {
            let c = inv::InventoryClient::new(t);
            match m {
                "addItem" => c.add_item(&typed(p)).await.map(value),
                "getItem" => c.get_item(&typed(p)).await.map(value),
                "itemChanged" => c.item_changed(&typed(p)).await.map(|()| None),
                "reserve" => c.reserve(&typed(p)).await.map(value),
                "search" => c.search(&typed(p)).await.map(value),
                "setMetadata" => c.set_metadata(&typed(p)).await.map(value),
                other => panic!("no inventory.{other}"),
            }
        }
        (s, m) => panic!("no {s}.{m}"),
    };
    outcome_json(outcome)
}

#[test]
fn a_python_server_on_the_generated_classes_answers_the_rust_generated_clients() {
    let env = Env::new();
    let prefix = env.prefix("generated-py-server", Lang::Python, Lang::Rust);
    let config = json!({"redisUrl": env.url(), "keyPrefix": prefix, "instanceId": "gen-py"});
    // The generated abstract classes, implemented.
    let server = Server::start_python("generated_server.py", &config);
    let cases = generated_cases();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let transport = clamator_redis::RedisTransport::connect(
            clamator_redis::TransportConfig::new(&prefix).redis_url(env.url()),
        )
        .await
        .unwrap();
        for case in &cases {
            let outcome = rust_call(&transport, case).await;
            assert_case(case, &outcome, "Rust client → Python server");
        }
        transport.stop().await;
    });
    let lines = Arc::clone(&server.lines);
    let seen = || -> Vec<(String, Value)> {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| Some((v.get("notified")?.as_str()?.to_owned(), v["params"].clone())))
            .collect()
    };
    assert_notified(seen, &notified(&cases), "the Python server");
    let handled = cases.iter().filter(|c| !c.raw).count() as u64;
    assert_eq!(server.stop(), handled);
    env.clean(&prefix);
}

/// The inventory of the generated-code scenarios, answering as `py/generated_server.py`'s.
#[derive(Default)]
struct Store {
    changes: Arc<Mutex<Vec<(String, Value)>>>,
}

impl inv::InventoryService for Store {
    async fn add_item(
        &self,
        p: inv::AddItemParams,
    ) -> Result<inv::AddItemResult, clamator_protocol::RpcError> {
        let answer = if p.dry_run {
            json!({"status": "rejected", "reason": "forbidden", "detail": "dry run"})
        } else if p.item.id == "dup" {
            json!({"status": "rejected", "reason": "duplicate", "detail": null})
        } else {
            json!({
                "status": "created", "id": "3b241101-e2bb-4255-8caf-4136c566a962",
                "createdAt": "2024-05-01T12:00:00Z",
            })
        };
        Ok(serde_json::from_value(answer).unwrap())
    }

    async fn get_item(
        &self,
        p: inv::GetItemParams,
    ) -> Result<inv::GetItemResult, clamator_protocol::RpcError> {
        let answer = if p.id == "lamp-1" {
            json!({"item": lamp(), "stock": {"main": 3, "backup": 0}})
        } else {
            json!({"item": null, "stock": {}})
        };
        Ok(serde_json::from_value(answer).unwrap())
    }

    async fn item_changed(
        &self,
        p: inv::ItemChangedParams,
    ) -> Result<(), clamator_protocol::RpcError> {
        let params = serde_json::to_value(p).unwrap();
        let change = ("inventory.itemChanged".to_owned(), params);
        self.changes.lock().unwrap().push(change);
        Ok(())
    }

    async fn reserve(
        &self,
        p: inv::ReserveParams,
    ) -> Result<inv::ReserveResult, clamator_protocol::RpcError> {
        inv::InventoryService::reserve(&Shelf, p).await
    }

    async fn search(
        &self,
        p: inv::SearchParams,
    ) -> Result<inv::SearchResult, clamator_protocol::RpcError> {
        let item: inv::Item = serde_json::from_value(lamp()).unwrap();
        let mut items = Vec::new();
        if item.name.to_lowercase().contains(&p.query.to_lowercase()) {
            items.push(item);
        }
        if let Some(f) = &p.filters {
            items.retain(|i| f.min_price.is_none_or(|min| i.price >= min));
            items.retain(|i| f.kinds.as_ref().is_none_or(|k| k.contains(&i.kind)));
        }
        let total = items.len() as i64;
        items.truncate(usize::try_from(p.limit).unwrap_or(0));
        let sort = serde_json::to_value(p.sort).unwrap();
        let next = format!("{}:{}", sort.as_str().unwrap(), p.limit);
        Ok(inv::SearchResult::new(items, total, Some(next)))
    }

    async fn set_metadata(
        &self,
        _: inv::SetMetadataParams,
    ) -> Result<inv::SetMetadataResult, clamator_protocol::RpcError> {
        Ok(inv::SetMetadataResult::new())
    }
}

#[test]
fn the_generated_python_clients_call_a_rust_server() {
    let env = Env::new();
    let prefix = env.prefix("generated-py-client", Lang::Rust, Lang::Python);
    let cases = generated_cases();
    let store = Store::default();
    let changes = Arc::clone(&store.changes);
    let pings = Arc::clone(&changes);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(async {
            let counter = clamator_examples::arith::Counter::default();
            let notifications =
                clamator_examples::arith::notifications_service(counter.clone(), move |tag| {
                    let params = tag.map_or(json!({}), |t| json!({"tag": t}));
                    let ping = ("notifications.ping".to_owned(), params);
                    pings.lock().unwrap().push(ping);
                })?;
            clamator_redis::RedisServer::builder(
                clamator_redis::ServerConfig::new(&prefix)
                    .redis_url(env.url())
                    .housekeeping_interval(Duration::from_secs(3600)),
            )
            .service(clamator_examples::arith::arith_service(counter)?)
            .service(notifications)
            .service(inv::inventory_service(store)?)
            .start()
            .await
        })
        .unwrap();
    let calls: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({"case": c.name, "service": c.service, "method": c.method,
                   "params": c.params, "raw": c.raw})
        })
        .collect();
    let results = generated_python_client(&env.url(), &prefix, &calls);
    for case in &cases {
        assert_case(
            case,
            &results["results"][case.name],
            "Python client → Rust server",
        );
    }
    assert_notified(
        || changes.lock().unwrap().clone(),
        &notified(&cases),
        "the Rust server",
    );
    // On the wire, the generated model left the unset `tag` out: `{}`, not `{"tag": null}`
    // (which clamator's TypeScript servers refuse).
    let mut conn = env.raw();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("{prefix}:cmds:notifications"))
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let sent: Vec<Value> = entries
        .iter()
        .flat_map(|(_, fields)| fields)
        .filter(|(k, _)| k == "envelope")
        .map(|(_, v)| serde_json::from_str::<Value>(v).unwrap()["params"].clone())
        .collect();
    assert_eq!(sent, [json!({"tag": "x"}), json!({})], "pings on the wire");
    rt.block_on(server.stop());
    env.clean(&prefix);
}

/// Runs `generated_client.py` (the generated Python clients) with `calls` against the
/// services under `prefix`, and returns its `{"results": {...}}`.
pub(crate) fn generated_python_client(url: &str, prefix: &str, calls: &[Value]) -> Value {
    let input = json!({"redisUrl": url, "keyPrefix": prefix, "calls": calls});
    let out = output_within(
        Command::new(python()).arg(clamator_testkit::python_peer::driver("generated_client.py")),
        Some(input.to_string().as_bytes()),
        Duration::from_secs(120),
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "generated_client.py printed no results; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).unwrap()
}
