//! Every default and limit of the library in one place, re-exported at the crate root and
//! from [`config`](crate::config). The configs' docs say which knob each belongs to.

use std::time::Duration;

/// The Redis URL used when neither the config nor `REDIS_URL` gives one. An IPv4 address
/// rather than `localhost`, which may resolve to `::1` first where Redis listens on IPv4 only.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long an untouched reply stream lives by default: 10 minutes.
pub const DEFAULT_REPLY_STREAM_TTL: Duration = Duration::from_secs(600);

/// How far back a new consumer group starts by default: 60 seconds.
pub const DEFAULT_MAX_REQUEST_AGE: Duration = Duration::from_secs(60);

/// How long a handler without a deadline may run by default: 10 minutes.
pub const DEFAULT_MAX_HANDLER_TIME: Duration = Duration::from_secs(600);

/// The hard cap on a reply stream's length by default: 100 000 replies.
pub const DEFAULT_REPLY_STREAM_MAXLEN: usize = 100_000;

/// How long replies are kept for their reader by default: 10 minutes.
pub const DEFAULT_REPLY_RETENTION: Duration = Duration::from_secs(600);

/// The most partitions a service may have: each is a consumer loop, a reclaim loop and a
/// blocking connection per server, so far more would cost more than it spreads.
pub const MAX_PARTITIONS: usize = 256;

/// The largest envelope accepted by default: 1 MiB.
pub const DEFAULT_MAX_ENVELOPE_BYTES: usize = 1 << 20;
