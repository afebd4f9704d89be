//! Who may see the dashboard and who may change something: decisions only, on the parts of a
//! request they need, so each rule is tested here without a server.
//!
//! Every request needs the access token: in the URL once (`/?token=…`, as the dashboard
//! prints it at start), after which it lives in an `HttpOnly`, `SameSite=Strict` cookie and
//! the URL is cleaned of it; or in an `Authorization: Bearer` header (scripts, `curl`).
//! A write (only with `--allow-writes`) is a POST that carries the page's CSRF token and, when
//! the browser names one, an `Origin` that is the dashboard's own.

/// The secrets of one dashboard process.
#[derive(Clone)]
pub(crate) struct Access {
    token: String,
    csrf: String,
    cookie: String,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

/// The shortest token `--token` takes: shorter ones are guessable.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

impl Access {
    /// Secrets for a dashboard listening on `port`: `token` (or a random one), a random CSRF
    /// token, and a cookie name of its own (cookies are shared by every port of a host, so
    /// two dashboards on one host must not read each other's).
    pub(crate) fn new(token: Option<String>, port: u16) -> Result<Self, String> {
        let token = match token {
            Some(t) => {
                if t.len() < MIN_TOKEN_LEN
                    || !t
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                {
                    return Err(format!(
                        "the dashboard token must be at least {MIN_TOKEN_LEN} characters of \
                         letters, digits, '-', '_' or '.'"
                    ));
                }
                t
            }
            None => random_secret(),
        };
        Ok(Self {
            token,
            csrf: random_secret(),
            cookie: format!("clamator_dashboard_{port}"),
        })
    }

    /// The access token.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The CSRF token forms carry.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The `Set-Cookie` value that keeps the token for later requests.
    pub(crate) fn set_cookie(&self) -> String {
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie, self.token
        )
    }

    /// What to do with a request for `path` with this query string, `Cookie` header and
    /// `Authorization` header.
    pub(crate) fn check(
        &self,
        path: &str,
        query: Option<&str>,
        cookie: Option<&str>,
        authorization: Option<&str>,
    ) -> Verdict {
        if let Some(query) = query {
            let mut given = None;
            let rest: Vec<&str> = query
                .split('&')
                .filter(|pair| match pair.strip_prefix("token=") {
                    Some(t) => {
                        given = Some(t);
                        false
                    }
                    None => !pair.is_empty(),
                })
                .collect();
            if let Some(given) = given {
                if same(given, &self.token) {
                    let location = if rest.is_empty() {
                        path.to_owned()
                    } else {
                        format!("{path}?{}", rest.join("&"))
                    };
                    return Verdict::KeepAndRedirect(location);
                }
                return Verdict::Refuse;
            }
        }
        let from_cookie = cookie.into_iter().flat_map(|c| c.split(';')).any(|pair| {
            pair.trim()
                .split_once('=')
                .is_some_and(|(name, value)| name == self.cookie && same(value, &self.token))
        });
        let from_header = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| same(t.trim(), &self.token));
        if from_cookie || from_header {
            Verdict::Allow
        } else {
            Verdict::Refuse
        }
    }

    /// Whether a write may go ahead: writes allowed, the form's CSRF token right, and the
    /// `Origin` (when the browser sends one) the dashboard's own `host`.
    pub(crate) fn check_write(
        &self,
        allow_writes: bool,
        origin: Option<&str>,
        host: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<(), &'static str> {
        if !allow_writes {
            return Err("the dashboard is read-only: it was started without --allow-writes");
        }
        if let Some(origin) = origin {
            let own = host.is_some_and(|host| {
                origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"))
                    == Some(host)
            });
            if !own {
                return Err("refused: the request came from another site (Origin)");
            }
        }
        if !csrf.is_some_and(|c| same(c, &self.csrf)) {
            return Err("refused: the form's CSRF token is missing or wrong; reload the page");
        }
        Ok(())
    }
}

/// Why `token` cannot be a dashboard token, if it cannot: too short to be unguessable, or
/// with characters a URL or a cookie would have to escape.
pub(crate) fn check_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(format!(
            "the dashboard token must be at least {MIN_TOKEN_LEN} characters of letters, \
             digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It carries the token.
    Allow,
    /// The token was in the URL: keep it in the cookie and send the browser here.
    KeepAndRedirect(String),
    /// No token, or a wrong one.
    Refuse,
}

/// 256 random bits as hex (two v4 UUIDs' random parts, from a CSPRNG).
fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Compares secrets in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new(Some("s3cret-token-0123456789".into()), 7878).unwrap()
    }

    #[test]
    fn the_token_in_the_url_moves_to_a_cookie() {
        let a = access();
        assert_eq!(
            a.check(
                "/s/arith",
                Some("token=s3cret-token-0123456789&x=1"),
                None,
                None
            ),
            Verdict::KeepAndRedirect("/s/arith?x=1".into())
        );
        assert_eq!(
            a.check("/", Some("token=s3cret-token-0123456789"), None, None),
            Verdict::KeepAndRedirect("/".into())
        );
        assert_eq!(
            a.check("/", Some("token=wrong"), None, None),
            Verdict::Refuse
        );
        assert!(a.set_cookie().contains("HttpOnly; SameSite=Strict"));
    }

    #[test]
    fn a_request_needs_the_cookie_or_the_header() {
        let a = access();
        assert_eq!(a.check("/", None, None, None), Verdict::Refuse);
        assert_eq!(
            a.check(
                "/",
                None,
                Some("other=1; clamator_dashboard_7878=s3cret-token-0123456789"),
                None
            ),
            Verdict::Allow
        );
        // Another dashboard's cookie on the same host is not ours.
        assert_eq!(
            a.check(
                "/",
                None,
                Some("clamator_dashboard_7879=s3cret-token-0123456789"),
                None
            ),
            Verdict::Refuse
        );
        assert_eq!(
            a.check("/", None, None, Some("Bearer s3cret-token-0123456789")),
            Verdict::Allow
        );
        assert_eq!(
            a.check("/", None, None, Some("Bearer s3cret")),
            Verdict::Refuse
        );
    }

    #[test]
    fn writes_need_the_flag_the_csrf_token_and_our_origin() {
        let a = access();
        let csrf = a.csrf().to_owned();
        let host = Some("127.0.0.1:7878");
        assert!(a.check_write(false, None, host, Some(&csrf)).is_err());
        assert!(a.check_write(true, None, host, Some(&csrf)).is_ok());
        assert!(a
            .check_write(true, Some("http://127.0.0.1:7878"), host, Some(&csrf))
            .is_ok());
        assert!(a
            .check_write(true, Some("http://evil.example"), host, Some(&csrf))
            .is_err());
        assert!(a.check_write(true, None, host, Some("forged")).is_err());
        assert!(a.check_write(true, None, host, None).is_err());
    }

    #[test]
    fn short_or_odd_tokens_are_refused_and_random_ones_differ() {
        assert!(Access::new(Some("short".into()), 1).is_err());
        assert!(Access::new(Some("has space in it 0123".into()), 1).is_err());
        let (a, b) = (Access::new(None, 1).unwrap(), Access::new(None, 1).unwrap());
        assert_ne!(a.token(), b.token());
        assert_eq!(a.token().len(), 64);
        assert_ne!(a.token(), a.csrf());
    }
}
