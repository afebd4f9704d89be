//! The CLI's commands on the library's [`RedisConnection`] (where Redis is, the deployment
//! modes and the connection itself are clamator-redis's: [`clamator_redis::RedisArgs`],
//! [`clamator_redis::RedisTarget`]): running a command with its failure named, and escaping
//! names for glob patterns.

use clamator_redis::RedisConnection;
use redis::{Cmd, FromRedisValue};

use crate::error::CliError;

/// Commands with their failures as [`CliError`]s that say what was asked.
pub(crate) trait Query {
    /// Runs `cmd`; a Redis error becomes a transport error saying what was asked.
    async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, CliError>;

    /// Runs `cmd`, with `Ok(None)` for an error Redis answered with one of `codes` (such as
    /// `NOGROUP` for a stream without the group).
    async fn query_unless<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        codes: &[&str],
    ) -> Result<Option<T>, CliError>;
}

impl Query for RedisConnection {
    async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, CliError> {
        cmd.query_async(self).await.map_err(|e| failed(cmd, &e))
    }

    async fn query_unless<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        codes: &[&str],
    ) -> Result<Option<T>, CliError> {
        match cmd.query_async(self).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
            Err(e) => Err(failed(cmd, &e)),
        }
    }
}

/// A failed command as a transport error: `XINFO GROUPS failed: …`.
fn failed(cmd: &Cmd, e: &redis::RedisError) -> CliError {
    let name: Vec<String> = cmd
        .args_iter()
        .take(2)
        .filter_map(|a| match a {
            redis::Arg::Simple(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        })
        .filter(|word| word.chars().all(|c| c.is_ascii_alphabetic()))
        .map(|word| word.to_ascii_uppercase())
        .collect();
    CliError::Transport(format!("{} failed: {e}", name.join(" ")))
}

/// `text` with the glob characters of `SCAN MATCH` and ACL key patterns escaped.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_escaped_and_failures_name_the_command() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        let e = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("GROUPS").arg("k");
        let failure = failed(&cmd, &e);
        assert_eq!(failure.exit_code(), 3);
        assert!(
            failure.to_string().starts_with("XINFO GROUPS failed: "),
            "{failure}"
        );
    }
}
