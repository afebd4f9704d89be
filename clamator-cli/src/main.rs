//! # clamator
//!
//! The operator's command line for clamator services on Redis, as grpcurl is for gRPC: call
//! a method, list services and their consumers, read published contracts, watch stream
//! statistics, inspect pending entries and dead letters, tail live traffic, and print
//! least-privilege ACL users. Every command takes `--json` and then prints one JSON
//! document (`tail` and `stat --watch`: one per line).
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | remote error: an RPC error reply, no published contract, a dead letter not found |
//! | 2 | usage: bad arguments, params that are not JSON, params that fail the contract |
//! | 3 | transport: Redis unreachable or failing, a call timed out |
//!
//! Every command and flag, with an example session: `docs/cli.md`.
//!
//! | module | what |
//! |---|---|
//! | `commands` | one module per command |
//! | `target` | the Redis URL and deployment mode, and the CLI's own connection |
//! | `streams` | finding services, reading `XINFO`, `XRANGE` |
//! | `contract` | contract files and published contracts, params checks |
//! | `output` | tables, JSON, durations |
//! | `error` | `CliError` and the exit codes |

mod commands;
mod contract;
mod error;
mod output;
mod streams;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;
use crate::target::{Conn, Target};

/// The Redis URL when neither `--redis-url` nor `REDIS_URL` gives one.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The operator's command line for clamator services on Redis.
#[derive(Parser, Debug)]
#[command(name = "clamator", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command takes.
#[derive(clap::Args, Debug)]
struct Global {
    /// Redis URL: `redis://[user:pass@]host:port`, `rediss://` for TLS; with `--cluster` or
    /// `--sentinel-master`, a comma-separated list of nodes; or `redis+cluster://…`,
    /// `redis+sentinel://…/<master>`.
    #[arg(
        long,
        global = true,
        env = "REDIS_URL",
        hide_env_values = true,
        default_value = DEFAULT_REDIS_URL,
        help_heading = "Global options"
    )]
    redis_url: String,
    /// Redis Cluster: `--redis-url` lists seed nodes.
    #[arg(
        long,
        global = true,
        env = "CLAMATOR_REDIS_CLUSTER",
        conflicts_with = "sentinel_master"
    )]
    cluster: bool,
    /// Sentinel: `--redis-url` lists sentinels, and commands go to the master they name NAME.
    #[arg(
        long,
        global = true,
        env = "CLAMATOR_SENTINEL_MASTER",
        value_name = "NAME"
    )]
    sentinel_master: Option<String>,
    /// The key prefix the services use (required: clamator has no default prefix).
    #[arg(
        long,
        global = true,
        env = "CLAMATOR_PREFIX",
        visible_alias = "key-prefix"
    )]
    prefix: Option<String>,
    /// Print one JSON document (stable camelCase field names) instead of tables.
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Call a method (or send a notification) and print its result.
    Call(commands::call::Args),
    /// List the services under the prefix, their streams, groups and consumers.
    Services(commands::services::Args),
    /// Show the contract a service published: methods, schemas, hashes.
    Describe(commands::describe::Args),
    /// Stream length, requests in and acknowledged per second, lag, pending, dead letters.
    Stat(commands::stat::Args),
    /// List entries delivered and not acknowledged, with their method and id.
    Pending(commands::pending::Args),
    /// List, show, replay or purge dead letters.
    Dlq(commands::dlq::Args),
    /// Watch requests and their replies as they pass (read-only).
    Tail(commands::tail::Args),
    /// Print the ACL SETUSER line of a least-privilege server or client user.
    Acl(commands::acl::Args),
}

/// What every command needs: where Redis is, the prefix, the output format.
#[derive(Debug)]
pub(crate) struct Ctx {
    redis_url: String,
    /// `--cluster` was given.
    pub(crate) cluster: bool,
    sentinel_master: Option<String>,
    prefix: Option<String>,
    /// `--json` was given.
    pub(crate) json: bool,
}

impl Ctx {
    /// The key prefix; a usage error when neither `--prefix` nor `CLAMATOR_PREFIX` gives it.
    pub(crate) fn prefix(&self) -> Result<&str, CliError> {
        match self.prefix.as_deref() {
            Some(p) if !p.is_empty() => Ok(p),
            _ => Err(CliError::Usage(
                "no key prefix: pass --prefix P or set CLAMATOR_PREFIX (the prefix the \
                 services were started with)"
                    .into(),
            )),
        }
    }

    /// Where Redis is.
    pub(crate) fn target(&self) -> Result<Target, CliError> {
        Target::new(
            &self.redis_url,
            self.cluster,
            self.sentinel_master.as_deref(),
        )
    }

    /// The CLI's own connection.
    pub(crate) async fn connect(&self) -> Result<Conn, CliError> {
        self.target()?.connect().await
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version print and exit 0; usage errors print and exit 2.
        Err(e) => e.exit(),
    };
    let ctx = Ctx {
        redis_url: cli.global.redis_url,
        cluster: cli.global.cluster,
        sentinel_master: cli.global.sentinel_master,
        prefix: cli.global.prefix,
        json: cli.global.json,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::note(&format!("clamator: cannot start the async runtime: {e}"));
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Call(args) => commands::call::run(&ctx, args).await,
            Command::Services(args) => commands::services::run(&ctx, args).await,
            Command::Describe(args) => commands::describe::run(&ctx, args).await,
            Command::Stat(args) => commands::stat::run(&ctx, args).await,
            Command::Pending(args) => commands::pending::run(&ctx, args).await,
            Command::Dlq(args) => commands::dlq::run(&ctx, args).await,
            Command::Tail(args) => commands::tail::run(&ctx, args).await,
            Command::Acl(args) => commands::acl::run(&ctx, args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if ctx.json && !e.reported() {
                output::json(&e.to_json());
            }
            output::note(&format!("clamator: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
