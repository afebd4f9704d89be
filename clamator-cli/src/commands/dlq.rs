//! `clamator dlq list|show|replay|purge <service>`: the dead-letter stream
//! `<prefix>:dlq:<service>`, over `clamator_redis::DeadLetters` (list, replay, purge). Showing
//! every field of one letter and choosing letters by range read the stream with `XRANGE`
//! on the CLI's own connection, as `DeadLetters` has no call for either.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clamator_redis::{keys, DeadLetters, RedisConnection, RedisTarget};
use serde_json::{json, Map, Value};

use crate::commands::pending::describe_envelope;
use crate::error::CliError;
use crate::output::{self, Table};
use crate::query::Query;
use crate::streams::{self, field, Fields};
use crate::Ctx;

/// Arguments of `clamator dlq`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

/// What to do with the dead letters.
#[derive(clap::Subcommand, Debug)]
enum Action {
    /// List dead letters, oldest first.
    List {
        /// The service.
        service: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
    /// Show one dead letter with every field.
    Show {
        /// The service.
        service: String,
        /// The dead letter's id in the dead-letter stream.
        id: String,
    },
    /// Put dead letters back on the command stream (without the dlq-* fields) and remove
    /// them from the dead-letter stream: by id, by range, or all.
    Replay {
        /// The service.
        service: String,
        /// Dead-letter ids.
        ids: Vec<String>,
        /// The first id of a range (default: the oldest).
        #[arg(long, value_name = "ID")]
        from: Option<String>,
        /// The last id of a range (default: the newest).
        #[arg(long, value_name = "ID")]
        to: Option<String>,
        /// Every dead letter of the service.
        #[arg(long)]
        all: bool,
        /// Say what would be replayed, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete every dead letter of the service. Asks first on a terminal; without one,
    /// refuses unless `--yes`.
    Purge {
        /// The service.
        service: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs `clamator dlq`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    match args.action {
        Action::List { service, count } => list(ctx, &service, count).await,
        Action::Show { service, id } => show(ctx, &service, &id).await,
        Action::Replay {
            service,
            ids,
            from,
            to,
            all,
            dry_run,
        } => {
            let which = match (ids.is_empty(), from.is_some() || to.is_some(), all) {
                (false, false, false) => Which::Ids(ids),
                (true, true, false) => Which::Range(
                    from.unwrap_or_else(|| "-".to_owned()),
                    to.unwrap_or_else(|| "+".to_owned()),
                ),
                (true, false, true) => Which::Range("-".to_owned(), "+".to_owned()),
                (true, false, false) => {
                    return Err(CliError::Usage(
                        "say which dead letters to replay: ids, --from/--to, or --all".into(),
                    ))
                }
                _ => {
                    return Err(CliError::Usage(
                        "choose one of: ids, --from/--to, --all".into(),
                    ))
                }
            };
            replay(ctx, &service, which, dry_run).await
        }
        Action::Purge { service, yes } => purge(ctx, &service, yes).await,
    }
}

pub(crate) fn check_service(service: &str) -> Result<(), CliError> {
    if clamator_protocol::names::is_valid_service(service) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "invalid service name {service:?} (it must match ^[a-z][a-z0-9-]*$)"
        )))
    }
}

/// A stream entry id: `<ms>-<seq>` or `<ms>`, or `-` / `+` where a range allows them.
pub(crate) fn check_id(id: &str, range_end: bool) -> Result<(), CliError> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = (range_end && (id == "-" || id == "+"))
        || match id.split_once('-') {
            Some((ms, seq)) => digits(ms) && digits(seq),
            None => digits(id),
        };
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{id:?} is not a stream entry id (like 1700000000000-0)"
        )))
    }
}

async fn dead_letters(ctx: &Ctx) -> Result<DeadLetters, CliError> {
    Ok(DeadLetters::connect(&ctx.target()?, ctx.prefix()?).await?)
}

async fn list(ctx: &Ctx, service: &str, count: usize) -> Result<(), CliError> {
    check_service(service)?;
    let letters = dead_letters(ctx).await?.list(service, count.max(1)).await?;
    let rows: Vec<Value> = letters
        .iter()
        .map(|l| {
            let (method, rpc_id) = describe_envelope(l.envelope.as_deref());
            json!({
                "id": l.id,
                "reason": l.reason,
                "deliveries": l.deliveries,
                "error": l.error,
                "entryId": l.entry_id,
                "method": method,
                "rpcId": rpc_id,
                "replyTo": l.reply_to,
                "truncated": l.truncated,
            })
        })
        .collect();
    if ctx.json {
        output::json(&json!({
            "service": service,
            "stream": keys::dead_letter_stream(ctx.prefix()?, service),
            "deadLetters": rows,
        }));
        return Ok(());
    }
    if rows.is_empty() {
        output::line(&format!("no dead letters for {service}"));
        return Ok(());
    }
    let mut table = Table::new(&["ID", "REASON", "DELIVERIES", "METHOD", "ENTRY", "ERROR"]);
    for (r, l) in rows.iter().zip(&letters) {
        table.row(vec![
            l.id.clone(),
            l.reason.clone(),
            l.deliveries.to_string(),
            r["method"].as_str().unwrap_or("-").to_owned(),
            l.entry_id.clone(),
            output::cut(&l.error, 60),
        ]);
    }
    table.print();
    Ok(())
}

async fn show(ctx: &Ctx, service: &str, id: &str) -> Result<(), CliError> {
    check_service(service)?;
    check_id(id, false)?;
    let stream = keys::dead_letter_stream(ctx.prefix()?, service);
    let mut conn = ctx.connect().await?;
    let Some((id, fields)) = streams::range(&mut conn, &stream, id, id, Some(1))
        .await?
        .into_iter()
        .next()
    else {
        return Err(CliError::Remote(format!(
            "no dead letter {id} for service {service} (in {stream})"
        )));
    };
    let doc = letter_json(service, &id, &fields);
    if ctx.json {
        output::json(&doc);
        return Ok(());
    }
    let mut table = Table::new(&["FIELD", "VALUE"]);
    for (k, v) in &fields {
        if k != "envelope" {
            table.row(vec![k.clone(), v.clone()]);
        }
    }
    output::line(&format!("dead letter {id} of {service}"));
    table.print();
    if let Some(envelope) = field(&fields, "envelope") {
        output::line("envelope:");
        match serde_json::from_str::<Value>(envelope) {
            Ok(v) => output::pretty(&v),
            Err(_) => output::line(envelope),
        }
    }
    Ok(())
}

/// One dead letter as `dlq show --json` prints it: its `dlq-*` fields read, its envelope
/// parsed, every field as it is.
pub(crate) fn letter_json(service: &str, id: &str, fields: &Fields) -> Value {
    let mut map = Map::new();
    for (k, v) in fields {
        map.entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    let envelope = field(fields, "envelope");
    let (method, rpc_id) = describe_envelope(envelope);
    json!({
        "service": service,
        "id": id,
        "reason": field(fields, "dlq-reason"),
        "deliveries": field(fields, "dlq-deliveries").and_then(|d| d.parse::<u64>().ok()),
        "error": field(fields, "dlq-error"),
        "entryId": field(fields, "dlq-entry-id"),
        "at": field(fields, "dlq-at").and_then(|d| d.parse::<u64>().ok()),
        "method": method,
        "rpcId": rpc_id,
        "truncated": field(fields, "dlq-truncated").is_some(),
        "envelope": envelope.and_then(|e| serde_json::from_str::<Value>(e).ok()),
        "fields": map,
    })
}

/// Which dead letters to replay.
pub(crate) enum Which {
    /// These ids.
    Ids(Vec<String>),
    /// From the first id to the second (`-` and `+` for the ends).
    Range(String, String),
}

/// Replays the dead letters `which` chooses (or, `dry_run`, says what it would): the
/// document `dlq replay --json` prints, with the letters replayed and those skipped and
/// why. The CLI and the dashboard both replay through here, with the same refusals.
pub(crate) async fn replay_letters(
    target: &RedisTarget,
    prefix: &str,
    conn: &mut RedisConnection,
    service: &str,
    which: Which,
    dry_run: bool,
) -> Result<Value, CliError> {
    check_service(service)?;
    let stream = keys::dead_letter_stream(prefix, service);
    let mut found: Vec<(String, Fields)> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    match which {
        Which::Ids(ids) => {
            for id in &ids {
                check_id(id, false)?;
            }
            for id in ids {
                match streams::range(conn, &stream, &id, &id, Some(1))
                    .await?
                    .into_iter()
                    .next()
                {
                    Some(letter) => found.push(letter),
                    None => missing.push(id),
                }
            }
        }
        Which::Range(from, to) => {
            check_id(&from, true)?;
            check_id(&to, true)?;
            let mut start = from;
            loop {
                let page = streams::range(conn, &stream, &start, &to, Some(500)).await?;
                let Some((last, _)) = page.last() else { break };
                start = format!("({last}");
                let full = page.len() == 500;
                found.extend(page);
                if !full {
                    break;
                }
            }
        }
    }
    let mut replayed = Vec::new();
    let mut skipped = Vec::new();
    for id in &missing {
        skipped.push(json!({ "id": id, "reason": "no such dead letter" }));
    }
    let dlq = if dry_run {
        None
    } else {
        Some(DeadLetters::connect(target, prefix).await?)
    };
    for (id, fields) in &found {
        let (method, _) = describe_envelope(field(fields, "envelope"));
        // What `DeadLetters::replay` would refuse is skipped here first, so that a dry run
        // says so too.
        if let Some(reason) = DeadLetters::replay_refusal(fields) {
            skipped.push(json!({ "id": id, "reason": reason }));
            continue;
        }
        match &dlq {
            None => replayed.push(json!({ "id": id, "method": method, "newId": null })),
            Some(dlq) => match dlq.replay(service, id).await {
                Ok(new_id) => {
                    replayed.push(json!({ "id": id, "method": method, "newId": new_id }));
                }
                Err(clamator_protocol::Error::InvalidArgument(reason)) => {
                    skipped.push(json!({ "id": id, "reason": reason }));
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    let doc = json!({
        "service": service,
        "dryRun": dry_run,
        "replayed": replayed,
        "skipped": skipped,
    });
    Ok(doc)
}

async fn replay(ctx: &Ctx, service: &str, which: Which, dry_run: bool) -> Result<(), CliError> {
    let mut conn = ctx.connect().await?;
    let doc = replay_letters(
        &ctx.target()?,
        ctx.prefix()?,
        &mut conn,
        service,
        which,
        dry_run,
    )
    .await?;
    let (replayed, skipped) = (
        doc["replayed"].as_array().cloned().unwrap_or_default(),
        doc["skipped"].as_array().cloned().unwrap_or_default(),
    );
    if ctx.json {
        output::json(&doc);
    } else {
        let verb = if dry_run { "would replay" } else { "replayed" };
        for r in &replayed {
            let to = r["newId"]
                .as_str()
                .map(|n| format!(" as {n}"))
                .unwrap_or_default();
            output::line(&format!(
                "{verb} {} ({}){to}",
                r["id"].as_str().unwrap_or(""),
                r["method"].as_str().unwrap_or("-")
            ));
        }
        for s in &skipped {
            output::line(&format!(
                "skipped {}: {}",
                s["id"].as_str().unwrap_or(""),
                s["reason"].as_str().unwrap_or("")
            ));
        }
        if replayed.is_empty() && skipped.is_empty() {
            output::line(&format!("no dead letters of {service} in that selection"));
        }
    }
    if skipped.is_empty() {
        Ok(())
    } else {
        // The document above says what happened; the exit code says not everything did.
        Err(CliError::Partial(format!(
            "{} dead letter(s) not replayed",
            skipped.len()
        )))
    }
}

async fn purge(ctx: &Ctx, service: &str, yes: bool) -> Result<(), CliError> {
    check_service(service)?;
    let stream = keys::dead_letter_stream(ctx.prefix()?, service);
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(format!(
                "refusing to purge {stream} without --yes when stdin is not a terminal"
            )));
        }
        let mut conn = ctx.connect().await?;
        let n: u64 = conn.query(redis::cmd("XLEN").arg(&stream)).await?;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "Delete all {n} dead letters of {service} ({stream})? Type yes to confirm: "
        );
        let _ = err.flush();
        drop(err);
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| CliError::Usage(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "yes" | "y" | "YES" | "Yes") {
            return Err(CliError::Remote("purge cancelled; nothing deleted".into()));
        }
    }
    let purged = purge_letters(&ctx.target()?, ctx.prefix()?, service).await?;
    if ctx.json {
        output::json(&json!({ "service": service, "stream": stream, "purged": purged }));
    } else {
        output::line(&format!("purged {purged} dead letters of {service}"));
    }
    Ok(())
}

/// Deletes every dead letter of `service`; how many there were.
pub(crate) async fn purge_letters(
    target: &RedisTarget,
    prefix: &str,
    service: &str,
) -> Result<u64, CliError> {
    check_service(service)?;
    Ok(DeadLetters::connect(target, prefix)
        .await?
        .purge(service)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_redis_sees_them() {
        assert!(check_id("1700000000000-0", false).is_ok());
        assert!(check_id("1700000000000", false).is_ok());
        assert!(check_id("-", true).is_ok());
        for bad in ["-", "abc", "1-", "-1", "1-2-3", ""] {
            assert_eq!(check_id(bad, false).unwrap_err().exit_code(), 2, "{bad}");
        }
    }
}
