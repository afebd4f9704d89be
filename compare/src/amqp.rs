//! RabbitMQ RPC: requests on a queue, replies by direct reply-to, matched by correlation id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::oneshot;

use crate::{add_json, AddParams, AddResult, BoxResult};

const QUEUE: &str = "arith.add";
const REPLY_TO: &str = "amq.rabbitmq.reply-to";

async fn channel(url: &str) -> BoxResult<(Connection, Channel)> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    Ok((connection, channel))
}

/// Consumes the request queue with a prefetch of `limit`, answering as many at once.
pub async fn serve(url: &str, limit: usize) -> BoxResult<tokio::task::JoinHandle<()>> {
    let (connection, channel) = channel(url).await?;
    channel
        .queue_declare(
            QUEUE.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_qos(
            u16::try_from(limit).unwrap_or(u16::MAX),
            BasicQosOptions::default(),
        )
        .await?;
    let requests = channel
        .basic_consume(
            QUEUE.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(tokio::spawn(async move {
        let _connection = connection;
        requests
            .for_each_concurrent(limit, |delivery| {
                let channel = channel.clone();
                async move {
                    let Ok(delivery) = delivery else { return };
                    let answer = add_json(&delivery.data);
                    if let (Some(reply_to), Some(id)) = (
                        delivery.properties.reply_to().clone(),
                        delivery.properties.correlation_id().clone(),
                    ) {
                        let _ = channel
                            .basic_publish(
                                "".into(),
                                reply_to,
                                BasicPublishOptions::default(),
                                &answer,
                                BasicProperties::default().with_correlation_id(id),
                            )
                            .await;
                    }
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
            })
            .await;
    }))
}

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>;

/// One connection and channel, shared by every caller; one consumer of direct reply-to hands
/// each reply to its caller.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    waiting: Waiting,
    next: Arc<AtomicU64>,
    _connection: Arc<Connection>,
}

impl Client {
    pub async fn connect(url: &str) -> BoxResult<Self> {
        let (connection, channel) = channel(url).await?;
        // Direct reply-to needs its consumer (no-ack) before the first request names it.
        let mut replies = channel
            .basic_consume(
                REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let waiting: Waiting = Arc::default();
        let routes = Arc::clone(&waiting);
        tokio::spawn(async move {
            while let Some(Ok(reply)) = replies.next().await {
                let id = reply
                    .properties
                    .correlation_id()
                    .as_ref()
                    .and_then(|id| id.as_str().parse::<u64>().ok());
                let sender = id.and_then(|id| {
                    routes
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&id)
                });
                if let Some(sender) = sender {
                    let _ = sender.send(reply.data);
                }
            }
        });
        Ok(Client {
            channel,
            waiting,
            next: Arc::default(),
            _connection: Arc::new(connection),
        })
    }

    pub async fn add(&self, request: &AddParams) -> Option<AddResult> {
        let body = serde_json::to_vec(request).ok()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, tx);
        let published = self
            .channel
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default()
                    .with_reply_to(REPLY_TO.into())
                    .with_correlation_id(id.to_string().into()),
            )
            .await;
        if published.is_err() {
            self.waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&id);
            return None;
        }
        let reply = rx.await.ok()?;
        serde_json::from_slice(&reply).ok()
    }
}
