//! The service side, in the shape of clamator's TypeScript generator: `<Service>Client` over
//! any `ClamatorClient` (one method per contract method, `opts.timeoutMs` passed through)
//! and the `<Service>Service` interface to implement; before them `<service>Contract`, the
//! schemas as `RpcServerCore.registerService` takes them (what clamator's generated code
//! imports from the hand-written contract), `<service>SchemaHashes` and `<service>Errors`, and
//! for a contract with events, `<service>Events` and `<service>EventSchemaHashes`.

use super::{export_name, key, method_name, Src};
use crate::peer::{quoted, PeerContract, PeerMethod};

pub(super) fn emit(peer: &PeerContract, out: &mut Src) {
    let export = export_name(&peer.service);
    contract(peer, &export, out);
    events(peer, &export, out);
    client(peer, out);
    service(peer, out);
}

fn contract(peer: &PeerContract, export: &str, out: &mut Src) {
    out.blank();
    out.doc(
        0,
        &format!(
            "The `{}` contract: each method's params and result schemas, as\n\
             `RpcServerCore.registerService(contract, handlers)` takes them.",
            peer.service
        ),
    );
    out.line(0, &format!("export const {export}Contract = {{"));
    out.line(1, &format!("service: {},", quoted(&peer.service)));
    out.line(1, "methods: {");
    for m in &peer.methods {
        let def = match &m.result {
            Some(r) => format!("{{ params: {}, result: {r} }}", m.params),
            None => format!("{{ params: {}, notification: true }}", m.params),
        };
        out.line(2, &format!("{}: {def},", m.wire));
    }
    out.line(1, "},");
    out.line(0, "} as const;");
    out.blank();
    out.doc(
        0,
        "Each method's schema hashes, as in the manifest (`resultHash` is null for a notification).",
    );
    out.line(0, &format!("export const {export}SchemaHashes = {{"));
    for m in &peer.methods {
        let result = m.result_hash.as_deref().map_or("null".to_owned(), quoted);
        out.line(
            1,
            &format!(
                "{}: {{ paramsHash: {}, resultHash: {result} }},",
                m.wire,
                quoted(&m.params_hash)
            ),
        );
    }
    out.line(0, "} as const;");
    if peer.errors.is_empty() {
        return;
    }
    out.blank();
    out.doc(
        0,
        "The errors the service declares: a handler throws `new RpcError(code, message, data)`;\n\
         a caller compares the `RpcError`'s `code`.",
    );
    out.line(0, &format!("export const {export}Errors = {{"));
    for e in &peer.errors {
        let data = e
            .data
            .as_deref()
            .map_or(String::new(), |d| format!(", data: {d}"));
        out.line(
            1,
            &format!(
                "{}: {{ code: {}, message: {}{data} }},",
                e.name,
                e.code,
                quoted(&e.message)
            ),
        );
    }
    out.line(0, "} as const;");
}

/// The events the service publishes: each one's payload schema, and their hashes. clamator's
/// TypeScript packages have no events; these are for a TypeScript program that publishes or
/// reads the event stream itself.
fn events(peer: &PeerContract, export: &str, out: &mut Src) {
    if peer.events.is_empty() {
        return;
    }
    out.blank();
    out.doc(
        0,
        &format!(
            "The events `{}` publishes: each one's payload schema, to check a payload with\n\
             before it is published or after it is read (`{export}Events.<event>.parse(params)`).",
            peer.service
        ),
    );
    out.line(0, &format!("export const {export}Events = {{"));
    for e in &peer.events {
        out.line(1, &format!("{}: {},", key(&e.wire), e.payload));
    }
    out.line(0, "} as const;");
    out.blank();
    out.doc(
        0,
        "Each event's payload schema hash, as in the manifest's `events`.",
    );
    out.line(0, &format!("export const {export}EventSchemaHashes = {{"));
    for e in &peer.events {
        out.line(
            1,
            &format!("{}: {},", key(&e.wire), quoted(&e.payload_hash)),
        );
    }
    out.line(0, "} as const;");
}

/// The doc of a method: `first`, then the contract's description.
fn method_doc(first: String, m: &PeerMethod) -> String {
    match m.doc.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => format!("{first}\n\n{d}"),
        None => first,
    }
}

fn client(peer: &PeerContract, out: &mut Src) {
    let svc = &peer.service;
    out.blank();
    out.doc(
        0,
        &format!(
            "Typed client of the `{svc}` service, over any clamator client (such as a started\n\
             `RedisRpcClient`). Params are typed as the schemas take them (defaults optional);\n\
             results are the server's, validated there."
        ),
    );
    out.line(0, &format!("export class {}Client {{", peer.pascal));
    out.line(1, "constructor(private client: ClamatorClient) {}");
    for m in &peer.methods {
        let name = method_name(&m.wire);
        let params = format!("z.input<typeof {}>", m.params);
        out.blank();
        match &m.result {
            Some(result) => {
                out.doc(1, &method_doc(format!("Calls `{svc}.{}`.", m.wire), m));
                out.line(
                    1,
                    &format!(
                        "{name}(params: {params}, opts?: {{ timeoutMs?: number }}): Promise<{result}> {{"
                    ),
                );
                out.line(
                    2,
                    &format!(
                        "return this.client.call({}, {}, params, opts);",
                        quoted(svc),
                        quoted(&m.wire)
                    ),
                );
            }
            None => {
                out.doc(
                    1,
                    &method_doc(
                        format!(
                            "Sends the notification `{svc}.{}`; resolves once it is queued.",
                            m.wire
                        ),
                        m,
                    ),
                );
                out.line(1, &format!("{name}(params: {params}): Promise<void> {{"));
                out.line(
                    2,
                    &format!(
                        "return this.client.notify({}, {}, params);",
                        quoted(svc),
                        quoted(&m.wire)
                    ),
                );
            }
        }
        out.line(1, "}");
    }
    out.line(0, "}");
}

fn service(peer: &PeerContract, out: &mut Src) {
    let svc = &peer.service;
    out.blank();
    out.doc(
        0,
        &format!(
            "The `{svc}` service: implement it and serve it with\n\
             `server.registerService({}Contract, implementation)`.",
            export_name(svc)
        ),
    );
    out.line(0, &format!("export interface {}Service {{", peer.pascal));
    for m in &peer.methods {
        let name = method_name(&m.wire);
        match &m.result {
            Some(result) => {
                out.doc(1, &method_doc(format!("Handles `{svc}.{}`.", m.wire), m));
                out.line(
                    1,
                    &format!(
                        "{name}(params: {}, opts?: {{ timeoutMs?: number }}): Promise<{result}>;",
                        m.params
                    ),
                );
            }
            None => {
                out.doc(
                    1,
                    &method_doc(format!("Handles the notification `{svc}.{}`.", m.wire), m),
                );
                out.line(1, &format!("{name}(params: {}): Promise<void>;", m.params));
            }
        }
    }
    out.line(0, "}");
}
