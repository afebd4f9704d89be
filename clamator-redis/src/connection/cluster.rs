//! Pipelines on Redis Cluster. A pipeline is sent to one node, and Redis refuses one whose
//! keys live in different slots; ours batch many callers' replies and acks, which belong to
//! keys all over the cluster. So a pipeline is split by slot, the parts are sent at once, and
//! the answers are put back in the pipeline's order. A part that fails as a whole (its node
//! is gone) fails only its own commands.

use std::collections::HashMap;

use futures_util::future::join_all;
use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Arg, Cmd, Pipeline, RedisResult, Value};

/// The slot of a command's key. Our pipelines hold single-key commands whose key is the
/// first argument (`XADD`, `XACK`, `PEXPIRE`, `XTRIM`, …), or scripts whose first key
/// follows the key count; anything else goes in the part of keyless commands.
fn slot_of(cmd: &Cmd) -> Option<Slot> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .filter_map(|a| match a {
            Arg::Simple(a) => Some(a),
            _ => None,
        })
        .collect();
    let name = args.first()?;
    let key = if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        (args.get(2)? != b"0").then(|| args.get(3)).flatten()?
    } else {
        args.get(1)?
    };
    Some(Slot::for_key(key))
}

/// Runs `pipeline` on the cluster, one sub-pipeline per slot.
pub(super) async fn pipeline(
    conn: &mut ClusterConnection,
    pipeline: &Pipeline,
    offset: usize,
    count: usize,
) -> RedisResult<Vec<Value>> {
    let mut parts: Vec<(Option<Slot>, Vec<usize>)> = Vec::new();
    let mut index: HashMap<Option<Slot>, usize> = HashMap::new();
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        let route = slot_of(cmd);
        let at = *index.entry(route).or_insert_with(|| {
            parts.push((route, Vec::new()));
            parts.len() - 1
        });
        parts[at].1.push(i);
    }
    // One slot, or a transaction (which must stay one): as it is.
    if parts.len() <= 1 || pipeline.is_transaction() {
        return conn.req_packed_commands(pipeline, offset, count).await;
    }
    let commands: Vec<&Cmd> = pipeline.cmd_iter().collect();
    let sent = parts.iter().map(|(_, members)| {
        let mut part = redis::pipe();
        for &i in members {
            part.add_command(commands[i].clone());
        }
        let mut conn = conn.clone();
        async move {
            let n = part.len();
            conn.req_packed_commands(&part, 0, n).await
        }
    });
    let answers = join_all(sent).await;
    let mut values: Vec<Option<Value>> = vec![None; commands.len()];
    for ((_, members), answer) in parts.iter().zip(answers) {
        match answer {
            Ok(answer) => {
                for (&i, v) in members.iter().zip(answer) {
                    values[i] = Some(v);
                }
            }
            Err(e) => {
                let failed = part_failed(&e);
                for &i in members {
                    values[i] = Some(failed.clone());
                }
            }
        }
    }
    values
        .into_iter()
        .map(|v| {
            v.ok_or_else(|| {
                redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "a cluster node returned fewer answers than commands",
                ))
            })
        })
        .collect()
}

/// A server error value standing for a part that failed as a whole, so the commands of the
/// other parts keep their own answers.
fn part_failed(e: &redis::RedisError) -> Value {
    let code = e.code().unwrap_or("CLUSTERPART");
    let text = e.to_string().replace(['\r', '\n'], " ");
    redis::parse_redis_value(format!("-{code} {text}\r\n").as_bytes()).unwrap_or(Value::Nil)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_grouped_by_their_key_slot() {
        let mut add = redis::cmd("XADD");
        add.arg("app:replies:a").arg("*").arg("f").arg("v");
        let mut tagged = redis::cmd("PEXPIRE");
        tagged.arg("{app:replies:a}:x").arg(1);
        let mut script = redis::cmd("EVALSHA");
        script.arg("abc").arg(1).arg("app:replies:a");
        let slot = slot_of(&add);
        assert!(slot.is_some());
        assert_eq!(slot_of(&tagged), slot);
        assert_eq!(slot_of(&script), slot);
        assert_eq!(slot_of(&redis::cmd("PING")), None);
    }

    #[test]
    fn a_failed_part_reads_as_a_server_error() {
        let e = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        match part_failed(&e) {
            Value::ServerError(s) => assert!(s.details().unwrap_or("").contains("reset"), "{s:?}"),
            other => panic!("not a server error: {other:?}"),
        }
    }
}
