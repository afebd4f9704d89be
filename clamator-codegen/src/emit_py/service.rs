//! The service side of the module, as clamator's generator writes it: `<Service>Client`
//! over any `ClamatorClient`, the abstract `<Service>Service`, the `METHODS` table of
//! `MethodEntry` rows and `<service>_contract` for `RpcServerCore.register_service`; then
//! `SCHEMA_HASHES`, each method's schema hashes as in the manifest; and for a contract with
//! events, `EVENT_PAYLOADS` and `EVENT_SCHEMA_HASHES`.

use super::{contract_var, method_name, Imports, Src};
use crate::peer::{quoted, PeerContract, PeerMethod};

pub(super) fn emit(peer: &PeerContract, out: &mut Src, imports: &mut Imports) {
    client(peer, out, imports);
    service(peer, out, imports);
    table(peer, out, imports);
    errors(peer, out, imports);
    events(peer, out, imports);
}

/// The events the service publishes: each one's payload type, and their hashes. The Python
/// clamator packages have no events; these are for a program that reads or writes the event
/// stream with redis-py (docs/events.md).
fn events(peer: &PeerContract, out: &mut Src, imports: &mut Imports) {
    if peer.events.is_empty() {
        return;
    }
    imports.typing("Any");
    out.gap();
    out.comment(
        0,
        &format!(
            "The events `{}` publishes, each with its payload type: check a payload with\n\
             `TypeAdapter(EVENT_PAYLOADS[event]).validate_python(params)` (pydantic).",
            peer.service
        ),
    );
    out.line(0, "EVENT_PAYLOADS: dict[str, Any] = {");
    for e in &peer.events {
        out.line(1, &format!("{}: {},", quoted(&e.wire), e.payload));
    }
    out.line(0, "}");
    out.blank();
    out.comment(
        0,
        "Each event's payload schema hash, as in the manifest's `events`.",
    );
    out.line(0, "EVENT_SCHEMA_HASHES: dict[str, str] = {");
    for e in &peer.events {
        out.line(
            1,
            &format!("{}: {},", quoted(&e.wire), quoted(&e.payload_hash)),
        );
    }
    out.line(0, "}");
}

/// One function per declared error, building the `RpcError` a handler raises, and
/// `ERRORS`, naming each code, for callers.
fn errors(peer: &PeerContract, out: &mut Src, imports: &mut Imports) {
    if peer.errors.is_empty() {
        return;
    }
    imports.protocol("RpcError");
    for e in &peer.errors {
        let name = method_name(&e.name);
        let (code, message) = (e.code, quoted(&e.message));
        out.gap();
        match &e.data {
            Some(data) => {
                out.line(0, &format!("def {name}(data: {data}) -> RpcError:"));
                out.docstring(
                    1,
                    &format!(
                        "The declared error `{}` ({code}), to raise from a handler.",
                        e.name
                    ),
                );
                out.line(
                    1,
                    &format!(
                        "return RpcError({code}, {message}, data.model_dump(mode=\"json\", by_alias=True))"
                    ),
                );
            }
            None => {
                out.line(0, &format!("def {name}() -> RpcError:"));
                out.docstring(
                    1,
                    &format!(
                        "The declared error `{}` ({code}), to raise from a handler.",
                        e.name
                    ),
                );
                out.line(1, &format!("return RpcError({code}, {message})"));
            }
        }
    }
    out.gap();
    out.comment(
        0,
        "The declared errors by code, for callers that catch an `RpcError`.",
    );
    out.line(0, "ERRORS: dict[int, str] = {");
    for e in &peer.errors {
        out.line(1, &format!("{}: {},", e.code, quoted(&e.name)));
    }
    out.line(0, "}");
}

/// The docstring of a method: `first`, then the contract's description.
fn method_doc(first: String, m: &PeerMethod) -> String {
    match m.doc.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => format!("{first}\n\n{d}"),
        None => first,
    }
}

fn client(peer: &PeerContract, out: &mut Src, imports: &mut Imports) {
    imports.protocol("ClamatorClient");
    let svc = &peer.service;
    out.gap();
    out.line(0, &format!("class {}Client:", peer.pascal));
    out.docstring(
        1,
        &format!(
            "Typed client of the `{svc}` service, over any clamator client (such as a started\n\
             `RedisRpcClient`). Params are written by alias, optional properties left out when\n\
             unset; results are validated into their models."
        ),
    );
    out.blank();
    out.line(1, "def __init__(self, client: ClamatorClient) -> None:");
    out.line(2, "self._client = client");
    for m in &peer.methods {
        let name = method_name(&m.wire);
        let (params, wire) = (&m.params, quoted(&m.wire));
        let dump = "params.model_dump(mode=\"json\", by_alias=True)";
        out.blank();
        match &m.result {
            Some(result) => {
                out.line(
                    1,
                    &format!(
                        "async def {name}(self, params: {params}, *, timeout_ms: int | None = None) -> {result}:"
                    ),
                );
                out.docstring(2, &method_doc(format!("Calls `{svc}.{}`.", m.wire), m));
                out.line(
                    2,
                    &format!(
                        "raw = await self._client.call({}, {wire}, {dump}, timeout_ms=timeout_ms)",
                        quoted(svc)
                    ),
                );
                out.line(2, &format!("return {result}.model_validate(raw)"));
            }
            None => {
                out.line(
                    1,
                    &format!("async def {name}(self, params: {params}) -> None:"),
                );
                out.docstring(
                    2,
                    &method_doc(
                        format!(
                            "Sends the notification `{svc}.{}`; returns once it is queued.",
                            m.wire
                        ),
                        m,
                    ),
                );
                out.line(
                    2,
                    &format!("await self._client.notify({}, {wire}, {dump})", quoted(svc)),
                );
            }
        }
    }
}

fn service(peer: &PeerContract, out: &mut Src, imports: &mut Imports) {
    imports.abc();
    let svc = &peer.service;
    out.gap();
    out.line(0, &format!("class {}Service(ABC):", peer.pascal));
    out.docstring(
        1,
        &format!(
            "The `{svc}` service: subclass it, implement every method, and serve an instance\n\
             with `server.register_service({}, instance)`.",
            contract_var(svc)
        ),
    );
    for m in &peer.methods {
        let name = method_name(&m.wire);
        let (returns, what) = match &m.result {
            Some(r) => (r.as_str(), ""),
            None => ("None", "the notification "),
        };
        out.blank();
        out.line(1, "@abstractmethod");
        out.line(
            1,
            &format!("async def {name}(self, params: {}) -> {returns}:", m.params),
        );
        out.docstring(
            2,
            &method_doc(format!("Handles {what}`{svc}.{}`.", m.wire), m),
        );
    }
}

fn table(peer: &PeerContract, out: &mut Src, imports: &mut Imports) {
    imports.protocol("Contract");
    imports.protocol("MethodEntry");
    out.gap();
    out.line(0, "METHODS: dict[str, MethodEntry] = {");
    for m in &peer.methods {
        let result = m.result.as_deref().unwrap_or("None");
        out.line(
            1,
            &format!(
                "{}: MethodEntry(params_model={}, result_model={result}, handler_attr={}),",
                quoted(&m.wire),
                m.params,
                quoted(&method_name(&m.wire))
            ),
        );
    }
    out.line(0, "}");
    out.blank();
    out.line(
        0,
        &format!(
            "{} = Contract(service={}, methods=METHODS)",
            contract_var(&peer.service),
            quoted(&peer.service)
        ),
    );
    out.blank();
    out.comment(
        0,
        "Each method's schema hashes, as in the manifest (`resultHash` is None for a notification).",
    );
    out.line(0, "SCHEMA_HASHES: dict[str, dict[str, str | None]] = {");
    for m in &peer.methods {
        let result = m.result_hash.as_deref().map_or("None".to_owned(), quoted);
        out.line(
            1,
            &format!(
                "{}: {{\"paramsHash\": {}, \"resultHash\": {result}}},",
                quoted(&m.wire),
                quoted(&m.params_hash)
            ),
        );
    }
    out.line(0, "}");
}
