//! Whether a service is served at all, for transports told to fail fast
//! ([`TransportConfig::fail_fast_without_server`](crate::TransportConfig::fail_fast_without_server))
//! instead of letting a call to a service nobody serves wait out its whole timeout.
//!
//! A service is served once some server created its consumer group on its command stream:
//! every clamator server (Rust, Python, TypeScript) does that at start. Whether one of them
//! still runs is not checked: on Redis 7.0 a consumer that is waiting on an empty stream
//! does not exist yet, so `XINFO CONSUMERS` cannot tell a live idle server from none.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clamator_protocol::Error;

use crate::connection::RedisConn;
use crate::stream::commands;

/// How long a service seen served is taken to stay so without asking again: a group goes
/// away only with its stream or a `FLUSHALL`, so the check costs one `XINFO` per service
/// every few seconds, not one per call.
const REMEMBER: Duration = Duration::from_secs(5);

/// The services recently seen served.
#[derive(Debug, Default)]
pub(crate) struct Served {
    seen: Mutex<HashMap<String, Instant>>,
}

impl Served {
    /// Ok when the group `service` exists on `stream`; a transport error saying so when it
    /// does not (nothing is sent then).
    pub(crate) async fn check(
        &self,
        manager: &RedisConn,
        stream: &str,
        service: &str,
    ) -> Result<(), Error> {
        if self.recently(stream) {
            return Ok(());
        }
        let groups = match commands::groups(&mut manager.clone(), stream).await {
            Ok(groups) => groups,
            // `ERR no such key`: the stream does not exist, so no server ever started.
            Err(e) if e.code() == Some("ERR") => Vec::new(),
            Err(e) => return Err(crate::connection::redis_failure("XINFO GROUPS failed", e)),
        };
        if groups.iter().any(|g| g.name == service) {
            self.remember(stream);
            return Ok(());
        }
        Err(Error::transport(format!(
            "no server serves \"{service}\": {stream} has no consumer group \"{service}\" \
             (no server of it has started, or Redis lost its data); not sent"
        )))
    }

    fn recently(&self, stream: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(stream).is_some_and(|at| at.elapsed() < REMEMBER)
    }

    fn remember(&self, stream: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(stream.to_owned(), Instant::now());
    }
}
