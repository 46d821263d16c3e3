//! The last line of defence for credentials on the command line: every secret the settings hold
//! (passwords in broker URLs, secret client properties) is known, and every line the command
//! line prints — banner, logs, errors — has them replaced by `***` before it is written.

use crate::redact::{is_secret_key, MASK};
use crate::settings::Settings;
use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, RwLock};

/// The secrets to keep out of output.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Scrubber {
    /// Learns the secrets of `settings` (the broker URL's passwords and secret query values,
    /// secret Kafka properties), plus `extra` raw values (e.g. a `--broker` that did not parse).
    pub(crate) fn learn(&self, settings: &Settings) {
        let mut found = url_secrets(&settings.broker);
        for (k, v) in settings
            .kafka
            .producer
            .iter()
            .chain(settings.kafka.consumer.iter())
        {
            if is_secret_key(k) {
                found.push(v.clone());
            }
        }
        if let Some(c) = &settings.kafka.broker_credentials {
            found.extend(c.secret_values());
        }
        self.add(found);
    }

    /// Learns the secrets in a broker URL.
    pub(crate) fn learn_url(&self, url: &str) {
        self.add(url_secrets(url));
    }

    /// Learns one secret value.
    pub(crate) fn learn_secret(&self, value: &str) {
        self.add(vec![value.to_string()]);
    }

    fn add(&self, found: Vec<String>) {
        let mut s = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        for v in found {
            // Very short values would mask ordinary words; they are not real secrets anyway.
            if v.len() >= 3 && !s.contains(&v) {
                s.push(v);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        s.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// `text` with every known secret replaced by `***`.
    pub(crate) fn clean<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let s = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        if !s.iter().any(|v| text.contains(v.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for v in s.iter() {
            out = out.replace(v.as_str(), MASK);
        }
        Cow::Owned(out)
    }

    /// Writes `text` and a newline to stderr, cleaned.
    pub(crate) fn eprintln(&self, text: impl std::fmt::Display) {
        let t = text.to_string();
        let _ = writeln!(std::io::stderr(), "{}", self.clean(&t));
    }

    /// Writes `text` and a newline to stdout, cleaned.
    pub(crate) fn println(&self, text: impl std::fmt::Display) {
        let t = text.to_string();
        let _ = writeln!(std::io::stdout(), "{}", self.clean(&t));
    }
}

/// Passwords (`user:password@host`) and secret query values (`?sasl_password=...`) of a URL.
fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let rest = head.split_once("://").map(|(_, r)| r).unwrap_or(head);
    for host in rest.split([';', ',']) {
        let host = host.strip_prefix("kafka://").unwrap_or(host);
        if let Some((userinfo, _)) = host.rsplit_once('@') {
            if let Some((_, pw)) = userinfo.split_once(':') {
                out.push(pw.to_string());
            }
        }
    }
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if let Some((k, v)) = pair.split_once('=') {
            if is_secret_key(k) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// A `tracing` writer that cleans each formatted event before writing it to stderr.
#[derive(Clone)]
pub(crate) struct ScrubbedStderr(pub(crate) Scrubber);

/// One event's bytes, cleaned and written when dropped.
pub(crate) struct ScrubbedLine {
    scrubber: Scrubber,
    buf: Vec<u8>,
}

impl Write for ScrubbedLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let _ = std::io::stderr().write_all(self.scrubber.clean(&text).as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine {
            scrubber: self.0.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_of_urls_and_properties_are_masked() {
        let s = Scrubber::default();
        let mut settings = Settings {
            broker: "kafka://app:hunter22@k1:9092;app:hunter22@k2:9092?sasl_password=opensesame"
                .into(),
            ..Settings::default()
        };
        settings
            .kafka
            .consumer
            .insert("ssl.key.password".into(), "keypass1".into());
        settings
            .kafka
            .consumer
            .insert("client.rack".into(), "rack-1".into());
        settings.kafka.broker_credentials = Some(
            crate::transport::credentials::SASLCredentials::new(
                crate::transport::credentials::SASLMechanism::ScramSha256,
                "app",
                "scrampass9",
            )
            .into(),
        );
        s.learn(&settings);
        let line =
            "url kafka://app:hunter22@k1 pw=opensesame key=keypass1 scram=scrampass9 rack=rack-1";
        let clean = s.clean(line);
        assert!(!clean.contains("hunter22"), "{clean}");
        assert!(!clean.contains("opensesame"), "{clean}");
        assert!(!clean.contains("keypass1"), "{clean}");
        assert!(!clean.contains("scrampass9"), "{clean}");
        assert!(clean.contains("rack-1"), "{clean}");
        assert!(matches!(s.clean("nothing here"), Cow::Borrowed(_)));
    }
}
