//! Keeping credentials out of output: broker URLs, client properties and secret values are
//! shown with their secrets replaced by `***` wherever the runtime prints them (banner, logs,
//! errors, `Debug` of settings, metrics labels).
//!
//! ```
//! use faust_runtime::redact::{redact_url, is_secret_key, Secret};
//!
//! assert_eq!(redact_url("kafka://app:s3cret@k1:9092"), "kafka://app:***@k1:9092");
//! assert!(is_secret_key("sasl.password"));
//! let s = Secret::new("s3cret");
//! assert_eq!(format!("{s:?}"), "Secret(***)");
//! assert_eq!(s.expose(), "s3cret");
//! ```

use std::borrow::Cow;
use std::fmt;

/// What is printed instead of a secret.
pub const MASK: &str = "***";

/// A secret value (a password, a token): `Debug` and `Display` print `***`; [`Secret::expose`]
/// gives the value to the code that needs it (the client configuration).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the client configuration only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// Whether a client property (librdkafka or Faust name) holds a secret: passwords, keys,
/// tokens, JAAS and OAuth configurations.
///
/// ```
/// use faust_runtime::redact::is_secret_key;
/// assert!(is_secret_key("ssl.key.password"));
/// assert!(is_secret_key("sasl.oauthbearer.config"));
/// assert!(!is_secret_key("sasl.username"));
/// assert!(!is_secret_key("bootstrap.servers"));
/// ```
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const SECRET_PARTS: [&str; 9] = [
        "password",
        "secret",
        "token",
        "sasl.jaas.config",
        "sasl.oauthbearer.config",
        "ssl.key.pem",
        "ssl_key",
        "private",
        "credential",
    ];
    SECRET_PARTS.iter().any(|p| k.contains(p))
}

/// The value of a client property as it may be printed: `***` for a secret key.
pub fn redact_value<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) {
        MASK
    } else {
        value
    }
}

/// A broker URL as it may be printed: the password of `scheme://user:password@host` and the
/// values of secret query parameters (`?password=...`) are replaced by `***`. Several hosts
/// separated by `;` or `,` are each redacted.
///
/// ```
/// use faust_runtime::redact::redact_url;
/// assert_eq!(redact_url("kafka://k1:9092;k2:9092"), "kafka://k1:9092;k2:9092");
/// assert_eq!(
///     redact_url("kafka://u:p@k1:9092;u:p@k2:9092?sasl_password=x&x=1"),
///     "kafka://u:***@k1:9092;u:***@k2:9092?sasl_password=***&x=1"
/// );
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    if !url.contains('@') && !url.contains('?') {
        return Cow::Borrowed(url);
    }
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = match head.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, head),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(s) = scheme {
        out.push_str(s);
        out.push_str("://");
    }
    let mut start = 0;
    for (i, c) in rest
        .char_indices()
        .chain(std::iter::once((rest.len(), ';')))
    {
        if c == ';' || c == ',' {
            let host = &rest[start..i];
            match host.rsplit_once('@') {
                Some((userinfo, h)) => {
                    match userinfo.split_once(':') {
                        Some((user, _)) => {
                            out.push_str(user);
                            out.push(':');
                            out.push_str(MASK);
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(h);
                }
                None => out.push_str(host),
            }
            if i < rest.len() {
                out.push(c);
            }
            start = i + 1;
        }
    }
    if let Some(q) = query {
        out.push('?');
        for (n, pair) in q.split('&').enumerate() {
            if n > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, v)) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(redact_value(k, v));
                }
                None => out.push_str(pair),
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_only_their_secrets() {
        assert_eq!(redact_url("memory://"), "memory://");
        assert_eq!(redact_url("kafka://user@k:1"), "kafka://user@k:1");
        assert_eq!(redact_url("kafka://u:p@ss@k:1"), "kafka://u:***@k:1");
        assert_eq!(redact_url("u:pw@k:1,k2:2"), "u:***@k:1,k2:2");
        assert!(!redact_url("kafka://a:hunter2@k:1?token=hunter3").contains("hunter"));
    }
}
