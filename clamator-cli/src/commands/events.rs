//! `clamator events rewind <publisher> <subscriber> --to <when>`: moves a subscriber's group
//! on a publisher's event stream, so it is delivered again every event from then on (or,
//! `--to now`, skips what it has not read). The library's
//! `clamator_redis::events::rewind_subscriber`, on the CLI's connection.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_redis::{events, keys, StartAt};
use serde_json::json;

use crate::error::CliError;
use crate::output;
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
}

/// Runs `clamator events`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let Action::Rewind {
        publisher,
        subscriber,
        to,
    } = args.action;
    for name in [&publisher, &subscriber] {
        if !clamator_protocol::names::is_valid_service(name) {
            return Err(CliError::Usage(format!(
                "invalid name {name:?} (it must match ^[a-z][a-z0-9-]*$)"
            )));
        }
    }
    let start = when(&to, SystemTime::now()).map_err(CliError::Usage)?;
    let prefix = ctx.prefix()?;
    let conn = ctx.connect().await?;
    let stream = keys::event_stream(prefix, &publisher);
    // Said before Redis would (`NOGROUP`), in the CLI's words.
    let known = streams::groups(&mut conn.clone(), &stream).await?;
    if !known.iter().any(|g| g.name == subscriber) {
        return Err(CliError::Remote(format!(
            "no subscriber \"{subscriber}\" on the event stream {stream}"
        )));
    }
    events::rewind_subscriber(&conn, prefix, &publisher, &subscriber, start).await?;
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
