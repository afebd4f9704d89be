//! Deployment modes: the mode changes how Rust connects, not a byte on the wire.

use std::time::Duration;

use clamator_testkit::local_cluster::SentinelGroup;
use serde_json::json;

use crate::harness::{assert_result, calls, Lang, ServerOpts, Trial, DIRECTIONS};

/// On a Sentinel deployment, Rust peers in sentinel mode (`redis+sentinel://…/<master>`)
/// and Python peers pointed at the master share services both ways.
#[test]
fn peers_share_services_on_a_sentinel_deployment() {
    let group = SentinelGroup::start("interop", Duration::from_secs(5)).unwrap();
    let sentinels = group.url().replace("redis://", "");
    let rust_url = format!("redis+sentinel://{sentinels}/interop");
    let python_url = format!("redis://127.0.0.1:{}", group.master_port().unwrap());
    let url_of = |lang: Lang| match lang {
        Lang::Rust => rust_url.clone(),
        Lang::Python => python_url.clone(),
    };
    for (s, c) in DIRECTIONS {
        let t = Trial {
            server: s,
            client: c,
            prefix: format!("sentinel-{}-{}", c.tag(), s.tag()),
            server_url: url_of(s),
            client_url: url_of(c),
        };
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([
                {"method": "arith.add", "params": {"a": 2, "b": 3}},
                {"method": "arith.echoText", "params": {"text": "über"}},
            ])),
        );
        assert_result(&x.results[0], json!({"sum": 5}), "add");
        assert_result(&x.results[1], json!({"text": "über"}), "echoText");
        assert_eq!(x.handled, 2);
    }
}
