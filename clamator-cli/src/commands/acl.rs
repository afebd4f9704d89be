//! `clamator acl <service>… --role server|client`: the `ACL SETUSER` line of a
//! least-privilege Redis user for a clamator server or client of these services: the keys
//! it touches and exactly the commands clamator-redis (and redis-rs under it) sends there.
//!
//! On Redis 7 each group of keys is a selector of its own, `(<keys> <commands>)`, so a
//! command is allowed only on the keys that need it (a server may `XADD` to reply streams
//! but not read them); read-only and write-only keys get `%R~` / `%W~`. Redis 6 has neither:
//! there the keys and commands are one flat list.

use std::collections::BTreeSet;

use serde_json::json;

use crate::error::CliError;
use crate::output;
use crate::query::glob_escape;
use crate::Ctx;

/// Which side of clamator the user runs.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A `RedisServer` serving the services.
    Server,
    /// A `RedisTransport` calling the services.
    Client,
    /// `clamator dashboard` (every service under the prefix; read-only unless
    /// `--allow-writes`).
    Dashboard,
}

/// Arguments of `clamator acl`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The services the user serves or calls (none for `--role dashboard`, which reads
    /// every service under the prefix).
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Server, client or dashboard.
    #[arg(long, value_enum)]
    role: Role,
    /// The user's name (default: `<first service>-<role>`).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// The user's password (without it the line sets none: add `>password` before use).
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Client: the instance id its transport uses (`TransportConfig::instance_id`,
    /// `CLAMATOR_INSTANCE_ID`), whose reply stream is the only one it may read. A glob
    /// pattern: `orders-*` lets each process take its own id under it. Default: the user's
    /// name.
    #[arg(long, value_name = "ID")]
    instance_id: Option<String>,
    /// Client: the transport runs with `fail_fast_without_server`, which asks
    /// `XINFO GROUPS` of command streams.
    #[arg(long)]
    fail_fast: bool,
    /// Server: its services subscribe to the events of this publisher
    /// (`ServerBuilder::subscribe`, each service listed being a subscriber's name); repeat
    /// for several publishers.
    #[arg(long, value_name = "PUBLISHER")]
    subscribes_to: Vec<String>,
    /// Publishes the events of the services listed (`RedisTransport::publish_event`, the
    /// generated `<Service>Events`).
    #[arg(long)]
    publishes: bool,
    /// Dashboard: it runs with `--allow-writes` (replay, purge, republish, rewind).
    #[arg(long)]
    allow_writes: bool,
    /// The Redis version the line is for: 7.2 and up (and Valkey) take `CLIENT SETINFO`,
    /// 7.0 selectors and `%R~` / `%W~`, 6.2 neither. Default: the version of the Redis
    /// `--redis-url` points at (`INFO server`), or 7.2 when it cannot be asked.
    #[arg(long, value_name = "MAJOR.MINOR", value_parser = parse_version)]
    redis_version: Option<(u32, u32)>,
}

/// The version assumed when the Redis cannot be asked.
const ASSUMED_VERSION: (u32, u32) = (7, 2);

/// The `redis_version` an `INFO server` reply names (Valkey names the Redis version it is
/// compatible with there, 7.2 for Valkey 7 and 8).
fn version_in_info(info: &str) -> Option<(u32, u32)> {
    let value = info
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("redis_version:"))?;
    parse_version(value).ok()
}

/// The version the line is for: the flag's, else the one the Redis at hand reports, else
/// [`ASSUMED_VERSION`] with a note saying so.
async fn target_version(ctx: &Ctx, flag: Option<(u32, u32)>) -> (u32, u32) {
    if let Some(version) = flag {
        return version;
    }
    let asked = async {
        let mut conn = ctx.connect().await.map_err(|e| e.to_string())?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        version_in_info(&info).ok_or_else(|| "INFO server names no redis_version".to_owned())
    };
    match asked.await {
        Ok(version) => version,
        Err(why) => {
            output::note(&format!(
                "clamator: could not ask Redis for its version ({why}); the line is for Redis \
                 {}.{}: pass --redis-version for another",
                ASSUMED_VERSION.0, ASSUMED_VERSION.1
            ));
            ASSUMED_VERSION
        }
    }
}

fn parse_version(text: &str) -> Result<(u32, u32), String> {
    let mut parts = text.split('.');
    let major = parts.next().and_then(|p| p.parse().ok());
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok());
    match (major, minor) {
        (Some(major), Some(minor)) if major >= 6 => Ok((major, minor)),
        (Some(_), Some(_)) => Err("clamator needs Redis 6.2 or newer".into()),
        _ => Err(format!("{text:?} is not a version such as 7.2")),
    }
}

/// Keys of one kind and the commands allowed on them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    /// What these keys are, for people.
    what: &'static str,
    /// `R`, `W` or `RW`: how the commands use the keys.
    access: &'static str,
    /// Key patterns, glob-escaped where they are names.
    keys: Vec<String>,
    /// Commands, lower case, `command|subcommand` for one subcommand.
    commands: Vec<&'static str>,
}

/// The commands without keys each connection of the role may send, and the grants.
/// What the user does with events, beside calls.
#[derive(Debug, Clone, Copy, Default)]
struct EventRoles<'a> {
    /// The publishers whose events the services (as subscribers) take.
    subscribes_to: &'a [String],
    /// Whether it publishes the services' events.
    publishes: bool,
    /// A dashboard that may write (`--allow-writes`).
    dashboard_writes: bool,
}

#[allow(clippy::too_many_arguments)] // each is one switch of the command line
fn grants(
    role: Role,
    prefix: &str,
    services: &[String],
    instance: &str,
    fail_fast: bool,
    version: (u32, u32),
    cluster: bool,
    events: EventRoles<'_>,
) -> (Vec<&'static str>, Vec<Grant>) {
    let p = glob_escape(prefix);
    let each = |f: &dyn Fn(&str) -> Vec<String>| -> Vec<String> {
        services.iter().flat_map(|s| f(&glob_escape(s))).collect()
    };
    // PING: a client checks a connection that broke before its next request; HELLO: a
    // server asks which Redis it reached; CLIENT SETINFO: redis-rs names its library on
    // every new connection (Redis 7.2+).
    let mut keyless = vec!["ping", "hello"];
    if version >= (7, 2) {
        keyless.push("client|setinfo");
    }
    if cluster {
        // redis-rs's cluster client reads the slot map and follows ASK redirects.
        keyless.extend(["cluster|slots", "asking"]);
    }
    let command_streams = each(&|s| vec![format!("{p}:cmds:{s}"), format!("{p}:cmds:{s}:*")]);
    let publishers: Vec<String> = events
        .subscribes_to
        .iter()
        .map(|s| glob_escape(s))
        .collect();
    let mut grants = match role {
        Role::Client => {
            keyless.sort_unstable();
            let mut requests = Grant {
                what: "command streams: requests and notifications (XADD)",
                access: "W",
                keys: command_streams,
                commands: vec!["xadd"],
            };
            if fail_fast {
                requests.access = "RW";
                requests.what = "command streams: requests, and whether a group serves them";
                requests.commands.push("xinfo|groups");
            }
            vec![
                requests,
                Grant {
                    what: "its own reply stream: read, trimmed, kept alive, deleted at stop",
                    access: "RW",
                    keys: vec![format!("{p}:replies:{instance}")],
                    commands: vec!["xread", "xtrim", "pexpire", "del"],
                },
                Grant {
                    what: "published contracts: read, bounded (a transport expecting a \
                           contract compares it; clamator call checks params)",
                    access: "R",
                    keys: each(&|s| vec![format!("{p}:contracts:{s}")]),
                    commands: vec!["getrange"],
                },
            ]
        }
        Role::Dashboard => {
            // SCAN finds the services; TIME is Redis's clock for ages.
            keyless.extend(["scan", "time"]);
            keyless.sort_unstable();
            let mut grants = vec![Grant {
                what: "everything under the prefix, read: streams found (TYPE), their \
                       figures (XINFO, XLEN, XPENDING), entries (XRANGE), the live tail \
                       (XREAD of command, event and reply streams), published contracts \
                       (GETRANGE)",
                access: "R",
                keys: vec![format!("{p}:*")],
                commands: vec![
                    "type",
                    "xinfo|stream",
                    "xinfo|groups",
                    "xinfo|consumers",
                    "xlen",
                    "xpending",
                    "xrange",
                    "xread",
                    "getrange",
                ],
            }];
            if events.dashboard_writes {
                grants.extend([
                    Grant {
                        what: "command streams: dead letters replayed",
                        access: "W",
                        keys: vec![format!("{p}:cmds:*")],
                        commands: vec!["xadd"],
                    },
                    Grant {
                        what: "event streams: events republished, subscribers rewound",
                        access: "W",
                        keys: vec![format!("{p}:events:*")],
                        commands: vec!["xadd", "xgroup|setid"],
                    },
                    Grant {
                        what: "dead-letter streams: letters removed once replayed, purged",
                        access: "W",
                        keys: vec![format!("{p}:dlq:*")],
                        commands: vec!["xdel", "del"],
                    },
                ]);
            }
            grants
        }
        Role::Server => {
            // Scripts are sent as EVALSHA, loaded with SCRIPT LOAD when Redis lacks them.
            keyless.push("script|load");
            keyless.sort_unstable();
            vec![
                Grant {
                    what: "command streams: read in the group, acknowledged, reclaimed, leases \
                           renewed (a script of XPENDING and XCLAIM), trimmed, idle consumers \
                           removed",
                    access: "RW",
                    keys: command_streams,
                    commands: vec![
                        "xreadgroup",
                        "xack",
                        "xautoclaim",
                        "xclaim",
                        "xpending",
                        "xinfo|groups",
                        "xinfo|consumers",
                        "xlen",
                        "xtrim",
                        "xgroup|create",
                        "xgroup|delconsumer",
                        "evalsha",
                    ],
                },
                Grant {
                    what: "callers' reply streams: replies written, trimmed by age, given a \
                           time to live; TYPE refuses a reply-to that is not a stream. Never \
                           read.",
                    access: "W",
                    keys: vec![format!("{p}:replies:*")],
                    commands: vec!["xadd", "xtrim", "pexpire", "type"],
                },
                Grant {
                    what: "dead-letter streams: written, their length sampled",
                    access: "W",
                    keys: each(&|s| vec![format!("{p}:dlq:{s}")]),
                    commands: vec!["xadd", "xlen"],
                },
                Grant {
                    what: "exactly-once records (claim, complete and release scripts)",
                    access: "RW",
                    keys: each(&|s| vec![format!("{p}:idem:{s}:*")]),
                    commands: vec!["evalsha", "hget", "hset", "pexpire", "del"],
                },
                lock_grant(
                    "the housekeeping lock (SET NX PX, release script)",
                    each(&|s| vec![format!("{p}:lock:housekeeping:{s}")]),
                ),
                Grant {
                    what: "the published contract (SET at start)",
                    access: "W",
                    keys: each(&|s| vec![format!("{p}:contracts:{s}")]),
                    commands: vec!["set"],
                },
            ]
        }
    };
    if role == Role::Server && !publishers.is_empty() {
        // Housekeeping reads an event stream's progress in one MULTI … EXEC.
        keyless.extend(["multi", "exec"]);
        keyless.sort_unstable();
        let per_pair = |f: &dyn Fn(&str, &str) -> String| -> Vec<String> {
            services
                .iter()
                .flat_map(|s| publishers.iter().map(move |pb| f(&glob_escape(s), pb)))
                .collect()
        };
        grants.push(Grant {
            what: "the publishers' event streams: read in the subscriber's group (started \
                   where it is told to: XREVRANGE for now, XGROUP CREATE), acknowledged, \
                   reclaimed, leases renewed, trimmed below what every group acknowledged; \
                   or read by every instance (a broadcast: XREVRANGE, then XREAD)",
            access: "RW",
            keys: publishers
                .iter()
                .map(|pb| format!("{p}:events:{pb}"))
                .collect(),
            commands: vec![
                "xreadgroup",
                "xread",
                "xack",
                "xautoclaim",
                "xclaim",
                "xpending",
                "xinfo|groups",
                "xinfo|consumers",
                "xinfo|stream",
                "xlen",
                "xrange",
                "xrevrange",
                "xtrim",
                "xgroup|create",
                "xgroup|delconsumer",
                "evalsha",
            ],
        });
        grants.push(Grant {
            what: "exactly-once records of the events each subscriber handled",
            access: "RW",
            keys: per_pair(&|s, pb| format!("{p}:idem-event:{s}:{pb}:*")),
            commands: vec!["evalsha", "hget", "hset", "pexpire", "del"],
        });
        grants.push(lock_grant(
            "the housekeeping lock of each subscription",
            per_pair(&|s, pb| format!("{p}:lock:housekeeping:{s}:events:{pb}")),
        ));
    }
    if events.publishes {
        grants.push(Grant {
            what: "the services' event streams: events published (XADD MAXLEN ~)",
            access: "W",
            keys: each(&|s| vec![format!("{p}:events:{s}")]),
            commands: vec!["xadd"],
        });
    }
    (keyless, grants)
}

/// A housekeeping lock's keys and what taking and releasing it sends.
fn lock_grant(what: &'static str, keys: Vec<String>) -> Grant {
    Grant {
        what,
        access: "RW",
        keys,
        commands: vec!["set", "evalsha", "get", "del"],
    }
}

/// The rules after `ACL SETUSER <name>`.
fn rules(
    password: Option<&str>,
    keyless: &[&str],
    grants: &[Grant],
    version: (u32, u32),
) -> Vec<String> {
    let mut out = vec!["reset".to_owned(), "on".to_owned()];
    if let Some(pw) = password {
        out.push(format!(">{pw}"));
    }
    out.push("resetchannels".to_owned());
    out.extend(keyless.iter().map(|c| format!("+{c}")));
    if version >= (7, 0) {
        for g in grants {
            let marker = match g.access {
                "R" => "%R~",
                "W" => "%W~",
                _ => "~",
            };
            let mut parts: Vec<String> = g.keys.iter().map(|k| format!("{marker}{k}")).collect();
            parts.extend(g.commands.iter().map(|c| format!("+{c}")));
            out.push(format!("({})", parts.join(" ")));
        }
    } else {
        let keys: BTreeSet<&String> = grants.iter().flat_map(|g| &g.keys).collect();
        let commands: BTreeSet<&str> = grants
            .iter()
            .flat_map(|g| g.commands.iter().copied())
            .filter(|c| !keyless.contains(c))
            .collect();
        out.extend(keys.iter().map(|k| format!("~{k}")));
        out.extend(commands.iter().map(|c| format!("+{c}")));
    }
    out
}

/// An argument as redis-cli reads it: quoted when it holds a space, a quote or a backslash.
fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && !arg.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
    {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Runs `clamator acl`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    for s in &args.services {
        if !clamator_protocol::names::is_valid_service(s) {
            return Err(CliError::Usage(format!(
                "invalid service name {s:?} (it must match ^[a-z][a-z0-9-]*$)"
            )));
        }
    }
    let prefix = ctx.prefix()?;
    let role_name = match args.role {
        Role::Server => "server",
        Role::Client => "client",
        Role::Dashboard => "dashboard",
    };
    match (args.role, args.services.is_empty()) {
        (Role::Dashboard, false) => {
            return Err(CliError::Usage(
                "--role dashboard takes no services: the dashboard reads every service under \
                 the prefix"
                    .into(),
            ))
        }
        (Role::Server | Role::Client, true) => {
            return Err(CliError::Usage(format!(
                "name the services the {role_name} serves or calls"
            )))
        }
        _ => {}
    }
    if args.allow_writes && args.role != Role::Dashboard {
        return Err(CliError::Usage(
            "--allow-writes is for --role dashboard".into(),
        ));
    }
    let first = args.services.first().map_or("clamator", String::as_str);
    let user = args
        .user
        .clone()
        .unwrap_or_else(|| format!("{first}-{role_name}"));
    if user.is_empty() || user.contains(|c: char| c.is_whitespace()) {
        return Err(CliError::Usage(format!(
            "{user:?} is not a user name for ACL SETUSER"
        )));
    }
    if args.role != Role::Client && (args.instance_id.is_some() || args.fail_fast) {
        return Err(CliError::Usage(
            "--instance-id and --fail-fast are for --role client".into(),
        ));
    }
    if args.role != Role::Server && !args.subscribes_to.is_empty() {
        return Err(CliError::Usage(
            "--subscribes-to is for --role server (subscribers are servers)".into(),
        ));
    }
    if args.role == Role::Dashboard && args.publishes {
        return Err(CliError::Usage(
            "--publishes is for --role server or client".into(),
        ));
    }
    for publisher in &args.subscribes_to {
        if !clamator_protocol::names::is_valid_service(publisher) {
            return Err(CliError::Usage(format!(
                "invalid publisher name {publisher:?} (it must match ^[a-z][a-z0-9-]*$)"
            )));
        }
    }
    let instance = args.instance_id.clone().unwrap_or_else(|| user.clone());
    if instance.is_empty() || instance.contains(':') {
        return Err(CliError::Usage(format!(
            "the instance id {instance:?} must be non-empty and free of ':' (servers refuse \
             such reply streams)"
        )));
    }
    let version = target_version(ctx, args.redis_version).await;
    let (keyless, granted) = grants(
        args.role,
        prefix,
        &args.services,
        &instance,
        args.fail_fast,
        version,
        ctx.redis.cluster,
        EventRoles {
            subscribes_to: &args.subscribes_to,
            publishes: args.publishes,
            dashboard_writes: args.allow_writes,
        },
    );
    let rules = rules(args.password.as_deref(), &keyless, &granted, version);
    let line = std::iter::once("ACL".to_owned())
        .chain(std::iter::once("SETUSER".to_owned()))
        .chain(std::iter::once(user.clone()))
        .chain(rules.iter().cloned())
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    if ctx.json {
        output::json(&json!({
            "user": user,
            "role": role_name,
            "prefix": prefix,
            "services": args.services,
            "instanceId": (args.role == Role::Client).then_some(&instance),
            "redisVersion": format!("{}.{}", version.0, version.1),
            "rules": rules,
            "command": line,
            "grants": granted.iter().map(|g| json!({
                "what": g.what,
                "access": g.access,
                "keys": g.keys,
                "commands": g.commands,
            })).collect::<Vec<_>>(),
            "keylessCommands": keyless,
        }));
    } else {
        // What each pattern is for goes to stderr, so stdout pipes into redis-cli as it is.
        let of = if args.role == Role::Dashboard {
            if args.allow_writes {
                "(with --allow-writes)".to_owned()
            } else {
                "(read-only)".to_owned()
            }
        } else {
            format!("of {}", args.services.join(", "))
        };
        output::note(&format!(
            "# {role_name} {of} under prefix \"{prefix}\", Redis {}.{}",
            version.0, version.1
        ));
        for g in &granted {
            output::note(&format!("#   {}: {}", g.keys.join(" "), g.what));
        }
        if args.role == Role::Client {
            let which = if instance.contains(['*', '?', '[']) {
                format!("an instance id matching {instance}, its own in each process")
            } else {
                format!("instance id {instance} (one process at a time)")
            };
            output::note(&format!(
                "# The client's transport must use {which}: TransportConfig::instance_id, \
                 CLAMATOR_INSTANCE_ID."
            ));
        }
        output::line(&line);
    }
    if args.password.is_none() {
        output::note("clamator: no --password given: the user has none; add >PASSWORD before use");
    }
    if let Some(warning) = flat_list_warning(version) {
        output::note(&warning);
    }
    Ok(())
}

/// Before Redis 7.0 an ACL user has one list of keys and one of commands: every command it
/// is given works on every key it is given. Said loudly, with what that allows, since the
/// line then grants more than the user needs.
fn flat_list_warning(version: (u32, u32)) -> Option<String> {
    (version < (7, 0)).then(|| {
        "clamator: WARNING: Redis before 7.0 has no per-key command rules: this user may run \
         every command listed on every key listed. A client may then XTRIM or DEL the command \
         streams and read other clients' reply streams under its patterns; a server may SET \
         over a command stream or DEL a reply stream. Use Redis 7.0 or later (or Valkey) \
         where that matters."
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_from_info_server() {
        let redis = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(version_in_info(redis), Some((7, 0)));
        // Valkey 8 names the Redis version it is compatible with.
        let valkey =
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(version_in_info(valkey), Some((7, 2)));
        assert_eq!(version_in_info("# Server\r\n"), None);
        assert_eq!(version_in_info("redis_version:5.0.7\r\n"), None);
    }

    #[test]
    fn a_flat_list_on_redis_6_is_said_loudly() {
        let warning = flat_list_warning((6, 2)).unwrap();
        assert!(
            warning.contains("WARNING") && warning.contains("DEL"),
            "{warning}"
        );
        assert_eq!(flat_list_warning((7, 0)), None);
    }

    #[test]
    fn a_dashboard_reads_everything_and_writes_only_when_allowed() {
        let dashboard = |writes: bool| {
            let (keyless, granted) = grants(
                Role::Dashboard,
                "p",
                &[],
                "",
                false,
                (7, 2),
                false,
                EventRoles {
                    dashboard_writes: writes,
                    ..EventRoles::default()
                },
            );
            rules(None, &keyless, &granted, (7, 2)).join(" ")
        };
        let read_only = dashboard(false);
        assert!(read_only.contains("+scan") && read_only.contains("+time"));
        assert!(
            read_only.contains("(%R~p:* +type +xinfo|stream"),
            "{read_only}"
        );
        for write in [
            "xadd",
            "xdel",
            "+del",
            "setid",
            "xack",
            "xgroup|create",
            "+set",
        ] {
            assert!(!read_only.contains(write), "{write} in {read_only}");
        }
        let writes = dashboard(true);
        assert!(writes.contains("(%W~p:cmds:* +xadd)"), "{writes}");
        assert!(
            writes.contains("(%W~p:events:* +xadd +xgroup|setid)"),
            "{writes}"
        );
        assert!(writes.contains("(%W~p:dlq:* +xdel +del)"), "{writes}");
    }

    #[test]
    fn redis_7_gets_selectors_and_redis_6_a_flat_list() {
        let services = vec!["arith".to_owned()];
        let (keyless, granted) = grants(
            Role::Client,
            "p",
            &services,
            "c1",
            false,
            (7, 2),
            false,
            EventRoles::default(),
        );
        let seven = rules(Some("pw"), &keyless, &granted, (7, 2));
        assert_eq!(
            seven,
            [
                "reset",
                "on",
                ">pw",
                "resetchannels",
                "+client|setinfo",
                "+hello",
                "+ping",
                "(%W~p:cmds:arith %W~p:cmds:arith:* +xadd)",
                "(~p:replies:c1 +xread +xtrim +pexpire +del)",
                "(%R~p:contracts:arith +getrange)",
            ]
        );
        let (keyless, granted) = grants(
            Role::Client,
            "p",
            &services,
            "c1",
            false,
            (6, 2),
            false,
            EventRoles::default(),
        );
        let six = rules(None, &keyless, &granted, (6, 2));
        assert!(six.contains(&"~p:replies:c1".to_owned()), "{six:?}");
        assert!(!six.iter().any(|r| r.starts_with('(') || r.contains('%')));
        assert!(!six.contains(&"+client|setinfo".to_owned()));
    }

    #[test]
    fn names_in_patterns_are_escaped_and_lines_quoted() {
        let services = vec!["arith".to_owned()];
        let (_, granted) = grants(
            Role::Server,
            "a*b",
            &services,
            "",
            false,
            (7, 0),
            true,
            EventRoles::default(),
        );
        assert_eq!(granted[0].keys[0], "a\\*b:cmds:arith");
        assert_eq!(quote("(~a +b)"), "\"(~a +b)\"");
        assert_eq!(quote("+xadd"), "+xadd");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(parse_version("7"), Ok((7, 0)));
        assert!(parse_version("5.0").is_err());
    }
}
