//! `clamator events rewind`: a subscriber moved back to replay events, or forward to skip
//! them, as `rewind_subscriber` does.

use clamator_testkit::local_redis::RedisProcess;

use crate::{clamator, redis_conn, subscriber_behind};

/// Where the group `billing` on `e1:events:orders` stands: its last delivered id.
async fn last_delivered(conn: &mut redis::aio::MultiplexedConnection) -> String {
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("e1:events:orders")
        .query_async(conn)
        .await
        .unwrap();
    groups
        .groups
        .iter()
        .find(|g| g.name == "billing")
        .unwrap()
        .last_delivered_id
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_is_rewound_and_moved_forward() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = redis_conn(&redis).await;
    subscriber_behind(&mut conn, "e1").await;
    let ids: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("e1:events:orders")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(last_delivered(&mut conn).await, ids.ids[1].id);

    let oldest = clamator(
        &url,
        "e1",
        &[
            "events", "rewind", "orders", "billing", "--to", "oldest", "--json",
        ],
    )
    .await;
    assert_eq!(oldest.code, 0, "{oldest:?}");
    assert_eq!(oldest.json()["stream"], "e1:events:orders");
    assert_eq!(last_delivered(&mut conn).await, "0-0");

    let now = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "billing", "--to", "now"],
    )
    .await;
    assert_eq!(now.code, 0, "{now:?}");
    assert!(
        now.stdout
            .contains("billing on e1:events:orders moved to now"),
        "{now:?}"
    );
    assert_eq!(last_delivered(&mut conn).await, ids.ids[4].id);

    // An hour ago: before every event here, so all of them come again.
    let hour = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "billing", "--to", "1h"],
    )
    .await;
    assert_eq!(hour.code, 0, "{hour:?}");
    let at = last_delivered(&mut conn).await;
    assert!(at.as_str() < ids.ids[0].id.as_str(), "{at}");

    let nobody = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "nobody", "--to", "now"],
    )
    .await;
    assert_eq!(nobody.code, 1, "{nobody:?}");
    assert!(
        nobody.stderr.contains("no subscriber \"nobody\""),
        "{nobody:?}"
    );
    let bad = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "billing", "--to", "yesterday"],
    )
    .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    // Nothing moved by the refused ones.
    assert_eq!(last_delivered(&mut conn).await, at);
}
