//! # clamator
//!
//! The operator's command line for clamator services on Redis, as grpcurl is for gRPC: call
//! a method, list services and their consumers, read published contracts, watch stream
//! statistics, inspect pending entries and dead letters, tail live traffic, print
//! least-privilege ACL users, and serve a web dashboard of it all (`clamator dashboard`). Every command takes `--json` and then prints one JSON
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
//! | `dashboard` | `clamator dashboard`: the HTTP server, its pages and live feeds |
//! | `query` | commands on clamator-redis's `RedisConnection` with their failures named, glob escaping |
//! | `streams` | finding services, reading `XINFO`, `XRANGE` |
//! | `contract` | contract files and published contracts, params checks |
//! | `output` | tables, JSON, durations |
//! | `error` | `CliError` and the exit codes |
//!
//! Its features `redis-tests` and `full-tests` are this project's test ladder (the CLI suite
//! against a private redis-server, then on a cluster, under Sentinel and beside the Python
//! peer); the binary is the same without them.

mod commands;
mod contract;
mod dashboard;
mod error;
mod output;
mod query;
mod streams;

use std::process::ExitCode;

use clamator_redis::{RedisArgs, RedisConnection, RedisTarget};
use clap::{Parser, Subcommand};

use crate::error::CliError;

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
    /// Where Redis is: `--redis-url`, `--cluster`, `--sentinel-master`, `--tls-ca-cert`.
    #[command(flatten, next_help_heading = "Global options")]
    redis: RedisArgs,
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
    /// Operate on event subscribers: rewind one to replay events.
    Events(commands::events::Args),
    /// Print the ACL SETUSER line of a least-privilege server, client or dashboard user.
    Acl(commands::acl::Args),
    /// Serve a web dashboard: services, queues, events and dead letters, live (read-only
    /// unless --allow-writes; needs the access token it prints).
    Dashboard(dashboard::Args),
}

/// What every command needs: where Redis is, the prefix, the output format.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Where Redis is, as the flags say.
    pub(crate) redis: RedisArgs,
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

    /// Where Redis is; a usage error for a target that cannot be connected to as it stands.
    pub(crate) fn target(&self) -> Result<RedisTarget, CliError> {
        Ok(self.redis.target()?)
    }

    /// A connection for the CLI's own reads, in the target's deployment mode.
    pub(crate) async fn connect(&self) -> Result<RedisConnection, CliError> {
        Ok(self.target()?.connect().await?)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version print and exit 0; usage errors print and exit 2.
        Err(e) => e.exit(),
    };
    let ctx = Ctx {
        redis: cli.global.redis,
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
            Command::Events(args) => commands::events::run(&ctx, args).await,
            Command::Acl(args) => commands::acl::run(&ctx, args).await,
            Command::Dashboard(args) => dashboard::run(&ctx, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if ctx.json && !e.reported() {
                output::json(&e.to_json());
            }
            output::note(&format!("clamator: {e}"));
            if let Some(details) = e.details() {
                output::note(&details);
            }
            ExitCode::from(e.exit_code())
        }
    }
}
