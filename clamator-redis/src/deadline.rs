//! Deadlines on the wire: an extra stream field with the epoch milliseconds after which the
//! caller no longer waits. Clamator peers ignore it and their requests carry none.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
}
