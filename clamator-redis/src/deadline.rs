//! Deadlines: on the wire, an extra stream field with the epoch milliseconds after which the
//! caller no longer waits (clamator peers ignore it and their requests carry none); on a
//! server, the limit a handler runs under (its call's deadline, else `max_handler_time`) and
//! the answer to a request that reached it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_protocol::RpcError;

/// The deadline `timeout` from now, as epoch milliseconds.
pub(crate) fn from_now(timeout: Duration) -> Option<u64> {
    let at = SystemTime::now().checked_add(timeout)?;
    u64::try_from(at.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

/// Parses the field's value; anything unreadable counts as no deadline.
pub(crate) fn parse(raw: &[u8]) -> Option<SystemTime> {
    let ms: u64 = std::str::from_utf8(raw).ok()?.trim().parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// What stops a handler: its call's deadline, or the server's `max_handler_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    Deadline,
    MaxHandlerTime,
}

impl LimitKind {
    /// As the answer's `data.reason` and the logs say it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Deadline => "deadline",
            Self::MaxHandlerTime => "max-handler-time",
        }
    }
}

/// When a handler starting at `now` must be cancelled: at its call's deadline when it has
/// one (at once when that has passed), else after `max_handler_time`; never without either.
pub(crate) fn handler_limit(
    deadline: Option<SystemTime>,
    max_handler_time: Option<Duration>,
    now: SystemTime,
) -> Option<(Duration, LimitKind)> {
    match deadline {
        Some(d) => Some((
            d.duration_since(now).unwrap_or(Duration::ZERO),
            LimitKind::Deadline,
        )),
        None => max_handler_time.map(|m| (m, LimitKind::MaxHandlerTime)),
    }
}

/// Resolves when the limit is reached; never without one.
pub(crate) async fn wait_for_limit(limit: Option<(Duration, LimitKind)>) -> LimitKind {
    match limit {
        Some((after, kind)) => {
            tokio::time::sleep(after).await;
            kind
        }
        None => std::future::pending().await,
    }
}

/// The answer to a request skipped or cancelled for its deadline.
pub(crate) fn deadline_exceeded(kind: LimitKind) -> RpcError {
    RpcError::new(crate::codes::DEADLINE_EXCEEDED, "Deadline exceeded")
        .with_data(serde_json::json!({ "reason": kind.as_str() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_garbage() {
        let ms = from_now(Duration::from_secs(1)).unwrap();
        let at = parse(ms.to_string().as_bytes()).unwrap();
        assert!(at > SystemTime::now());
        assert_eq!(parse(b"soon"), None);
        assert_eq!(parse(b"\xff"), None);
    }

    #[test]
    fn a_handler_runs_until_its_deadline_else_the_server_limit() {
        let now = SystemTime::now();
        let max = Some(Duration::from_secs(600));
        let soon = now + Duration::from_secs(2);
        assert_eq!(
            handler_limit(Some(soon), max, now),
            Some((Duration::from_secs(2), LimitKind::Deadline))
        );
        // The deadline wins even when it is later than the server's limit.
        let late = now + Duration::from_secs(900);
        assert_eq!(
            handler_limit(Some(late), max, now),
            Some((Duration::from_secs(900), LimitKind::Deadline))
        );
        let past = now - Duration::from_secs(1);
        assert_eq!(
            handler_limit(Some(past), max, now),
            Some((Duration::ZERO, LimitKind::Deadline))
        );
        assert_eq!(
            handler_limit(None, max, now),
            Some((Duration::from_secs(600), LimitKind::MaxHandlerTime))
        );
        assert_eq!(handler_limit(None, None, now), None);
    }

    #[test]
    fn the_answer_says_which_limit() {
        let e = deadline_exceeded(LimitKind::MaxHandlerTime);
        assert_eq!(e.code, crate::codes::DEADLINE_EXCEEDED);
        assert_eq!(e.data["reason"], "max-handler-time");
        assert_eq!(
            deadline_exceeded(LimitKind::Deadline).data["reason"],
            "deadline"
        );
    }
}
