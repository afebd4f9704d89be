//! The golden files are real Rust: they compile here, and their types behave on the wire.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code,
    unreachable_pub
)]

#[path = "golden/arrays.rs"]
mod arrays;
#[path = "golden/defaults.rs"]
mod defaults;
#[path = "golden/enums.rs"]
mod enums;
#[path = "golden/events.rs"]
mod events;
#[path = "golden/named.rs"]
mod named;
#[path = "golden/names.rs"]
mod names;
#[path = "golden/nested.rs"]
mod nested;
#[path = "golden/nullable.rs"]
mod nullable;
#[path = "golden/objects.rs"]
mod objects;
#[path = "golden/records.rs"]
mod records;
#[path = "golden/refs.rs"]
mod refs;
#[path = "golden/scalars.rs"]
mod scalars;
#[path = "golden/tagged-union.rs"]
mod tagged_union;
#[path = "golden/untagged-union.rs"]
mod untagged_union;

use serde_json::{from_value, json, to_value};

#[test]
fn objects_keep_wire_names_omit_unset_optionals_and_ignore_unknown_keys() {
    // `new` takes the required properties; optional ones start absent.
    let p = objects::GetParams::new("a", 3);
    assert_eq!(
        p,
        objects::GetParams {
            name: "a".into(),
            age: 3,
            nick_name: None,
        }
    );
    assert_eq!(to_value(&p).unwrap(), json!({"name": "a", "age": 3}));
    let back: objects::GetParams =
        from_value(json!({"name": "a", "age": 3, "nickName": null})).unwrap();
    assert_eq!(back.nick_name, None);
    // Even under additionalProperties: false, decoding ignores unknown keys (a result that
    // gained a field still decodes); the server's schema validation refuses them in params.
    let wider: objects::GetParams = from_value(json!({"name": "a", "age": 3, "x": 1})).unwrap();
    assert_eq!(wider, p);
    let r: objects::GetResult = from_value(json!({"ok": true, "extra": 1})).unwrap();
    assert!(r.ok);
}

#[test]
fn structs_without_required_properties_have_a_default() {
    let d = defaults::GetParams::default();
    assert_eq!(d, from_value::<defaults::GetParams>(json!({})).unwrap());
    assert_eq!(defaults::GetParams::new(), d);
}

#[test]
fn untagged_alternatives_still_refuse_unknown_keys_to_tell_themselves_apart() {
    let r: untagged_union::GetResult = from_value(json!({"ok": false, "error": "nope"})).unwrap();
    assert!(matches!(r, untagged_union::GetResult::Variant2(_)), "{r:?}");
    // Keys of both alternatives fit neither, rather than the first one silently.
    let both = json!({"ok": true, "pid": 1, "error": "nope"});
    assert!(from_value::<untagged_union::GetResult>(both).is_err());
}

#[test]
fn records_nullable_enums_and_defaults() {
    let r: records::GetResult = from_value(json!({"known": "k", "a": 1.5})).unwrap();
    assert_eq!(r.additional_properties["a"], 1.5);
    let n = nullable::GetParams {
        a: None,
        b: Some("x".into()),
        c: None,
    };
    assert_eq!(to_value(&n).unwrap(), json!({"a": null, "b": "x"}));
    let e: enums::GetParams = from_value(json!({"color": "dark-blue", "kind": "fixed"})).unwrap();
    assert_eq!(e.color, enums::GetParamsColor::DarkBlue);
    assert!(from_value::<enums::GetParams>(json!({"color": "green", "kind": "fixed"})).is_err());
    let d: defaults::GetParams = from_value(json!({})).unwrap();
    assert_eq!(
        (
            d.limit,
            d.ratio,
            d.name.as_str(),
            d.on,
            d.sort,
            d.list.len()
        ),
        (10, 0.5, "x", true, defaults::GetParamsSort::Desc, 0)
    );
}

#[test]
fn unions_arrays_nested_and_refs() {
    let shape: tagged_union::GetResult =
        from_value(json!({"kind": "rect", "w": 1, "h": 2})).unwrap();
    assert_eq!(shape, tagged_union::GetResult::Rect { w: 1.0, h: 2.0 });
    assert_eq!(
        to_value(tagged_union::GetResult::Empty {}).unwrap(),
        json!({"kind": "empty"})
    );
    let u: untagged_union::GetResult = from_value(json!({"ok": false, "error": "boom"})).unwrap();
    assert!(matches!(u, untagged_union::GetResult::Variant2(ref v) if v.error == "boom"));
    let id: untagged_union::GetParamsId = from_value(json!(7)).unwrap();
    assert_eq!(id, untagged_union::GetParamsId::Integer(7));
    let a: arrays::GetParams =
        from_value(json!({"tags": ["t"], "points": [{"x": 1, "y": 2}], "anything": [1, "a"]}))
            .unwrap();
    assert_eq!(a.points[0].y, 2.0);
    let r: arrays::GetResult = vec![1, 2];
    assert_eq!(r.len(), 2);
    let n: nested::GetParams =
        from_value(json!({"outer": {"inner": {"leaf": "l"}}, "list": [{"v": 1}]})).unwrap();
    assert_eq!(n.outer.inner.leaf, "l");
    let p: refs::GetResult = refs::Point { x: 1.0, y: 2.0 };
    let params = refs::GetParams {
        from: p.clone(),
        to: p,
        label: Some("short".into()),
    };
    assert_eq!(to_value(&params).unwrap()["label"], "short");
    let s: scalars::GetParams = from_value(
        json!({"i": 1, "n": 0.5, "s": "2026-01-01T00:00:00Z", "b": true, "z": null, "any": [1]}),
    )
    .unwrap();
    assert_eq!(s.any, json!([1]));
}

#[test]
fn clients_take_a_transport_or_a_client() {
    use clamator_protocol::{Client, MemoryTransport, Router};

    let transport = || MemoryTransport::new(Router::new());
    let _from_transport = objects::ObjectsClient::new(transport());
    let _from_client = objects::ObjectsClient::new(Client::new(transport()));
}

#[test]
fn titles_name_types_and_identical_inline_enums_are_one_type() {
    let p = named::PlaceParams::new(named::Address::new("Lyon"), named::PlaceParamsStatus::Open);
    // The result's two `status`-like enums are the params' one: the same type, assignable.
    let r = named::PlaceResult::new(p.status, p.status, named::PlaceResultOther::Closed);
    assert_eq!(
        to_value(&r).unwrap(),
        json!({"status": "open", "previous": "open", "other": "closed"})
    );
}

#[test]
fn events_give_payload_types_a_publisher_and_a_subscriber_of_every_event() {
    // A subscriber implements only what it wants; the defaults fill in the rest.
    struct Placed;
    impl events::OrdersSubscriber for Placed {
        async fn order_placed(
            &self,
            _payload: events::OrderPlacedPayload,
        ) -> Result<(), clamator_protocol::RpcError> {
            Ok(())
        }
    }
    let service = events::orders_subscriber(Placed).unwrap();
    assert_eq!(service.name(), "orders", "named after the publisher");
    assert!(
        service.contract().is_none(),
        "the events are not the service's contract"
    );
    let names: Vec<String> = service
        .descriptor()
        .methods
        .iter()
        .map(|m| {
            assert!(m.notification);
            m.name.clone()
        })
        .collect();
    assert_eq!(names, ["orderCancelled", "orderPlaced", "stockLow"]);
    let listed: Vec<&str> = events::ORDERS_EVENTS.iter().map(|e| e.name).collect();
    assert_eq!(listed, ["orderCancelled", "orderPlaced", "stockLow"]);
    assert_eq!(
        events::ORDERS_EVENTS[2].payload_schema,
        events::STOCK_LOW_PAYLOAD_SCHEMA
    );
    let router = clamator_protocol::Router::new();
    events::OrdersEvents::new(clamator_protocol::MemoryTransport::new(router)).unwrap();
    // Payloads are the wire shape.
    let p = events::OrderPlacedPayload::new(
        events::Order::new("o-1", 4.5),
        events::OrderPlacedPayloadChannel::Web,
    );
    assert_eq!(
        to_value(&p).unwrap(),
        json!({"order": {"orderId": "o-1", "total": 4.5}, "channel": "web"})
    );
}
