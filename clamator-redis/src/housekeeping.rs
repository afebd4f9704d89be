//! Bounded memory for command streams: trimming below what every consumer group has both
//! delivered and acknowledged, and removing consumers that are idle with nothing pending.
//! One server does it at a time per service, elected with a [`Lock`].

use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::Error;

use crate::lock::Lock;
use crate::server::{pause, ServiceRuntime, Shared};

/// Runs housekeeping for one service every `housekeeping_interval`, while this server holds
/// the service's lock.
pub(crate) async fn housekeeping_loop(shared: Arc<Shared>, rt: Arc<ServiceRuntime>) {
    let service = rt.service.name();
    let every = shared.config.housekeeping_interval;
    let key = crate::keys::lock_key(
        &shared.config.key_prefix,
        &format!("housekeeping:{service}"),
    );
    while pause(&shared, every).await {
        let lock = match Lock::try_acquire(
            &shared.manager,
            &key,
            every.saturating_mul(3).max(Duration::from_secs(1)),
        )
        .await
        {
            Ok(Some(lock)) => lock,
            Ok(None) => continue, // another server does it this round
            Err(e) => {
                tracing::warn!(service, error = %e, "housekeeping lock unavailable");
                continue;
            }
        };
        if let Err(e) = run_once(&shared, &rt).await {
            tracing::warn!(service, error = %e, "housekeeping failed");
        }
        if let Err(e) = lock.release().await {
            tracing::warn!(service, error = %e, "housekeeping lock");
        }
    }
}

/// One round: trim, then drop idle consumers.
pub(crate) async fn run_once(shared: &Shared, rt: &ServiceRuntime) -> Result<(), Error> {
    let mut conn = shared.manager.clone();
    let err = |what: &str| {
        let what = what.to_owned();
        move |e: redis::RedisError| Error::transport_with(what, e)
    };
    // XINFO GROUPS: every group's last delivered id and pending count.
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&rt.stream)
        .query_async(&mut conn)
        .await
        .map_err(err("XINFO GROUPS failed"))?;
    let mut floor: Option<StreamId> = None;
    for group in &groups {
        let name = field_str(group, "name").unwrap_or_default();
        let Some(last) = field_str(group, "last-delivered-id").and_then(|s| StreamId::parse(&s))
        else {
            // A group we cannot read: trim nothing.
            return Ok(());
        };
        // Everything up to the last delivered id has been delivered; what is still pending
        // starts at the oldest pending id.
        let summary: redis::Value = redis::cmd("XPENDING")
            .arg(&rt.stream)
            .arg(&name)
            .query_async(&mut conn)
            .await
            .map_err(err("XPENDING failed"))?;
        let oldest_pending = match &summary {
            redis::Value::Array(parts) => parts
                .get(1)
                .and_then(value_str)
                .and_then(|s| StreamId::parse(&s)),
            _ => None,
        };
        let group_floor = oldest_pending.unwrap_or(last.next());
        floor = Some(floor.map_or(group_floor, |f| f.min(group_floor)));
    }
    if let Some(floor) = floor {
        let trimmed: i64 = redis::cmd("XTRIM")
            .arg(&rt.stream)
            .arg("MINID")
            .arg(floor.to_string())
            .query_async(&mut conn)
            .await
            .map_err(err("XTRIM failed"))?;
        if trimmed > 0 {
            tracing::debug!(service = rt.service.name(), trimmed, below = %floor, "command stream trimmed");
        }
    }
    // Consumers idle past the limit with nothing pending (servers that went away).
    let consumers: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(&rt.stream)
        .arg(&rt.group)
        .query_async(&mut conn)
        .await
        .map_err(err("XINFO CONSUMERS failed"))?;
    let limit = shared.config.consumer_idle_limit.as_millis() as i64;
    for c in &consumers {
        let name = field_str(c, "name").unwrap_or_default();
        let pending = field_int(c, "pending").unwrap_or(1);
        let idle = field_int(c, "idle").unwrap_or(0);
        if pending == 0 && idle > limit && name != rt.consumer {
            let _: i64 = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&rt.stream)
                .arg(&rt.group)
                .arg(&name)
                .query_async(&mut conn)
                .await
                .map_err(err("XGROUP DELCONSUMER failed"))?;
            tracing::info!(service = rt.service.name(), consumer = %name, idle_ms = idle, "removed an idle consumer");
        }
    }
    Ok(())
}

/// A stream entry id, `<ms>-<seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StreamId(u64, u64);

impl StreamId {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }

    /// The smallest id after this one.
    fn next(self) -> Self {
        match self.1.checked_add(1) {
            Some(seq) => Self(self.0, seq),
            None => Self(self.0.saturating_add(1), 0),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

fn value_str(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// A field of an `XINFO` reply (a flat key/value array, or a map under RESP3).
fn field(v: &redis::Value, name: &str) -> Option<redis::Value> {
    match v {
        redis::Value::Array(items) => items
            .chunks(2)
            .find(|kv| kv.first().and_then(value_str).as_deref() == Some(name))
            .and_then(|kv| kv.get(1).cloned()),
        redis::Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| value_str(k).as_deref() == Some(name))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn field_str(v: &redis::Value, name: &str) -> Option<String> {
    field(v, name).as_ref().and_then(value_str)
}

fn field_int(v: &redis::Value, name: &str) -> Option<i64> {
    match field(v, name)? {
        redis::Value::Int(i) => Some(i),
        other => value_str(&other)?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_and_step() {
        let a = StreamId::parse("5-2").unwrap();
        assert!(a < StreamId::parse("5-10").unwrap() && a < StreamId::parse("6-0").unwrap());
        assert_eq!(a.next().to_string(), "5-3");
        assert_eq!(StreamId(7, u64::MAX).next().to_string(), "8-0");
        assert_eq!(StreamId::parse("x-1"), None);
    }
}
