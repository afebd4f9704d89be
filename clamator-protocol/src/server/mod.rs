//! The server core: services, their methods, and dispatch in clamator's validation order.
//!
//! For each request or notification a [`Service`] does, in this order (clamator's):
//! 1. unknown method → `-32601 Method not found` (notifications: dropped);
//! 2. params checked by the method's validator, then decoded into the handler's type;
//!    either failing → `-32602 Invalid params` with `{"errors": [{"path", "message"}]}`;
//! 3. the handler runs; an [`RpcError`](crate::RpcError) it returns is passed through
//!    unchanged, a panic becomes `-32603 Internal error`;
//! 4. notifications are never answered;
//! 5. the result is serialized and checked by the result validator; failing →
//!    `-32603 Result validation failed`.
//!
//! [`Method`] holds a typed handler (params decoded, panics caught) and its validators;
//! [`Service`] runs the steps above over its methods; [`ServiceBuilder`] checks names and
//! the declared contract when it builds one; [`Router`] picks the service by name.

mod builder;
mod decode;
mod method;
mod router;
mod service;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

pub use self::builder::ServiceBuilder;
pub use self::method::Method;
pub use self::router::Router;
pub use self::service::{EncodedReply, EventOutcome, Service};
use crate::error::ValidationIssue;

/// A boxed, `Send` future, the return type of object-safe async traits here.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Checks a JSON value against a schema; generated code plugs JSON Schema validators in here.
///
/// Any `Fn(&Value) -> Result<(), Vec<ValidationIssue>>` is a validator.
pub trait Validator: Send + Sync + 'static {
    /// `Ok` when `value` conforms, otherwise everything found wrong with it.
    fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>>;

    /// Whether one check may take long enough (milliseconds) to hold up an async worker.
    /// A [`Service`] runs the checks of such a validator on tokio's blocking threads (when
    /// there is a runtime), so the workers go on answering other calls and renewing leases;
    /// the default, `false`, checks inline, which suits checks taking microseconds.
    /// [`SchemaValidator`](crate::SchemaValidator) says `true` for a schema with patterns
    /// only the backtracking engine takes.
    fn may_block(&self) -> bool {
        false
    }

    /// `true` when `json`, the text of one value, surely conforms: [`validate`](Self::validate)
    /// would find nothing wrong with it. `false` says nothing; the value is then parsed and
    /// validated as usual. Generated services' typed path decodes params and checks results
    /// straight from their text when this says `true`, with no [`Value`] built. The default
    /// is never sure; [`SchemaValidator`](crate::SchemaValidator) reads the text against the
    /// schema.
    fn surely_accepts(&self, json: &str) -> bool {
        let _ = json;
        false
    }

    /// This validator as a [`SchemaValidator`](crate::SchemaValidator), when it is one: the
    /// typed path then checks a typed result before writing it
    /// ([`SchemaValidator::surely_accepts_value`](crate::SchemaValidator::surely_accepts_value)).
    fn as_schema(&self) -> Option<&crate::SchemaValidator> {
        None
    }
}

impl<F> Validator for F
where
    F: Fn(&Value) -> Result<(), Vec<ValidationIssue>> + Send + Sync + 'static,
{
    fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>> {
        self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ContractInfo;
    use crate::envelope::{parse_envelope, Envelope, Notification, Request};
    use crate::error::{codes, RpcError};
    use serde::Deserialize;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AddParams {
        a: f64,
        b: f64,
    }

    #[derive(Deserialize)]
    struct Count {
        n: u32,
    }

    fn arith(pings: Arc<AtomicUsize>) -> Service {
        Service::builder("arith")
            .method("add", |p: AddParams| async move {
                Ok(json!({"sum": p.a + p.b}))
            })
            .method("count", |p: Count| async move { Ok(p.n + 1) })
            .method("fail", |_: Value| async move {
                Err::<Value, _>(RpcError::new(-32001, "denied").with_data(json!({"why": "x"})))
            })
            .method("parse", |p: Value| async move {
                // `?` on any error: -32603 for the caller, the cause for the log.
                let n: i64 = p["text"].as_str().unwrap_or_default().parse()?;
                Ok(json!(n))
            })
            .method("boom", |_: Value| async move {
                if true {
                    panic!("boom");
                }
                Ok(Value::Null)
            })
            .add(
                "bad",
                Method::new(|_: Value| async move { Ok(json!({"sum": "nope"})) }).result_validator(
                    |v: &Value| {
                        if v["sum"].is_number() {
                            Ok(())
                        } else {
                            Err(vec![ValidationIssue::new("/sum", "expected number")])
                        }
                    },
                ),
            )
            .notification("ping", move |_: Value| {
                let pings = Arc::clone(&pings);
                async move {
                    pings.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })
            .build()
            .unwrap()
    }

    fn req(method: &str, params: Value) -> Envelope {
        Envelope::Request(Request {
            id: "i1".into(),
            service: "arith".into(),
            method: method.into(),
            params: params.into(),
        })
    }

    async fn reply(s: &Service, method: &str, params: Value) -> String {
        s.dispatch(req(method, params)).await.unwrap().to_json()
    }

    #[tokio::test]
    async fn dispatches_in_clamators_order() {
        let s = arith(Arc::default());
        assert_eq!(
            reply(&s, "add", json!({"a": 2, "b": 3})).await,
            r#"{"jsonrpc":"2.0","id":"i1","result":{"sum":5.0}}"#
        );
        let r = reply(&s, "nope", json!({})).await;
        assert!(r.contains(r#""code":-32601"#), "{r}");
        let r = reply(&s, "add", json!({"a": "two", "b": 3})).await;
        let v: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["error"]["code"], codes::INVALID_PARAMS);
        assert_eq!(v["error"]["data"]["errors"][0]["path"], "/a");
        let r = reply(&s, "add", json!({"a": 1, "b": 3, "c": 1})).await;
        assert!(r.contains("unknown field"), "{r}");
        // Integers written as 5.0 decode into integer fields.
        let r = reply(&s, "count", json!({"n": 5.0})).await;
        assert_eq!(r, r#"{"jsonrpc":"2.0","id":"i1","result":6}"#);
        let r = reply(&s, "count", json!({"n": 5.5})).await;
        assert!(r.contains(r#""code":-32602"#) && r.contains("/n"), "{r}");
        assert_eq!(
            reply(&s, "fail", json!({})).await,
            r#"{"jsonrpc":"2.0","id":"i1","error":{"code":-32001,"message":"denied","data":{"why":"x"}}}"#
        );
        // A panic and an error passed up with `?` tell callers nothing but "Internal error"
        // unless the service is told to show causes.
        for (method, cause) in [("boom", "boom"), ("parse", "invalid digit")] {
            let v: Value =
                serde_json::from_str(&reply(&s, method, json!({"text": "x"})).await).unwrap();
            assert_eq!(v["error"]["code"], codes::INTERNAL_ERROR);
            assert_eq!(v["error"]["message"], "Internal error");
            assert_eq!(v["error"]["data"], Value::Null, "{v}");
            let shown = arith(Arc::new(AtomicUsize::new(0))).show_error_details(true);
            let v: Value =
                serde_json::from_str(&reply(&shown, method, json!({"text": "x"})).await).unwrap();
            let message = v["error"]["data"]["message"].as_str().unwrap();
            assert!(message.contains(cause), "{v}");
        }
        let v: Value =
            serde_json::from_str(&reply(&s, "parse", json!({"text": "12"})).await).unwrap();
        assert_eq!(v["result"], 12);
        let v: Value = serde_json::from_str(&reply(&s, "bad", json!({})).await).unwrap();
        assert_eq!(v["error"]["code"], codes::INTERNAL_ERROR);
        assert_eq!(v["error"]["message"], "Result validation failed");
        assert_eq!(v["error"]["data"]["errors"][0]["path"], "/sum");
    }

    #[tokio::test]
    async fn notifications_run_and_are_never_answered() {
        let pings = Arc::new(AtomicUsize::new(0));
        let s = arith(Arc::clone(&pings));
        let n = Envelope::Notification(Notification {
            service: "arith".into(),
            method: "ping".into(),
            params: json!({}).into(),
        });
        assert!(s.dispatch(n).await.is_none());
        // A request to a notification-typed method runs the handler but gets no reply.
        assert!(s.dispatch(req("ping", json!({}))).await.is_none());
        assert_eq!(pings.load(Ordering::SeqCst), 2);
        // A notification to a failing method is dropped, not answered.
        let n = parse_envelope(br#"{"jsonrpc":"2.0","method":"arith.boom"}"#).unwrap();
        assert!(s.dispatch(n).await.is_none());
    }

    #[test]
    fn builder_rejects_bad_names_and_duplicates() {
        let e = Service::builder("Arith").build().unwrap_err();
        assert!(e.to_string().contains("invalid service name"));
        let e = Service::builder("a")
            .method("X", |_: Value| async { Ok(Value::Null) })
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("invalid method name"));
        let mut r = Router::new();
        r.add(Service::builder("a").build().unwrap()).unwrap();
        let e = r.add(Service::builder("a").build().unwrap()).unwrap_err();
        assert!(e.to_string().contains("already registered"));
    }

    #[test]
    fn a_declared_contract_must_name_the_service_and_its_methods() {
        use crate::contract::MethodInfo;
        static ECHO: ContractInfo = ContractInfo {
            service: "echo",
            methods: &[MethodInfo {
                name: "say",
                notification: false,
                params_schema: "{}",
                result_schema: Some("{}"),
                params_hash: "aa",
                result_hash: Some("bb"),
            }],
            events: &[],
            errors: &[],
        };
        let say = || Method::new(|p: Value| async move { Ok::<_, RpcError>(p) });
        let s = Service::builder("echo")
            .add("say", say())
            .contract(&ECHO)
            .build()
            .unwrap();
        assert_eq!(s.contract(), Some(&ECHO));
        let e = Service::builder("other")
            .add("say", say())
            .contract(&ECHO)
            .build()
            .unwrap_err();
        assert!(
            e.to_string().contains("contract is of service \"echo\""),
            "{e}"
        );
        let e = Service::builder("echo")
            .add("say", say())
            .add("shout", say())
            .contract(&ECHO)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("declares methods"), "{e}");
    }

    /// A validator that holds its thread until told to finish, and says it may block.
    struct Gate {
        entered: std::sync::mpsc::SyncSender<()>,
        finish: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Validator for Gate {
        fn validate(&self, _: &Value) -> Result<(), Vec<ValidationIssue>> {
            let _ = self.entered.send(());
            // Held inline, nothing could release it: it gives up rather than hang the test.
            let wait = std::time::Duration::from_secs(10);
            match self.finish.lock().unwrap().recv_timeout(wait) {
                Ok(()) => Ok(()),
                Err(_) => Err(vec![ValidationIssue::new("", "never released")]),
            }
        }

        fn may_block(&self) -> bool {
            true
        }
    }

    #[test]
    fn validators_that_may_block_run_off_the_async_thread() {
        // One thread of async work: a check held inline would stop every other call.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (entered, entering) = std::sync::mpsc::sync_channel(1);
        let (release, finish) = std::sync::mpsc::sync_channel(1);
        let gate = Gate {
            entered,
            finish: std::sync::Mutex::new(finish),
        };
        let s = Service::builder("svc")
            .add(
                "slow",
                Method::new(|p: Value| async move { Ok(p) }).params_validator(gate),
            )
            .method("ping", |_: Value| async move { Ok(json!("pong")) })
            .build()
            .unwrap();
        let pong = runtime.block_on(async {
            let slow = tokio::spawn({
                let s = s.clone();
                async move { s.dispatch(req("slow", json!(1))).await }
            });
            // the check has started, and holds a thread until released
            tokio::task::spawn_blocking(move || entering.recv())
                .await
                .unwrap()
                .unwrap();
            let pong = s.dispatch(req("ping", json!({}))).await.unwrap();
            release.send(()).unwrap();
            let slow = slow.await.unwrap().unwrap();
            assert_eq!(slow.outcome, Ok(json!(1).into()));
            pong
        });
        assert_eq!(pong.outcome, Ok(json!("pong").into()));
        assert!(!Validator::may_block(&|_: &Value| Ok(())));
    }

    #[tokio::test]
    async fn router_answers_unknown_services_with_method_not_found() {
        let r = Router::new();
        let out = r.dispatch("ghost", req("x", json!({}))).await.unwrap();
        assert_eq!(out.outcome.unwrap_err().code, codes::METHOD_NOT_FOUND);
    }
}
