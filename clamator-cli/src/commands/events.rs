//! `clamator events`: what an operator does to subscribers.
//!
//! * `rewind <publisher> <subscriber> --to <when>` moves a subscriber's group on a
//!   publisher's event stream, so it is delivered again every event from then on (or, `--to
//!   now`, skips what it has not read): the library's
//!   `clamator_redis::events::rewind_subscriber`, on the CLI's connection.
//! * `republish <subscriber> <dead-letter-id>…` publishes the events of a subscriber's dead
//!   letters again, for that subscriber alone (or `--all-subscribers`):
//!   `DeadLetters::republish`, with `--dry-run` saying what it would do by the same rule.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_redis::{events, keys, DeadLetters, RedisConnection, RedisTarget, StartAt};
use serde_json::json;

use crate::error::CliError;
use crate::output;
use crate::query::Query;
use crate::streams;
use crate::Ctx;

/// Arguments of `clamator events`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Move a subscriber back (or forward): every event from `--to` on is delivered to it
    /// again. What it holds pending stays pending.
    Rewind {
        /// The publishing service.
        publisher: String,
        /// The subscriber (its group on the publisher's event stream).
        subscriber: String,
        /// `oldest` (everything the stream holds), `now` (skip what is unread), a duration
        /// (that long ago: `10m`, `2h`), or a time in milliseconds since the Unix epoch.
        #[arg(long, value_name = "WHEN")]
        to: String,
    },
    /// Publish the events of a subscriber's dead letters again (after a fix): for that
    /// subscriber alone, or every subscriber with `--all-subscribers`. Each letter is
    /// removed once its event is back on the publisher's stream.
    Republish {
        /// The subscriber whose dead letters (`<prefix>:dlq:<subscriber>`) they are.
        subscriber: String,
        /// Dead-letter ids (as `clamator dlq list` shows them).
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Every subscriber of the publisher gets the event again, not only this one.
        #[arg(long)]
        all_subscribers: bool,
        /// Say what would be published, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `clamator events`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    match args.action {
        Action::Rewind {
            publisher,
            subscriber,
            to,
        } => rewind(ctx, publisher, subscriber, &to).await,
        Action::Republish {
            subscriber,
            ids,
            all_subscribers,
            dry_run,
        } => republish(ctx, &subscriber, &ids, all_subscribers, dry_run).await,
    }
}

async fn rewind(
    ctx: &Ctx,
    publisher: String,
    subscriber: String,
    to: &str,
) -> Result<(), CliError> {
    let conn = ctx.connect().await?;
    let stream = rewind_group(&conn, ctx.prefix()?, &publisher, &subscriber, to).await?;
    if ctx.json {
        output::json(&json!({
            "publisher": publisher,
            "subscriber": subscriber,
            "stream": stream,
            "to": to,
        }));
    } else {
        output::line(&format!(
            "{subscriber} on {stream} moved to {to}: it is delivered every event from there on"
        ));
    }
    Ok(())
}

/// Moves `subscriber`'s group on `publisher`'s event stream to `to` (as `--to` reads it);
/// the stream's key. The CLI and the dashboard both rewind through here.
pub(crate) async fn rewind_group(
    conn: &RedisConnection,
    prefix: &str,
    publisher: &str,
    subscriber: &str,
    to: &str,
) -> Result<String, CliError> {
    for name in [publisher, subscriber] {
        if !clamator_protocol::names::is_valid_service(name) {
            return Err(CliError::Usage(format!(
                "invalid name {name:?} (it must match ^[a-z][a-z0-9-]*$)"
            )));
        }
    }
    let start = when(to, SystemTime::now()).map_err(CliError::Usage)?;
    let stream = keys::event_stream(prefix, publisher);
    // Said before Redis would (`NOGROUP`), in the CLI's words.
    let known = streams::groups(&mut conn.clone(), &stream).await?;
    if !known.iter().any(|g| g.name == subscriber) {
        return Err(CliError::Remote(format!(
            "no subscriber \"{subscriber}\" on the event stream {stream}"
        )));
    }
    events::rewind_subscriber(conn, prefix, publisher, subscriber, start).await?;
    Ok(stream)
}

/// Publishes the events of `subscriber`'s dead letters `ids` again (or, `dry_run`, says
/// what it would): the letters done and those skipped with why, as `events republish
/// --json` lists them. The CLI and the dashboard both republish through here.
pub(crate) async fn republish_letters(
    target: &RedisTarget,
    prefix: &str,
    conn: &mut RedisConnection,
    subscriber: &str,
    ids: &[String],
    all_subscribers: bool,
    dry_run: bool,
) -> Result<(Vec<serde_json::Value>, Vec<serde_json::Value>), CliError> {
    if !clamator_protocol::names::is_valid_service(subscriber) {
        return Err(CliError::Usage(format!(
            "invalid subscriber name {subscriber:?} (it must match ^[a-z][a-z0-9-]*$)"
        )));
    }
    let dlq = keys::dead_letter_stream(prefix, subscriber);
    let letters = DeadLetters::connect(target, prefix).await?;
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for id in ids {
        // Read first, by the rule `republish` applies, so a dry run says what a real run
        // does and a real run says why it skipped one.
        let reply: redis::Value = conn
            .query(redis::cmd("XRANGE").arg(&dlq).arg(id).arg(id))
            .await?;
        let Some((_, fields)) = streams::entries(reply).into_iter().next() else {
            skipped.push(json!({"id": id, "reason": format!("no dead letter {id} in {dlq}")}));
            continue;
        };
        let publisher = match DeadLetters::republish_target(&fields) {
            Ok(publisher) => publisher,
            Err(reason) => {
                skipped.push(json!({"id": id, "reason": format!("dead letter {id} {reason}")}));
                continue;
            }
        };
        if dry_run {
            done.push(json!({"id": id, "publisher": publisher, "newId": null}));
            continue;
        }
        match letters.republish(subscriber, id, !all_subscribers).await {
            Ok((publisher, new_id)) => {
                done.push(json!({"id": id, "publisher": publisher, "newId": new_id}));
            }
            Err(e) => skipped.push(json!({"id": id, "reason": e.to_string()})),
        }
    }
    Ok((done, skipped))
}

async fn republish(
    ctx: &Ctx,
    subscriber: &str,
    ids: &[String],
    all_subscribers: bool,
    dry_run: bool,
) -> Result<(), CliError> {
    let mut conn = ctx.connect().await?;
    let (done, skipped) = republish_letters(
        &ctx.target()?,
        ctx.prefix()?,
        &mut conn,
        subscriber,
        ids,
        all_subscribers,
        dry_run,
    )
    .await?;
    let audience = if all_subscribers {
        "every subscriber".to_owned()
    } else {
        format!("{subscriber} alone")
    };
    if ctx.json {
        output::json(&json!({
            "subscriber": subscriber,
            "for": if all_subscribers { "all" } else { subscriber },
            "dryRun": dry_run,
            "republished": done,
            "skipped": skipped,
        }));
    } else {
        let verb = if dry_run {
            "would republish"
        } else {
            "republished"
        };
        for d in &done {
            output::line(&format!(
                "{verb} {} on {}'s events, for {audience}{}",
                d["id"].as_str().unwrap_or(""),
                d["publisher"].as_str().unwrap_or(""),
                d["newId"]
                    .as_str()
                    .map_or(String::new(), |n| format!(" (new id {n})"))
            ));
        }
        for s in &skipped {
            output::note(&format!("skipped: {}", s["reason"].as_str().unwrap_or("")));
        }
    }
    if skipped.is_empty() {
        Ok(())
    } else {
        Err(CliError::Partial(format!(
            "{} of {} dead letters not republished",
            skipped.len(),
            ids.len()
        )))
    }
}

/// Where `--to` puts the group, read at `now`.
fn when(text: &str, now: SystemTime) -> Result<StartAt, String> {
    match text.trim() {
        "oldest" => return Ok(StartAt::Oldest),
        "now" => return Ok(StartAt::Now),
        _ => {}
    }
    if let Ok(ms) = text.trim().parse::<u64>() {
        // A bare number large enough to be a time: milliseconds since the epoch.
        if ms >= 1_000_000_000_000 {
            return Ok(StartAt::Time(UNIX_EPOCH + Duration::from_millis(ms)));
        }
    }
    let ago = output::parse_duration(text).map_err(|_| {
        format!(
            "--to {text:?}: expected oldest, now, a duration ago (10m, 2h) or milliseconds \
             since the Unix epoch"
        )
    })?;
    Ok(StartAt::Time(now.checked_sub(ago).unwrap_or(UNIX_EPOCH)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_reads_names_durations_and_times() {
        let now = UNIX_EPOCH + Duration::from_millis(1_800_000_000_000);
        assert_eq!(when("oldest", now), Ok(StartAt::Oldest));
        assert_eq!(when("now", now), Ok(StartAt::Now));
        assert_eq!(
            when("10m", now),
            Ok(StartAt::Time(now - Duration::from_secs(600)))
        );
        assert_eq!(
            when("1700000000000", now),
            Ok(StartAt::Time(
                UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
            ))
        );
        assert!(when("yesterday", now).is_err());
    }
}
