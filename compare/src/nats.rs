//! Core NATS request/reply: the server in a queue group, replies to the request's inbox.

use futures_util::StreamExt;

use crate::{add_json, AddParams, AddResult, BoxResult};

const SUBJECT: &str = "arith.add";

/// Subscribes (queue group `arith`) and answers at most `limit` requests at once.
pub async fn serve(url: &str, limit: usize) -> BoxResult<tokio::task::JoinHandle<()>> {
    let client = async_nats::connect(url).await?;
    let requests = client.queue_subscribe(SUBJECT, "arith".to_owned()).await?;
    // The subscription is live on the server once a flush has round-tripped.
    client.flush().await?;
    Ok(tokio::spawn(async move {
        requests
            .for_each_concurrent(limit, |message| {
                let client = client.clone();
                async move {
                    if let Some(reply) = message.reply {
                        let answer = add_json(&message.payload);
                        let _ = client.publish(reply, answer.into()).await;
                    }
                }
            })
            .await;
    }))
}

/// One connection, shared by every caller.
#[derive(Clone)]
pub struct Client(async_nats::Client);

impl Client {
    pub async fn connect(url: &str) -> BoxResult<Self> {
        Ok(Client(async_nats::connect(url).await?))
    }

    pub async fn add(&self, request: &AddParams) -> Option<AddResult> {
        let body = serde_json::to_vec(request).ok()?;
        let reply = self.0.request(SUBJECT, body.into()).await.ok()?;
        serde_json::from_slice(&reply.payload).ok()
    }
}
