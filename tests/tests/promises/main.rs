//! The integration tests of clamator-rs against real redis-servers, one module per promise,
//! so the test of a promise is found by its file name. One test binary: they share one
//! build, and their tests run side by side instead of binary after binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod calls;
mod dead_letters;
mod deadlines;
// Clusters, sentinels and their failovers, and Redis going away: step 3 of the test ladder.
#[cfg(feature = "full-tests")]
mod deployments;
mod events;
mod evolution;
mod exactly_once;
mod generated;
mod housekeeping;
mod load;
mod reclaim;
#[cfg(feature = "full-tests")]
mod redis_outages;
mod reply_streams;
mod stop_drain;
mod typed_events;
