//! The dead-letter stream: `<prefix>:dlq:<service>` receives entries that cannot be served.
//! That means every malformed entry, and every request delivered more than `max_deliveries`
//! times (a poison request that crashes its server each time). Each keeps its original
//! fields, followed by `dlq-reason`, `dlq-deliveries`, `dlq-error`, `dlq-entry-id` and `dlq-at`
//! (epoch ms). A letter is bounded whatever the entry: a field's value keeps at most its first
//! 64 KiB (an oversized envelope, say), its name at most 256 bytes, and the entry's fields
//! together at most 256 KiB (the first ones, clamator's among them, are kept; the rest are
//! dropped); `dlq-truncated` then lists `<field>=<original bytes>` for the fields cut and
//! `+<n> fields dropped (<bytes> bytes)`, so one huge entry cannot cost Redis its size again.
//! The stream is capped (`MAXLEN ~`).
//! [`DeadLetters`] lists, replays and purges it.
//!
//! Writes happen in the order dead-letter, reply, ack: a crash in between leaves the entry
//! pending, so it is dead-lettered again (a duplicate) rather than lost.

use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

use clamator_protocol::{Error, RpcError};

use crate::codes::DEAD_LETTERED;
use crate::connection::{Connector, RedisConn};
use crate::keys;
use crate::stream::commands;
use crate::stream::{fields, StreamEntry};
use crate::target::RedisTarget;

/// The error answered to a dead-lettered request.
pub(crate) fn dead_lettered_error(reason: &str, deliveries: Option<u64>) -> RpcError {
    RpcError::new(DEAD_LETTERED, "Request dead-lettered")
        .with_data(serde_json::json!({ "reason": reason, "deliveries": deliveries }))
}

/// Fields we add to a dead letter; replay strips them.
const OUR_FIELDS: [&str; 6] = [
    "dlq-reason",
    "dlq-deliveries",
    "dlq-error",
    "dlq-entry-id",
    "dlq-at",
    TRUNCATED,
];

/// Lists the fields kept only in part: `<field>=<original bytes>,…`.
const TRUNCATED: &str = "dlq-truncated";

/// The most of one field's value a dead letter keeps.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The most of one field's name a dead letter keeps.
const MAX_NAME_BYTES: usize = 256;

/// The most of an entry's own fields (names and values) a dead letter keeps: a few whole
/// envelopes, and no more, however many fields the entry had.
const MAX_LETTER_BYTES: usize = 256 * 1024;

/// How many cut or dropped fields `dlq-truncated` names, at most.
const MAX_NOTED: usize = 16;

/// What a dead letter keeps of an entry's fields, and what it says it cut.
#[derive(Debug, PartialEq, Eq)]
struct Kept<'a> {
    fields: Vec<(&'a [u8], &'a [u8])>,
    /// `<field>=<original bytes>,…` for the fields kept in part, then
    /// `+<n> fields dropped (<bytes> bytes)` when the budget ran out; empty when whole.
    note: String,
}

/// The entry's fields in order, each name cut to [`MAX_NAME_BYTES`] and value to
/// [`MAX_FIELD_BYTES`], until [`MAX_LETTER_BYTES`] are spent; what is cut or dropped is
/// noted (at most [`MAX_NOTED`] names, each cut too). Pure: the bound is decided here.
fn kept_fields(fields: &[(Bytes, Bytes)]) -> Kept<'_> {
    let mut kept = Vec::new();
    let mut noted = Vec::new();
    let (mut spent, mut dropped, mut dropped_bytes) = (0usize, 0usize, 0usize);
    for (name, value) in fields {
        let short_name = name.get(..MAX_NAME_BYTES).unwrap_or(name);
        let short_value = value.get(..MAX_FIELD_BYTES).unwrap_or(value);
        let cost = short_name.len() + short_value.len();
        if spent + cost > MAX_LETTER_BYTES {
            dropped += 1;
            dropped_bytes += name.len() + value.len();
            continue;
        }
        spent += cost;
        kept.push((short_name, short_value));
        if (short_name.len(), short_value.len()) != (name.len(), value.len())
            && noted.len() < MAX_NOTED
        {
            let shown = String::from_utf8_lossy(name.get(..64).unwrap_or(name));
            noted.push(format!("{shown}={}", value.len()));
        }
    }
    if dropped > 0 {
        noted.push(format!("+{dropped} fields dropped ({dropped_bytes} bytes)"));
    }
    Kept {
        fields: kept,
        note: noted.join(","),
    }
}

/// Appends `entry` to the dead-letter stream of its service: its own fields, then ours.
pub(crate) async fn write(
    manager: &RedisConn,
    dlq_key: &str,
    maxlen: usize,
    entry: &StreamEntry,
    reason: &str,
    error: &str,
) -> redis::RedisResult<()> {
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        .to_string();
    let deliveries = entry.delivery_count.unwrap_or(0).to_string();
    let ours: [(&str, &str); 5] = [
        ("dlq-reason", reason),
        ("dlq-deliveries", &deliveries),
        ("dlq-error", error),
        ("dlq-entry-id", &entry.id),
        ("dlq-at", &at),
    ];
    let kept = kept_fields(&entry.fields);
    let fields = kept
        .fields
        .iter()
        .copied()
        .chain(ours.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
        .chain((!kept.note.is_empty()).then_some((TRUNCATED.as_bytes(), kept.note.as_bytes())));
    commands::add_fields(&mut manager.clone(), dlq_key, Some(maxlen), fields)
        .await
        .map(|_| ())
}

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// Its id in the dead-letter stream.
    pub id: String,
    /// Why it was dead-lettered: `max-deliveries` or `malformed`.
    pub reason: String,
    /// How many times it had been delivered.
    pub deliveries: u64,
    /// What went wrong.
    pub error: String,
    /// Its id in the command stream.
    pub entry_id: String,
    /// The original `envelope` field, when it had one.
    pub envelope: Option<String>,
    /// The original `reply-to` field, when it had one.
    pub reply_to: Option<String>,
    /// True when a field was too large to keep whole (see the module docs); such a dead
    /// letter cannot be replayed.
    pub truncated: bool,
}

/// Lists, replays and purges dead letters.
///
/// ```no_run
/// # async fn run() -> Result<(), clamator_protocol::Error> {
/// use clamator_redis::{DeadLetters, RedisTarget};
/// let dlq = DeadLetters::connect(&RedisTarget::new("redis://127.0.0.1:6379"), "app").await?;
/// for letter in dlq.list("arith", 100).await? {
///     println!("{} {}: {}", letter.id, letter.reason, letter.error);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DeadLetters {
    manager: RedisConn,
    prefix: String,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// Connects to the Redis `target` names (in its deployment mode, with its timeouts and
    /// TLS), for key prefix `prefix`. An application passes the target its servers use:
    /// [`ServerConfig::redis_target`](crate::ServerConfig::redis_target).
    pub async fn connect(target: &RedisTarget, prefix: &str) -> Result<Self, Error> {
        let manager = Connector::new(target)?.shared().await?;
        Ok(Self {
            manager,
            prefix: prefix.to_owned(),
        })
    }

    /// Up to `count` dead letters of `service`, oldest first.
    pub async fn list(&self, service: &str, count: usize) -> Result<Vec<DeadLetter>, Error> {
        let dlq = keys::dead_letter_stream(&self.prefix, service);
        let entries = commands::range(&mut self.manager.clone(), &dlq, "-", "+", Some(count))
            .await
            .map_err(|e| {
                crate::connection::redis_failure("XRANGE of the dead-letter stream failed", e)
            })?;
        Ok(entries.iter().map(to_letter).collect())
    }

    /// Puts dead letter `id` of `service` back on the command stream (without our `dlq-*`
    /// fields) and removes it from the dead-letter stream. Returns the new entry id. Fails
    /// for a dead letter kept only in part, and for an event's dead letter (a subscriber's),
    /// which stays where it is.
    pub async fn replay(&self, service: &str, id: &str) -> Result<String, Error> {
        let entry = self.letter(service, id).await?;
        if let Some(reason) = Self::replay_refusal(&entry.fields) {
            return Err(Error::InvalidArgument(format!("dead letter {id} {reason}")));
        }
        let command_stream = keys::command_stream(&self.prefix, service);
        self.move_letter(service, &entry, &command_stream, None)
            .await
    }

    /// Dead letter `id` of `service`; an error naming it when there is none.
    async fn letter(&self, service: &str, id: &str) -> Result<StreamEntry, Error> {
        let dlq = keys::dead_letter_stream(&self.prefix, service);
        commands::range(&mut self.manager.clone(), &dlq, id, id, None)
            .await
            .map_err(|e| {
                crate::connection::redis_failure("XRANGE of the dead-letter stream failed", e)
            })?
            .into_iter()
            .next()
            .ok_or_else(|| Error::InvalidArgument(format!("no dead letter {id} for {service}")))
    }

    /// Adds `letter`'s original fields (without ours, and with `extra`) to `stream`, then
    /// removes the letter from `service`'s dead-letter stream; returns the new entry id.
    async fn move_letter(
        &self,
        service: &str,
        letter: &StreamEntry,
        stream: &str,
        extra: Option<(&[u8], &[u8])>,
    ) -> Result<String, Error> {
        let mut conn = self.manager.clone();
        let replaced = |k: &[u8]| extra.is_some_and(|(name, _)| name == k);
        let original = letter
            .fields
            .iter()
            .filter(|(k, _)| !OUR_FIELDS.iter().any(|f| f.as_bytes() == &k[..]) && !replaced(k))
            .map(|(k, v)| (&k[..], &v[..]))
            .chain(extra);
        let new_id = commands::add_fields(&mut conn, stream, None, original)
            .await
            .map_err(|e| crate::connection::redis_failure(format!("XADD to {stream} failed"), e))?;
        let dlq = keys::dead_letter_stream(&self.prefix, service);
        commands::delete_entry(&mut conn, &dlq, &letter.id)
            .await
            .map_err(|e| {
                crate::connection::redis_failure("XDEL from the dead-letter stream failed", e)
            })?;
        Ok(new_id)
    }

    /// Publishes the event of dead letter `id` of `subscriber` again, on its publisher's
    /// event stream, and removes the letter. With `only_this_subscriber` the new event
    /// carries a `for-subscriber` field naming `subscriber`: every other subscriber (and
    /// every broadcast) acknowledges it without running anything; without it, every
    /// subscriber gets it again. Returns the publisher and the new entry id. Fails for a
    /// letter that is not an event's, was kept only in part, or names no publisher.
    ///
    /// An exactly-once subscriber runs it again: its records are per entry, and this is a
    /// new entry.
    pub async fn republish(
        &self,
        subscriber: &str,
        id: &str,
        only_this_subscriber: bool,
    ) -> Result<(String, String), Error> {
        let entry = self.letter(subscriber, id).await?;
        let publisher = Self::republish_target(&entry.fields)
            .map_err(|reason| Error::InvalidArgument(format!("dead letter {id} {reason}")))?;
        // Without the mark, a `for-subscriber` the letter carries (a republished event that
        // failed again) goes too: the event is for every subscriber.
        let mark = (fields::FOR_SUBSCRIBER.as_bytes(), subscriber.as_bytes());
        let stream = keys::event_stream(&self.prefix, &publisher);
        let new_id = if only_this_subscriber {
            self.move_letter(subscriber, &entry, &stream, Some(mark))
                .await?
        } else {
            let unmarked = StreamEntry {
                fields: entry
                    .fields
                    .iter()
                    .filter(|(k, _)| &k[..] != fields::FOR_SUBSCRIBER.as_bytes())
                    .cloned()
                    .collect(),
                ..entry
            };
            self.move_letter(subscriber, &unmarked, &stream, None)
                .await?
        };
        Ok((publisher, new_id))
    }

    /// The publisher whose event stream a dead letter with these fields would be
    /// [republished](Self::republish) on (the service its envelope's method names), or why
    /// it cannot be: not an event's letter, kept only in part, or no readable envelope.
    /// `clamator events republish --dry-run` says the same.
    ///
    /// ```
    /// use clamator_redis::DeadLetters;
    /// let envelope = r#"{"jsonrpc":"2.0","method":"orders.orderPlaced","params":{}}"#;
    /// let event = [("type", "event"), ("envelope", envelope), ("dlq-reason", "handler-failed")];
    /// assert_eq!(DeadLetters::republish_target(&event).as_deref(), Ok("orders"));
    /// let request = [("type", "rpc"), ("envelope", envelope), ("dlq-reason", "malformed")];
    /// assert!(DeadLetters::republish_target(&request).is_err());
    /// ```
    pub fn republish_target<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        fields: &[(K, V)],
    ) -> Result<String, String> {
        let value = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.as_ref() == name.as_bytes())
                .map(|(_, v)| v.as_ref())
        };
        if value(fields::TYPE) != Some(b"event".as_slice()) {
            return Err("is not an event's; replay it with clamator dlq replay".to_owned());
        }
        if let Some(which) = value(TRUNCATED) {
            let which = String::from_utf8_lossy(which);
            return Err(format!(
                "was kept only in part ({which}); it cannot be published again"
            ));
        }
        match value(fields::ENVELOPE).map(clamator_protocol::envelope::parse_envelope) {
            Some(Ok(clamator_protocol::Envelope::Notification(n))) => Ok(n.service),
            _ => Err("has no event envelope naming its publisher".to_owned()),
        }
    }

    /// Why a dead letter with these fields (as `XRANGE` returns them) cannot be
    /// [replayed](Self::replay), if it cannot: it was kept only in part, or it is an event's
    /// (a subscriber's), whose stream is the publisher's, shared by every subscriber (put
    /// back there it would reach them all again, and on a command stream nobody would
    /// handle it). [`replay`](Self::replay) refuses such a letter with this reason; a tool
    /// that only says what it would replay (`clamator dlq replay --dry-run`) skips it with
    /// the same one.
    ///
    /// ```
    /// use clamator_redis::DeadLetters;
    /// let event = [("type", "event"), ("envelope", "{}"), ("dlq-reason", "handler-failed")];
    /// assert!(DeadLetters::replay_refusal(&event).unwrap().contains("is an event"));
    /// let request = [("type", "rpc"), ("envelope", "{}"), ("dlq-reason", "malformed")];
    /// assert_eq!(DeadLetters::replay_refusal(&request), None);
    /// ```
    pub fn replay_refusal<K: AsRef<[u8]>, V: AsRef<[u8]>>(fields: &[(K, V)]) -> Option<String> {
        let value = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.as_ref() == name.as_bytes())
                .map(|(_, v)| v.as_ref())
        };
        if let Some(which) = value(TRUNCATED) {
            let which = String::from_utf8_lossy(which);
            return Some(format!(
                "was kept only in part ({which}); it cannot be replayed"
            ));
        }
        if value(fields::TYPE) == Some(b"event".as_slice()) {
            return Some(
                "is an event (of a subscriber); it is not replayed on a command stream: \
                 publish it again (clamator events republish), or rewind the subscriber \
                 (clamator events rewind)"
                    .to_owned(),
            );
        }
        None
    }

    /// Deletes every dead letter of `service`; returns how many there were.
    pub async fn purge(&self, service: &str) -> Result<u64, Error> {
        let dlq = keys::dead_letter_stream(&self.prefix, service);
        commands::length_and_delete(&mut self.manager.clone(), &dlq)
            .await
            .map_err(|e| {
                crate::connection::redis_failure("purging the dead-letter stream failed", e)
            })
    }
}

fn to_letter(e: &StreamEntry) -> DeadLetter {
    let text = |name: &str| e.text(name);
    DeadLetter {
        id: e.id.clone(),
        reason: text("dlq-reason").unwrap_or_default(),
        deliveries: text("dlq-deliveries")
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
        error: text("dlq-error").unwrap_or_default(),
        entry_id: text("dlq-entry-id").unwrap_or_default(),
        envelope: text(fields::ENVELOPE),
        reply_to: text(fields::REPLY_TO),
        truncated: e.field(TRUNCATED).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, bytes: usize) -> (Bytes, Bytes) {
        (
            Bytes::copy_from_slice(name.as_bytes()),
            Bytes::from(vec![b'x'; bytes]),
        )
    }

    #[test]
    fn a_small_entry_is_kept_whole() {
        let fields = [field("type", 3), field("envelope", 100)];
        let kept = kept_fields(&fields);
        assert_eq!(kept.fields.len(), 2);
        assert_eq!(kept.note, "");
    }

    #[test]
    fn a_letter_is_bounded_by_fields_names_and_values() {
        // 600 fields of 60 KiB: 36 MB as written, four of them kept.
        let many: Vec<_> = (0..600)
            .map(|i| field(&format!("f{i}"), 60 * 1024))
            .collect();
        let kept = kept_fields(&many);
        let bytes: usize = kept.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(bytes <= MAX_LETTER_BYTES, "{bytes}");
        assert_eq!(kept.fields.len(), 4);
        assert_eq!(kept.note, "+596 fields dropped (36620522 bytes)");
        // A 20 MiB name and a 2 MiB value: both cut, and said.
        let huge_name = (Bytes::from("n".repeat(20 << 20)), Bytes::from_static(b"v"));
        let huge_value = field("envelope", 2 << 20);
        let huge = [huge_name, huge_value];
        let kept = kept_fields(&huge);
        assert_eq!(kept.fields[0].0.len(), MAX_NAME_BYTES);
        assert_eq!(kept.fields[1].1.len(), MAX_FIELD_BYTES);
        assert!(kept.note.len() < 300, "{}", kept.note.len());
        assert!(kept.note.contains("envelope=2097152"), "{}", kept.note);
    }
}
