//! The `Arith` gRPC service, described in Rust rather than in a `.proto` file: its messages are
//! the JSON objects clamator-rs's `arith.add` takes and returns, so every system does the same
//! JSON work, and no `protoc` is needed.

fn main() {
    let add = tonic_build::manual::Method::builder()
        .name("add")
        .route_name("Add")
        .input_type("crate::grpc::AddParams")
        .output_type("crate::grpc::AddResult")
        .codec_path("crate::grpc::JsonCodec")
        .build();
    let service = tonic_build::manual::Service::builder()
        .name("Arith")
        .package("clamator.compare")
        .method(add)
        .build();
    tonic_build::manual::Builder::new().compile(&[service]);
}
