//! Recovery: a server killed while it holds a request, and the request finished by another
//! server's reclaim loop, of the same language or of the other; and a backlog answered while
//! its Python caller is stopped, which must reach it whole.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{
    assert_result, both_ways, calls, client_results, slow_call_held_by, spawn_client, Env, Lang,
    Server, ServerOpts,
};

#[test]
fn crash_recovery_with_the_first_server_killed() {
    both_ways("crash-recovery", |env, t| {
        let opts = |instance| ServerOpts {
            instance,
            claim_idle_ms: 200,
            ..ServerOpts::default()
        };
        let mut a = t.start_server(opts("srv-A"));
        // The call reaches srv-A, the only server, which dies holding it: only srv-B's
        // reclaim loop can finish it.
        let call = slow_call_held_by(env, t.client, &t.prefix, "srv-A", 1000);
        a.kill();
        let b = t.start_server(opts("srv-B"));
        let r = call.join().unwrap();
        assert_result(&r[0], json!({"sum": 3}), "add after srv-A died");
        assert_eq!(b.stop(), 1);
    });
}

#[test]
fn a_server_killed_mid_handler_is_reclaimed_by_the_other_language() {
    let env = Env::new();
    for (victim, survivor) in [(Lang::Rust, Lang::Python), (Lang::Python, Lang::Rust)] {
        let prefix = env.prefix("kill-mid-handler", victim, survivor);
        let opts = |instance| ServerOpts {
            instance,
            claim_idle_ms: 200,
            ..ServerOpts::default()
        };
        let mut first = Server::start(victim, &env.url(), &prefix, opts("victim"));
        // The survivor's language is also the caller's.
        let call = slow_call_held_by(&env, survivor, &prefix, "victim", 1500);
        first.kill();
        let second = Server::start(survivor, &env.url(), &prefix, opts("survivor"));
        let r = call.join().unwrap();
        assert_result(
            &r[0],
            json!({"sum": 3}),
            &format!("slowAdd after the {victim:?} server died"),
        );
        assert_eq!(second.stop(), 1);
        env.clean(&prefix);
    }
}

#[test]
fn a_backlog_answered_while_a_python_client_is_paused_reaches_it_whole() {
    // The Python client queues its calls while no server runs, and is paused (SIGSTOP)
    // while a Rust server answers them all; none of the replies may be trimmed before the
    // client, resumed, reads them (clamator's `MAXLEN ~ 1024` keeps about a quarter).
    const CALLS: usize = 4_000;
    let env = Env::new();
    let prefix = env.prefix("backlog", Lang::Rust, Lang::Python);
    let stream = format!("{prefix}:cmds:arith");
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut env.raw())
        .unwrap();
    let mut input = calls(json!([{"method": "arith.add", "params": {"a": 1, "b": 2}}]));
    input["concurrent"] = json!(CALLS);
    input["defaultTimeoutMs"] = json!(50_000);
    let caller = spawn_client(Lang::Python, &env.url(), &prefix, input);
    let pid = caller.id().to_string();
    let group_state = |field: &str| -> i64 {
        let info: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query(&mut env.raw())
            .unwrap();
        info.first()
            .and_then(|g| g.get(field))
            .and_then(|v| redis::from_redis_value_ref::<i64>(v).ok())
            .unwrap_or(0)
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(40);
        while !done() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("every call queued", &|| {
        redis::cmd("XLEN")
            .arg(&stream)
            .query::<usize>(&mut env.raw())
            .unwrap()
            == CALLS
    });
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let opts = ServerOpts {
        concurrency: 32,
        ..ServerOpts::default()
    };
    let server = Server::start(Lang::Rust, &env.url(), &prefix, opts);
    wait("every call answered and acknowledged", &|| {
        group_state("entries-read") == CALLS as i64 && group_state("pending") == 0
    });
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let r = client_results(Lang::Python, caller);
    assert_eq!(r.len(), CALLS);
    let lost = r.iter().filter(|x| x["ok"] != json!(true)).count();
    eprintln!("backlog to a paused Python client: {CALLS} calls, {lost} lost");
    assert_eq!(
        lost,
        0,
        "first failure: {}",
        r.iter()
            .find(|x| x["ok"] != json!(true))
            .unwrap_or(&Value::Null)
    );
    for x in &r {
        assert_result(x, json!({"sum": 3}), "backlog add");
    }
    assert_eq!(server.stop(), CALLS as u64);
}
