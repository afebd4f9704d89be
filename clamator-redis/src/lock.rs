//! A Redis lock for work that must run on one server at a time: a random token set with
//! `SET NX PX`, extended and released by Lua scripts that act only for the token's holder.
//! One key per lock, so it works on Redis Cluster.

use std::time::Duration;

use clamator_protocol::Error;
use redis::aio::ConnectionLike;

/// A held lock over connection `C` (any redis-rs async connection, such as a
/// `ConnectionManager` or a cluster connection). Dropping it without
/// [`release`](Self::release) lets it expire.
#[derive(Debug)]
pub struct Lock<C> {
    manager: C,
    key: String,
    token: String,
    ttl: Duration,
}

impl<C: ConnectionLike + Clone + Send + Sync> Lock<C> {
    /// Tries once to take `key` for `ttl`; `None` when someone else holds it.
    pub async fn try_acquire(manager: &C, key: &str, ttl: Duration) -> Result<Option<Self>, Error> {
        let token = uuid::Uuid::new_v4().to_string();
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut manager.clone())
            .await
            .map_err(|e| {
                crate::connection::redis_failure(format!("SET NX of lock {key} failed"), e)
            })?;
        Ok(set.map(|_| Self {
            manager: manager.clone(),
            key: key.to_owned(),
            token,
            ttl,
        }))
    }

    /// Extends the lock by its ttl; an error when it was lost (expired, or taken over).
    pub async fn extend(&self) -> Result<(), Error> {
        let extended: i64 = crate::scripts::LOCK_EXTEND
            .key(&self.key)
            .arg(&self.token)
            .arg(self.ttl.as_millis() as u64)
            .invoke_async(&mut self.manager.clone())
            .await
            .map_err(|e| {
                crate::connection::redis_failure(format!("extending lock {} failed", self.key), e)
            })?;
        if extended == 1 {
            Ok(())
        } else {
            Err(Error::transport(format!("lock {} was lost", self.key)))
        }
    }

    /// Releases the lock if still held; an error when it was lost meanwhile.
    pub async fn release(self) -> Result<(), Error> {
        let released: i64 = crate::scripts::LOCK_RELEASE
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut self.manager.clone())
            .await
            .map_err(|e| {
                crate::connection::redis_failure(format!("releasing lock {} failed", self.key), e)
            })?;
        if released == 1 {
            Ok(())
        } else {
            Err(Error::transport(format!(
                "lock {} was lost before release",
                self.key
            )))
        }
    }
}
