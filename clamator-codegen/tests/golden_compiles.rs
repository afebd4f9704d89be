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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_protocol::{Client, MemoryTransport, Router, RpcError};
use serde_json::{from_value, json, to_value, Value};

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
    let r: arrays::GetResult = from_value(json!([1, 2])).unwrap();
    assert_eq!(r, [1, 2]);
    assert!(
        from_value::<arrays::GetResult>(json!([1.5])).is_err(),
        "an array of integers took a float"
    );
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

/// The `objects` service for the tests: remembers what `get` was called with and answers
/// `ok: age > 0`; `notify` says it ran.
#[derive(Clone)]
struct Objects {
    seen: Arc<Mutex<Vec<objects::GetParams>>>,
    notified: tokio::sync::mpsc::UnboundedSender<()>,
}

impl objects::ObjectsService for Objects {
    async fn get(&self, params: objects::GetParams) -> Result<objects::GetResult, RpcError> {
        let ok = params.age > 0;
        self.seen.lock().unwrap().push(params);
        Ok(objects::GetResult::new(ok))
    }

    async fn notify(&self, _params: objects::NotifyParams) -> Result<(), RpcError> {
        let _ = self.notified.send(());
        Ok(())
    }
}

#[tokio::test]
async fn clients_over_a_transport_or_a_client_reach_the_generated_service() {
    let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let service = Objects {
        seen: Arc::default(),
        notified,
    };
    let router = Router::new()
        .with(objects::objects_service(service.clone()).unwrap())
        .unwrap();
    let transport = MemoryTransport::new(router);
    let from_transport = objects::ObjectsClient::new(transport.clone());
    let from_client = objects::ObjectsClient::new(Client::new(transport.clone()));
    let first = objects::GetParams::new("a", 3);
    let second = objects::GetParams {
        nick_name: Some("b".into()),
        ..objects::GetParams::new("c", -1)
    };
    assert_eq!(
        from_transport.get(&first).await.unwrap(),
        objects::GetResult::new(true)
    );
    assert_eq!(
        from_client.get(&second).await.unwrap(),
        objects::GetResult::new(false)
    );
    assert_eq!(*service.seen.lock().unwrap(), [first, second]);
    // Params the contract refuses are refused by the service's validator; the handler
    // never sees them.
    let refused = Client::new(transport)
        .call::<_, Value>("objects", "get", &json!({"name": "a", "age": "3"}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(-32602), "{refused}");
    assert_eq!(service.seen.lock().unwrap().len(), 2);
    from_client
        .notify(&objects::NotifyParams::new())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), notifications.recv())
        .await
        .expect("the notification was not handled within 10 s")
        .unwrap();
}

/// The `names` service for the tests: echoes what it was given.
struct Names {
    imported: Arc<Mutex<Vec<names::ImportParams>>>,
}

impl names::NamesService for Names {
    async fn client(&self, _params: names::ClientParams) -> Result<(), RpcError> {
        Ok(())
    }

    async fn constructor(&self, _params: names::ConstructorParams) -> Result<(), RpcError> {
        Ok(())
    }

    async fn get_http_item(
        &self,
        params: names::GetHttpItemParams,
    ) -> Result<names::GetHttpItemResult, RpcError> {
        if params.int < 0 {
            return Err(RpcError::new(-32000, "negative"));
        }
        Ok(names::GetHttpItemResult::new())
    }

    async fn import(&self, params: names::ImportParams) -> Result<names::ImportResult, RpcError> {
        self.imported.lock().unwrap().push(params);
        Ok(names::Field::new(names::BaseModel::A))
    }
}

#[tokio::test]
async fn keywords_and_names_that_are_no_identifiers_keep_their_wire_names() {
    let params = names::ImportParams {
        json: Some(1),
        id: Some("i".into()),
        f_2x: Some(true),
        dark_blue: Some("d".into()),
        model_name: Some("m".into()),
        ..names::ImportParams::new("c")
    };
    let wire = json!({"class": "c", "json": 1, "_id": "i", "2x": true, "dark-blue": "d", "modelName": "m"});
    assert_eq!(to_value(&params).unwrap(), wire);
    assert_eq!(from_value::<names::ImportParams>(wire).unwrap(), params);
    assert_eq!(
        to_value(names::Field::new(names::BaseModel::A)).unwrap(),
        json!({"BaseModel": "a"})
    );
    // Through the generated client and service: `import` and `getHTTPItem` on the wire.
    let imported = Arc::new(Mutex::new(Vec::new()));
    let service = names::names_service(Names {
        imported: Arc::clone(&imported),
    })
    .unwrap();
    let transport = MemoryTransport::new(Router::new().with(service).unwrap());
    let client = names::NamesClient::new(transport.clone());
    let field = client.import(&params).await.unwrap();
    assert_eq!(field.base_model, names::BaseModel::A);
    assert_eq!(*imported.lock().unwrap(), [params]);
    assert_eq!(
        client.get_http_item(&names::Promise::new(3)).await.unwrap(),
        names::GetHttpItemResult::new()
    );
    let negative = client
        .get_http_item(&names::Promise::new(-1))
        .await
        .unwrap_err();
    assert_eq!(negative.code(), Some(-32000), "{negative}");
    let raw: Value = Client::new(transport)
        .call("names", "getHTTPItem", &json!({"int": 4}))
        .await
        .unwrap();
    assert_eq!(raw, json!({}));
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
