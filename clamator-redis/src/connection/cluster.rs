//! Pipelines on Redis Cluster. A pipeline is sent to one node, and Redis refuses one whose
//! keys live in different slots; ours batch many callers' replies and acks, which belong to
//! keys all over the cluster. So each command of a pipeline is sent on its own, all at once
//! (the connection to each node still writes them back to back), and the answers are put
//! back in the pipeline's order. On its own, each command follows `MOVED` and `ASK` by
//! itself: a redirected multi-command pipeline would be sent again whole, and `ASKING`
//! covers only the first command after it. A command that fails fails alone.

use futures_util::future::join_all;
use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::{Pipeline, RedisResult, Value};

/// Runs `pipeline` on the cluster, command by command, at once.
pub(super) async fn pipeline(
    conn: &mut ClusterConnection,
    pipeline: &Pipeline,
    offset: usize,
    count: usize,
) -> RedisResult<Vec<Value>> {
    // A transaction must stay one (and one slot, which Redis checks).
    if pipeline.is_transaction() || pipeline.len() <= 1 {
        return conn.req_packed_commands(pipeline, offset, count).await;
    }
    let sent = pipeline.cmd_iter().map(|cmd| {
        let mut conn = conn.clone();
        async move { conn.req_packed_command(cmd).await }
    });
    Ok(join_all(sent)
        .await
        .into_iter()
        .map(|answer| answer.unwrap_or_else(|e| no_answer(&e)))
        .collect())
}

/// A server error value standing for a command that failed without an answer (its node is
/// gone), so the other commands keep their own answers.
fn no_answer(e: &redis::RedisError) -> Value {
    let code = e.code().unwrap_or("NOANSWER");
    let text = e.to_string().replace(['\r', '\n'], " ");
    redis::parse_redis_value(format!("-{code} {text}\r\n").as_bytes()).unwrap_or(Value::Nil)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_without_an_answer_reads_as_a_server_error() {
        let e = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        match no_answer(&e) {
            Value::ServerError(s) => assert!(s.details().unwrap_or("").contains("reset"), "{s:?}"),
            other => panic!("not a server error: {other:?}"),
        }
    }
}
