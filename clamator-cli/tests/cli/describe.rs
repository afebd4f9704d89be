//! `clamator describe`: the published contract, whole or one method; exit 1 when none is
//! published or the method is not in it.

use clamator_testkit::local_redis::RedisProcess;

use crate::{clamator, publish, published_arith};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_reads_the_published_contract() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let doc = published_arith("clamator-rs 0.1.0");
    publish(&redis, "d1", "arith", &doc).await;

    let whole = clamator(&url, "d1", &["describe", "arith", "--json"]).await;
    assert_eq!(whole.code, 0, "{whole:?}");
    assert_eq!(whole.json(), doc);

    let one = clamator(&url, "d1", &["describe", "arith.slowAdd", "--json"]).await;
    assert_eq!(one.code, 0, "{one:?}");
    let m = one.json();
    assert_eq!(m["service"], "arith");
    assert_eq!(m["publishedBy"], "clamator-rs 0.1.0");
    assert_eq!(m["method"]["name"], "slowAdd");
    assert_eq!(m["method"]["paramsHash"], "slowAdd-params-hash");
    assert_eq!(m["method"]["paramsSchema"]["required"][2], "sleepMs");

    let table = clamator(&url, "d1", &["describe", "arith"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    for word in [
        "add",
        "divide",
        "echoText",
        "slowAdd",
        "a, b, sleepMs",
        "clamator-rs 0.1.0",
        // publishedAt 1,700,000,000,000 ms, as people read a time.
        "at 2023-11-14T22:13:20Z (",
    ] {
        assert!(
            table.stdout.contains(word),
            "{word} missing: {}",
            table.stdout
        );
    }

    let none = clamator(&url, "d1", &["describe", "inventory", "--json"]).await;
    assert_eq!(none.code, 1, "{none:?}");
    assert_eq!(none.json()["error"]["kind"], "remote");
    assert!(none.stderr.contains("no contract published"), "{none:?}");

    let no_method = clamator(&url, "d1", &["describe", "arith.sub"]).await;
    assert_eq!(no_method.code, 1, "{no_method:?}");
    assert!(no_method.stderr.contains("it has: add"), "{no_method:?}");

    // A published document that is not JSON is the publisher's fault, not ours.
    let mut conn = crate::redis_conn(&redis).await;
    let _: () = redis::cmd("SET")
        .arg("d1:contracts:broken")
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    let broken = clamator(&url, "d1", &["describe", "broken"]).await;
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stderr.contains("not valid JSON"), "{broken:?}");
}
