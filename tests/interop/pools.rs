//! Worker pools: servers of one consumer group share the work, whether they are of one
//! language or of both.

use serde_json::{json, Value};

use crate::harness::{assert_result, both_ways, calls, Env, Lang, Server, ServerOpts};

#[test]
fn worker_pool_shares_the_work() {
    both_ways("worker-pool", |_, t| {
        let instance = |instance| ServerOpts {
            instance,
            ..ServerOpts::default()
        };
        let a = t.start_server(instance("srv-A"));
        let b = t.start_server(instance("srv-B"));
        let list: Vec<Value> = (0..50)
            .map(|_| json!({"method": "arith.add", "params": {"a": 1, "b": 1}}))
            .collect();
        let r = t.call(calls(json!(list)));
        assert_eq!(r.len(), 50, "{r:?}");
        for x in &r {
            assert_result(x, json!({"sum": 2}), "pooled add");
        }
        let (na, nb) = (a.stop(), b.stop());
        assert_eq!(na + nb, 50);
        assert!(na >= 5 && nb >= 5, "uneven: srv-A {na}, srv-B {nb}");
    });
}

#[test]
fn a_mixed_pool_shares_one_consumer_group() {
    let env = Env::new();
    for c in [Lang::Python, Lang::Rust] {
        let t = env.trial("mixed-pool", Lang::Rust, c);
        let instance = |instance| ServerOpts {
            instance,
            ..ServerOpts::default()
        };
        let rust = Server::start(Lang::Rust, &t.server_url, &t.prefix, instance("srv-rs"));
        let py = Server::start(Lang::Python, &t.server_url, &t.prefix, instance("srv-py"));
        let list: Vec<Value> = (0..50)
            .map(|i| json!({"method": "arith.add", "params": {"a": i, "b": 1}}))
            .collect();
        let r = t.call(calls(json!(list)));
        assert_eq!(r.len(), 50, "{r:?}");
        for (i, x) in r.iter().enumerate() {
            assert_result(x, json!({"sum": i + 1}), "pooled add");
        }
        let (nr, np) = (rust.stop(), py.stop());
        assert_eq!(nr + np, 50);
        assert!(nr >= 5 && np >= 5, "uneven: Rust {nr}, Python {np}");
        env.clean(&t.prefix);
    }
}
