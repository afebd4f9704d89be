//! A Redis lock for work that must run on one server at a time: a random token set with
//! `SET NX PX`, released by a Lua script that acts only for the token's holder (a holder
//! that outlived the lock cannot release its successor's).
//! One key per lock, so it works on Redis Cluster.

use std::time::Duration;

use clamator_protocol::Error;
use redis::aio::ConnectionLike;

/// A held lock over connection `C` (any redis-rs async connection, such as a
/// `ConnectionManager` or a cluster connection). Dropping it without
/// [`release`](Self::release) lets it expire.
#[derive(Debug)]
pub(crate) struct Lock<C> {
    manager: C,
    key: String,
    token: String,
}

impl<C: ConnectionLike + Clone + Send + Sync> Lock<C> {
    /// Tries once to take `key` for `ttl`; `None` when someone else holds it.
    pub(crate) async fn try_acquire(
        manager: &C,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<Self>, Error> {
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
        }))
    }

    /// Releases the lock if still held; an error when it was lost meanwhile.
    pub(crate) async fn release(self) -> Result<(), Error> {
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

/// Against a real redis-server (step 2 of the test ladder, `--features redis-tests`).
#[cfg(all(test, feature = "redis-tests"))]
mod tests {
    use super::*;
    use clamator_testkit::local_redis::RedisProcess;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lock_is_held_by_one_and_released_only_by_its_holder() {
        let redis = RedisProcess::start().expect("redis-server starts");
        let manager = redis::Client::open(redis.url())
            .unwrap()
            .get_connection_manager()
            .await
            .unwrap();
        let ttl = Duration::from_secs(10);
        let a = Lock::try_acquire(&manager, "k:lock", ttl)
            .await
            .unwrap()
            .expect("first acquire");
        assert!(
            Lock::try_acquire(&manager, "k:lock", ttl)
                .await
                .unwrap()
                .is_none(),
            "two holders"
        );
        // The lock expires and someone else takes it: the old holder's release leaves the
        // new holder's lock alone.
        let _: () = redis::cmd("DEL")
            .arg("k:lock")
            .query_async(&mut manager.clone())
            .await
            .unwrap();
        let b = Lock::try_acquire(&manager, "k:lock", ttl)
            .await
            .unwrap()
            .expect("acquire after expiry");
        assert!(a
            .release()
            .await
            .unwrap_err()
            .to_string()
            .contains("was lost"));
        let held: Option<String> = redis::cmd("GET")
            .arg("k:lock")
            .query_async(&mut manager.clone())
            .await
            .unwrap();
        assert!(
            held.is_some(),
            "a stale holder released someone else's lock"
        );
        b.release().await.unwrap();
        assert!(Lock::try_acquire(&manager, "k:lock", ttl)
            .await
            .unwrap()
            .is_some());
    }
}
