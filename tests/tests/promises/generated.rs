//! Generated code end to end: every method of every contract through the generated clients,
//! over the in-memory transport and over Redis, validation failures with their paths, and
//! the `build.rs` path matching the committed code.

use std::sync::{Arc, Mutex};

use clamator_examples::generated::inventory::{
    self as inv, AddItemParams, AddItemResult, AddItemResultRejectedReason, GetItemParams,
    InventoryClient, InventoryError, InventoryService, Item, ItemAttributesValue,
    ItemChangedParams, ItemChangedParamsChange, ItemDimensions, Kind, OutOfStockData,
    ReserveParams, ReserveResult, SearchParams, SearchParamsFilters, SearchParamsSort,
    SetMetadataParams,
};
use clamator_protocol::{codes, Client, ClientTransport, MemoryTransport, Router, RpcError};
use clamator_redis::RedisServer;
use clamator_tests::TestRedis;
use serde_json::{json, Value};

/// An inventory whose `search` can be told to return an invalid result.
#[derive(Clone, Default)]
struct Inventory {
    items: Arc<Mutex<Vec<Item>>>,
    seen_searches: Arc<Mutex<Vec<SearchParams>>>,
    changes: Arc<Mutex<Vec<ItemChangedParams>>>,
}

impl InventoryService for Inventory {
    async fn add_item(&self, p: AddItemParams) -> Result<AddItemResult, RpcError> {
        let mut items = self.items.lock().unwrap();
        if items.iter().any(|i| i.id == p.item.id) {
            return Ok(AddItemResult::Rejected {
                reason: AddItemResultRejectedReason::Duplicate,
                detail: None,
            });
        }
        if !p.dry_run {
            items.push(p.item);
        }
        Ok(AddItemResult::Created {
            id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
            created_at: "2026-11-22T10:00:00Z".into(),
        })
    }

    async fn get_item(&self, p: GetItemParams) -> Result<inv::GetItemResult, RpcError> {
        let item = self
            .items
            .lock()
            .unwrap()
            .iter()
            .find(|i| i.id == p.id)
            .cloned();
        let stock = [("main".to_owned(), 3), ("spare".to_owned(), 0)]
            .into_iter()
            .collect();
        Ok(inv::GetItemResult { item, stock })
    }

    async fn search(&self, p: SearchParams) -> Result<inv::SearchResult, RpcError> {
        self.seen_searches.lock().unwrap().push(p.clone());
        let items: Vec<Item> = self
            .items
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i.name.contains(&p.query))
            .cloned()
            .collect();
        // "broken" makes the result break its schema (total must be >= 0).
        let total = if p.query == "broken" {
            -1
        } else {
            items.len() as i64
        };
        Ok(inv::SearchResult {
            items,
            total,
            next: None,
        })
    }

    async fn set_metadata(
        &self,
        _p: SetMetadataParams,
    ) -> Result<inv::SetMetadataResult, RpcError> {
        Ok(inv::SetMetadataResult {})
    }

    async fn item_changed(&self, p: ItemChangedParams) -> Result<(), RpcError> {
        self.changes.lock().unwrap().push(p);
        Ok(())
    }

    async fn reserve(&self, p: ReserveParams) -> Result<ReserveResult, RpcError> {
        // `?` on a declared error answers with its own code and data.
        let available = self.stock_of(&p.id)?;
        if p.quantity > available {
            return Err(InventoryError::OutOfStock(OutOfStockData::new(available)).into());
        }
        Ok(ReserveResult::new(available - p.quantity))
    }
}

impl Inventory {
    /// Every known item has three units.
    fn stock_of(&self, id: &str) -> Result<i64, InventoryError> {
        let known = self.items.lock().unwrap().iter().any(|i| i.id == id);
        known.then_some(3).ok_or(InventoryError::ItemNotFound)
    }
}

fn lamp() -> Item {
    Item {
        id: "lamp-1".into(),
        name: "Desk lamp".into(),
        price: 19.5,
        kind: Kind::Physical,
        dimensions: Some(ItemDimensions {
            width: 10.0,
            height: 40.0,
        }),
        attributes: Some(
            [
                (
                    "color".to_owned(),
                    ItemAttributesValue::String("red".into()),
                ),
                ("watts".to_owned(), ItemAttributesValue::Number(5.0)),
            ]
            .into_iter()
            .collect(),
        ),
    }
}

/// Every inventory method through `client`, checking results and what the server saw.
async fn exercise(client: Client, service: &Inventory) {
    let inventory = InventoryClient::new(client.clone());
    let created = inventory
        .add_item(&AddItemParams {
            item: lamp(),
            tags: Some(vec!["desk".into()]),
            dry_run: false,
        })
        .await
        .unwrap();
    assert!(
        matches!(created, AddItemResult::Created { ref created_at, .. } if created_at == "2026-11-22T10:00:00Z")
    );
    let again = inventory
        .add_item(&AddItemParams {
            item: lamp(),
            tags: None,
            dry_run: false,
        })
        .await
        .unwrap();
    assert_eq!(
        again,
        AddItemResult::Rejected {
            reason: AddItemResultRejectedReason::Duplicate,
            detail: None
        }
    );

    let got = inventory
        .get_item(&GetItemParams {
            id: "lamp-1".into(),
        })
        .await
        .unwrap();
    assert_eq!(got.item, Some(lamp()));
    assert_eq!(got.stock["main"], 3);
    assert_eq!(
        inventory
            .get_item(&GetItemParams { id: "nope".into() })
            .await
            .unwrap()
            .item,
        None
    );

    let found = inventory
        .search(&SearchParams {
            query: "chair".into(),
            limit: 5,
            sort: SearchParamsSort::Desc,
            filters: None,
        })
        .await
        .unwrap();
    assert_eq!((found.total, found.next.as_deref()), (0, None));
    let found = inventory
        .search(&SearchParams {
            query: "Desk".into(),
            limit: 5,
            sort: SearchParamsSort::Asc,
            filters: Some(SearchParamsFilters {
                min_price: Some(1.0),
                max_price: None,
                kinds: Some(vec![Kind::Physical]),
            }),
        })
        .await
        .unwrap();
    assert_eq!(found.items, vec![lamp()]);

    let meta = inventory
        .set_metadata(&SetMetadataParams {
            id: "lamp-1".into(),
            metadata: json!({"any": ["json", 1]}),
            labels: None,
        })
        .await
        .unwrap();
    assert_eq!(meta, inv::SetMetadataResult {});

    inventory
        .item_changed(&ItemChangedParams {
            id: "lamp-1".into(),
            version: "v1".into(),
            change: ItemChangedParamsChange::Number(2.0),
            at: None,
        })
        .await
        .unwrap();

    // Defaults fill what the caller left out; `null` is accepted for optional fields.
    let _: Value = client
        .call("inventory", "search", &json!({"query": "x"}))
        .await
        .unwrap();
    let seen = service
        .seen_searches
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(
        (seen.limit, seen.sort, seen.filters),
        (10, SearchParamsSort::Asc, None)
    );
    let r: Value = client
        .call("inventory", "addItem", &json!({"item": {"id": "x", "name": "X", "price": 1, "kind": "digital"}, "tags": null, "dryRun": true}))
        .await
        .unwrap();
    assert_eq!(r["status"], "created");

    // Invalid params: -32602 naming the path.
    for (params, path) in [
        (json!({"id": "UPPER"}), "/id"),
        (json!({"id": ""}), "/id"),
        (json!({"id": "a", "extra": 1}), ""),
    ] {
        let err = client
            .call::<_, Value>("inventory", "getItem", &params)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(codes::INVALID_PARAMS), "{params}");
        assert_eq!(
            err.as_rpc().unwrap().data["errors"][0]["path"],
            path,
            "{params}: {err}"
        );
    }
    let err = client
        .call::<_, Value>(
            "inventory",
            "addItem",
            &json!({"item": {"id": "x", "name": "X", "price": -1, "kind": "digital"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.as_rpc().unwrap().data["errors"][0]["path"],
        "/item/price"
    );
    let err = client
        .call::<_, Value>("inventory", "search", &json!({"query": "q", "limit": 0}))
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().data["errors"][0]["path"], "/limit");

    // Declared errors come back typed; on the wire they are plain JSON-RPC error objects.
    let reserve = |id: &str, quantity| ReserveParams::new(id, quantity);
    assert_eq!(
        inventory
            .reserve(&reserve("lamp-1", 2))
            .await
            .unwrap()
            .remaining,
        1
    );
    let err = inventory.reserve(&reserve("lamp-1", 5)).await.unwrap_err();
    assert_eq!(
        InventoryError::from_error(&err),
        Some(InventoryError::OutOfStock(OutOfStockData::new(3)))
    );
    let rpc = err.as_rpc().unwrap();
    assert_eq!(
        (rpc.code, rpc.message.as_str(), &rpc.data),
        (4009, "not enough stock", &json!({"available": 3}))
    );
    let err = inventory.reserve(&reserve("nope", 1)).await.unwrap_err();
    assert_eq!(
        InventoryError::from_error(&err),
        Some(InventoryError::ItemNotFound)
    );
    assert_eq!(err.as_rpc().unwrap().data, Value::Null);
    // Any other error is not one of them.
    assert_eq!(
        InventoryError::from_rpc(&RpcError::new(4004 + 1, "x")),
        None
    );

    // Invalid result: -32603 "Result validation failed" naming the path.
    let err = client
        .call::<_, Value>("inventory", "search", &json!({"query": "broken"}))
        .await
        .unwrap_err();
    let rpc = err.as_rpc().unwrap();
    assert_eq!(
        (rpc.code, rpc.message.as_str()),
        (codes::INTERNAL_ERROR, "Result validation failed")
    );
    assert_eq!(rpc.data["errors"][0]["path"], "/total");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_round_trips_over_the_memory_transport() {
    let service = Inventory::default();
    let router = Router::new()
        .with(inv::inventory_service(service.clone()).unwrap())
        .unwrap();
    exercise(Client::new(MemoryTransport::new(router)), &service).await;
    // The notification ran (the memory transport runs it on its own task).
    for _ in 0..100 {
        if !service.changes.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        service.changes.lock().unwrap()[0].change,
        ItemChangedParamsChange::Number(2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_round_trips_over_redis() {
    let t = TestRedis::start();
    let service = Inventory::default();
    let h = t
        .serve(
            RedisServer::builder(t.server_config())
                .service(inv::inventory_service(service.clone()).unwrap()),
        )
        .await;
    exercise(h.client.clone(), &service).await;
    clamator_tests::wait_for(
        "notification handled",
        std::time::Duration::from_secs(10),
        || async { !service.changes.lock().unwrap().is_empty() },
    )
    .await;
    // Unset optional fields were omitted on the wire, not sent as null.
    let mut raw = t.raw().await;
    let sent = clamator_tests::stream_envelopes(&mut raw, &t.cmds("inventory")).await;
    let changed = sent
        .iter()
        .find(|e| e["method"] == "inventory.itemChanged")
        .unwrap();
    assert_eq!(
        changed["params"],
        json!({"id": "lamp-1", "version": "v1", "change": 2.0})
    );
    h.stop().await;
}

#[tokio::test]
async fn arith_round_trips_through_generated_clients() {
    use clamator_examples::arith::{
        self, AddParams, ArithClient, DivideParams, EchoTextParams, SlowAddParams,
    };
    let router = Router::new()
        .with(arith::arith_service(Default::default()).unwrap())
        .unwrap();
    let transport: Arc<dyn ClientTransport> = Arc::new(MemoryTransport::new(router));
    let client = ArithClient::new(Client::from_arc(transport));
    assert_eq!(
        client.add(&AddParams { a: 2.0, b: 3.0 }).await.unwrap().sum,
        5.0
    );
    assert_eq!(
        client
            .divide(&DivideParams { a: 1.0, b: 4.0 })
            .await
            .unwrap()
            .q,
        0.25
    );
    assert_eq!(
        client
            .divide(&DivideParams { a: 1.0, b: 0.0 })
            .await
            .unwrap_err()
            .code(),
        Some(-32000)
    );
    assert_eq!(
        client
            .echo_text(&EchoTextParams {
                text: "é✓".into()
            })
            .await
            .unwrap()
            .text,
        "é✓"
    );
    let slow = client
        .slow_add_with(
            &SlowAddParams {
                a: 1.0,
                b: 2.0,
                sleep_ms: 500,
            },
            clamator_protocol::CallOptions::timeout(std::time::Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    assert!(slow.is_timeout());
}

#[test]
fn build_rs_output_matches_the_committed_code() {
    use clamator_examples::generated as committed;
    use clamator_tests::built;
    assert_eq!(
        built::arith::ARITH_CONTRACT,
        committed::arith::ARITH_CONTRACT
    );
    assert_eq!(
        built::inventory::INVENTORY_CONTRACT,
        committed::inventory::INVENTORY_CONTRACT
    );
    assert_eq!(
        built::notifications::NOTIFICATIONS_CONTRACT,
        committed::notifications::NOTIFICATIONS_CONTRACT
    );
    assert_eq!(
        committed::arith::ARITH_CONTRACT
            .method("add")
            .unwrap()
            .params_hash,
        "70e6175edca7384fd05004b0efc43493bcee78a57bf4a72fd005beb890965b6a"
    );
}
