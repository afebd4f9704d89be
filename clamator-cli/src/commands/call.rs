//! `clamator call <service.method> [params]`: one call (or notification) through
//! `RedisTransport` and the protocol's `Client`, raw JSON in and out, with the params checked
//! against the contract first when one is known.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clamator_protocol::{names, CallOptions, Client};
use clamator_redis::{RedisTransport, TransportConfig};
use serde_json::{json, Value};

use crate::contract::{fetch_published, Contract};
use crate::error::CliError;
use crate::output;
use crate::Ctx;

/// Arguments of `clamator call`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// `<service>.<method>`, e.g. `arith.add`.
    #[arg(value_name = "SERVICE.METHOD")]
    method: String,
    /// The params: JSON text, `@FILE` to read a file, or `-` to read stdin. Default `{}`.
    #[arg(value_name = "PARAMS")]
    params: Option<String>,
    /// How long to wait for the reply: `5s`, `500ms`, `1.5s`, `2m`, or milliseconds.
    #[arg(long, default_value = "30s", value_parser = output::parse_duration)]
    timeout: Duration,
    /// Send a notification (no reply is awaited) instead of a call.
    #[arg(long)]
    notify: bool,
    /// The idempotency key servers running exactly-once execute the call once under.
    #[arg(long, value_name = "KEY", conflicts_with = "notify")]
    idempotency_key: Option<String>,
    /// Check the params against this contract file (`contracts/<service>.json` format)
    /// instead of the contract the service published.
    #[arg(long, value_name = "FILE")]
    contract: Option<PathBuf>,
    /// Send the params unchecked, even when a contract is known.
    #[arg(long, conflicts_with = "contract")]
    no_validate: bool,
    /// The instance id of the call's transport, which names its reply stream
    /// (`<prefix>:replies:<id>`); default: a random UUID. A user made with `clamator acl
    /// --role client --instance-id 'ops-*'` calls with `--instance-id ops-cli`.
    #[arg(long, value_name = "ID")]
    instance_id: Option<String>,
}

/// Runs `clamator call`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let (service, method) = split_method(&args.method)?;
    let params = read_params(args.params.as_deref())?;
    let prefix = ctx.prefix()?;
    let target = ctx.target()?;

    let contract = if let Some(path) = &args.contract {
        let contract = Contract::from_file(path)?;
        if contract.service != service {
            return Err(CliError::Usage(format!(
                "{} is the contract of \"{}\", not of \"{service}\"",
                path.display(),
                contract.service
            )));
        }
        Some(contract)
    } else if args.no_validate {
        None
    } else {
        published(ctx, service).await?
    };
    if let Some(contract) = &contract {
        let m = contract.method(method)?;
        if m.notification && !args.notify {
            return Err(CliError::Usage(format!(
                "{service}.{method} is a notification in its contract ({}): nothing would \
                 answer; send it with --notify",
                contract.source
            )));
        }
        contract.check_params(method, &params)?;
    }

    let mut config = TransportConfig::new(prefix).redis(target);
    if let Some(id) = &args.instance_id {
        if id.is_empty() || id.contains(':') {
            return Err(CliError::Usage(format!(
                "the instance id {id:?} must be non-empty and free of ':'"
            )));
        }
        config = config.instance_id(id);
    }
    let transport = RedisTransport::connect(config).await?;
    let client = Client::new(transport.clone()).with_default_timeout(args.timeout);
    let started = Instant::now();
    let outcome = if args.notify {
        client.notify(service, method, &params).await.map(|()| None)
    } else {
        let mut options = CallOptions::timeout(args.timeout);
        if let Some(key) = &args.idempotency_key {
            options = options.with_idempotency_key(key);
        }
        client
            .call_value(service, method, &params, options)
            .await
            .map(Some)
    };
    let elapsed = started.elapsed();
    transport.stop().await;
    let result = outcome.map_err(|e| CliError::from_call(service, method, e))?;

    let validated = contract.as_ref().map(|c| c.source.clone());
    if ctx.json {
        output::json(&json!({
            "service": service,
            "method": method,
            "notification": args.notify,
            "result": result,
            "elapsedMs": elapsed.as_secs_f64() * 1000.0,
            "validatedAgainst": validated,
        }));
    } else if let Some(result) = result {
        output::pretty(&result);
    } else {
        output::note(&format!("notification {service}.{method} sent"));
    }
    Ok(())
}

/// `arith.add` → (`arith`, `add`), both names valid.
fn split_method(text: &str) -> Result<(&str, &str), CliError> {
    let Some((service, method)) = text.split_once('.') else {
        return Err(CliError::Usage(format!(
            "expected <service>.<method>, such as arith.add; got {text:?}"
        )));
    };
    if !names::is_valid_service(service) {
        return Err(CliError::Usage(format!(
            "invalid service name {service:?} (it must match ^[a-z][a-z0-9-]*$)"
        )));
    }
    if !names::is_valid_method(method) {
        return Err(CliError::Usage(format!(
            "invalid method name {method:?} (it must match ^[a-z][a-zA-Z0-9]*$)"
        )));
    }
    Ok((service, method))
}

/// The params from the argument: JSON text, `@FILE`, `-` for stdin, `{}` when absent.
fn read_params(arg: Option<&str>) -> Result<Value, CliError> {
    let (text, from) = match arg {
        None => return Ok(json!({})),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Usage(format!("cannot read params from stdin: {e}")))?;
            (text, "stdin".to_owned())
        }
        Some(arg) => match arg.strip_prefix('@') {
            Some(path) => (
                std::fs::read_to_string(path)
                    .map_err(|e| CliError::Usage(format!("cannot read params file {path}: {e}")))?,
                path.to_owned(),
            ),
            None => (arg.to_owned(), "the argument".to_owned()),
        },
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("params from {from} are not JSON: {e}")))
}

/// The contract `service` published, if it did, this user may read it, and it reads.
async fn published(ctx: &Ctx, service: &str) -> Result<Option<Contract>, CliError> {
    let mut conn = ctx.connect().await?;
    let unchecked = |why: &dyn std::fmt::Display| {
        output::note(&format!("clamator: params not checked: {why}"));
        Ok(None)
    };
    match fetch_published(&mut conn, ctx.prefix()?, service).await {
        Ok(Some((doc, key))) => match Contract::from_published(&doc, &key) {
            Ok(contract) => Ok(Some(contract)),
            // The publisher's fault: the server checks params anyway.
            Err(e) => unchecked(&e),
        },
        Ok(None) => Ok(None),
        Err(CliError::Remote(e)) => unchecked(&e),
        // A user that may not read contracts (or a key of another type): call unchecked.
        Err(CliError::Transport(e)) if e.contains("NOPERM") || e.contains("WRONGTYPE") => {
            unchecked(&format!("cannot read the published contract ({e})"))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_checked_before_anything_is_sent() {
        assert_eq!(split_method("arith.add").unwrap(), ("arith", "add"));
        for bad in ["arith", "Arith.add", "arith.do-thing", "arith."] {
            assert_eq!(split_method(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn params_are_json_or_a_usage_error() {
        assert_eq!(read_params(None).unwrap(), json!({}));
        assert_eq!(read_params(Some(r#"{"a":1}"#)).unwrap(), json!({"a": 1}));
        let e = read_params(Some("{a:1}")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("not JSON"), "{e}");
        let missing = read_params(Some("@/nonexistent/params.json")).unwrap_err();
        assert_eq!(missing.exit_code(), 2);
    }
}
