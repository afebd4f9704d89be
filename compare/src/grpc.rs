//! tonic gRPC unary calls over one HTTP/2 connection, the messages as JSON.

use std::marker::PhantomData;

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Request, Response, Status};

use crate::BoxResult;
pub use crate::{AddParams, AddResult};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/clamator.compare.Arith.rs"));
}
use generated::arith_client::ArithClient;
use generated::arith_server::{Arith, ArithServer};

/// Messages written and read with serde_json, as every other system here does.
#[derive(Debug, Clone)]
pub struct JsonCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for JsonCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// Writes one message.
#[derive(Debug)]
pub struct JsonEncoder<T>(PhantomData<T>);

impl<T: serde::Serialize> Encoder for JsonEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        serde_json::to_writer(buf.writer(), &item).map_err(|e| Status::internal(e.to_string()))
    }
}

/// Reads one message.
#[derive(Debug)]
pub struct JsonDecoder<U>(PhantomData<U>);

impl<U: serde::de::DeserializeOwned> Decoder for JsonDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        if !buf.has_remaining() {
            return Ok(None);
        }
        let bytes = buf.copy_to_bytes(buf.remaining());
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Status::invalid_argument(e.to_string()))
    }
}

impl<T, U> Codec for JsonCodec<T, U>
where
    T: serde::Serialize + Send + 'static,
    U: serde::de::DeserializeOwned + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = JsonEncoder<T>;
    type Decoder = JsonDecoder<U>;

    fn encoder(&mut self) -> JsonEncoder<T> {
        JsonEncoder(PhantomData)
    }

    fn decoder(&mut self) -> JsonDecoder<U> {
        JsonDecoder(PhantomData)
    }
}

struct Adder;

#[tonic::async_trait]
impl Arith for Adder {
    async fn add(&self, request: Request<AddParams>) -> Result<Response<AddResult>, Status> {
        let p = request.into_inner();
        Ok(Response::new(AddResult { sum: p.a + p.b }))
    }
}

/// Listens on `addr` (`host:port`), handling at most `limit` calls at once.
pub async fn serve(addr: &str, limit: usize) -> BoxResult<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    Ok(tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .concurrency_limit_per_connection(limit)
            .add_service(ArithServer::new(Adder))
            .serve_with_incoming(incoming)
            .await;
        if let Err(e) = served {
            eprintln!("grpc server: {e}");
        }
    }))
}

/// One HTTP/2 connection, shared by every caller.
#[derive(Clone)]
pub struct Client(ArithClient<tonic::transport::Channel>);

impl Client {
    pub async fn connect(addr: &str) -> BoxResult<Self> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        Ok(Client(ArithClient::new(channel)))
    }

    pub async fn add(&self, request: AddParams) -> Option<AddResult> {
        let mut client = self.0.clone();
        client.add(request).await.ok().map(Response::into_inner)
    }
}
