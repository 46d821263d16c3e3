//! The Kafka transport (`kafka://host:port;host:port`), on rdkafka (librdkafka).
//!
//! - Topics are managed with rdkafka's admin client.
//! - Records are produced without blocking: one librdkafka producer per distinct
//!   (`acks`, idempotence) combination the topics ask for, created on first use.
//! - Each [`Transport::consumer`] call creates one group consumer that the runtime's consume
//!   driver polls; it reports rebalances as values and commits only what it is told to.
//!
//! Credentials ([`KafkaSettings::broker_credentials`], a `kafka+ssl://` URL) become the
//! security properties of every client: producers, consumers and the admin client. A failed TLS
//! handshake or SASL authentication ends [`Transport::connect`] at once with an error naming
//! the cause, instead of retrying until the connect timeout.
//!
//! Clients are created lazily: building the transport does no I/O. Broker errors seen while
//! running (client errors, failed deliveries and commits, consumer errors) are logged and counted
//! in [`Transport::health`].
//!
//! Worth knowing:
//! - When librdkafka's local queue is full, [`Transport::enqueue`] gives the record back and
//!   [`Transport::room`] resolves once deliveries made room: the caller waits, nothing is dropped
//!   and no task is spawned per record.
//! - A received record's headers are parsed only when asked (librdkafka allocates to find out
//!   whether there are any): [`RawMessage::headers`](crate::transport::RawMessage::headers) is
//!   always `Some`, and an empty list means the record has none.

mod admin;
mod consumer;
mod main_queue;
mod producer;
mod reader;
mod tls_check;
mod topic_handles;
mod topic_names;

use crate::error::{Error, Result};
use crate::transport::credentials::{self, TokenProvider};
use crate::transport::{
    Consumer, ConsumerConfig, Enqueued, KafkaSettings, NewTopic, OutgoingRecord, TopicDescription,
    Transport, TransportHealth,
};
use rdkafka::admin::AdminClient;
use rdkafka::client::OAuthToken;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Port used when a `kafka://` URL names a host without one (Kafka's default).
pub const DEFAULT_PORT: u16 = 9092;

/// How long one admin or metadata request may take before it fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Turns `kafka://host:port;host:port` into librdkafka's `bootstrap.servers` (`host:port,host:port`).
///
/// `kafka+ssl://` is the same with TLS. Brokers are separated by `;` (as in Faust) or `,`; each
/// may repeat the scheme; a
/// missing port means 9092; IPv6 hosts are written in brackets (`[::1]:9092`).
pub fn bootstrap_servers(url: &str) -> Result<String> {
    let bad = |why: String| {
        Error::config(format!(
            "invalid Kafka broker URL '{}': {why} (expected kafka://host:port[;host:port...])",
            crate::redact::redact_url(url)
        ))
    };
    let rest = strip_scheme(url.trim())
        .ok_or_else(|| bad("it does not start with kafka:// or kafka+ssl://".into()))?;
    let mut servers = Vec::new();
    for part in rest.split([';', ',']) {
        let part = part.trim();
        let part = strip_scheme(part).unwrap_or(part).trim_end_matches('/');
        if part.is_empty() {
            continue;
        }
        if part.contains('@') {
            return Err(bad(format!(
                "'{}' has a user name or password: give them as broker_credentials (SASLCredentials)",
                crate::redact::redact_url(part)
            )));
        }
        if part.contains(['/', '?', '#', ' ']) {
            return Err(bad(format!("'{part}' is not host:port")));
        }
        let (host, port) = if let Some(v6) = part.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad(format!("'{part}' has an unclosed '['")))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad(format!("'{part}' is not [host]:port")))?,
                ),
            };
            (format!("[{host}]"), port)
        } else {
            match part.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (part.to_string(), None),
            }
        };
        if host.is_empty() || host == "[]" || host.contains(':') && !host.starts_with('[') {
            return Err(bad(format!("'{part}' has no valid host")));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if !bare.chars().all(allowed) {
            return Err(bad(format!(
                "host '{host}' of '{part}' is not a host name or address"
            )));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(bad(format!(
                        "port '{p}' of '{part}' is not a number in 1..=65535"
                    )))
                }
            },
        };
        servers.push(format!("{host}:{port}"));
    }
    if servers.is_empty() {
        return Err(bad("it names no broker".into()));
    }
    Ok(servers.join(","))
}

fn strip_scheme(s: &str) -> Option<&str> {
    s.strip_prefix("kafka://")
        .or_else(|| s.strip_prefix(credentials::KAFKA_SSL_SCHEME))
}

/// Broker errors seen while running, shared by every client of one transport.
#[derive(Default)]
pub(crate) struct HealthState {
    errors: AtomicU64,
    last: Mutex<Option<String>>,
    /// The last failed TLS handshake or SASL authentication, explained.
    auth_failure: Mutex<Option<String>>,
}

impl HealthState {
    /// Logs and counts one broker error.
    pub(crate) fn record(&self, what: &str, err: impl fmt::Display) {
        let text = format!("{what}: {err}");
        tracing::warn!(error = %text, "kafka error");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }

    /// Remembers a failed TLS handshake or authentication (besides counting it).
    fn record_auth_failure(&self, explained: String) {
        self.record("authentication", &explained);
        *self.auth_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(explained);
    }

    fn auth_failure(&self) -> Option<String> {
        self.auth_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn snapshot(&self) -> TransportHealth {
        TransportHealth {
            last_error: self.last.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// rdkafka client context shared by the admin client and the producers: routes librdkafka's
/// logs to `tracing`, counts client errors and gives OAUTHBEARER tokens.
#[derive(Clone)]
pub(crate) struct ClientCtx {
    pub(crate) health: Arc<HealthState>,
    /// The broker URL with any password masked (it is printed in logs).
    pub(crate) url: Arc<str>,
    /// Gives OAUTHBEARER tokens, when the credentials are OAuth ones.
    pub(crate) oauth: Option<Arc<dyn TokenProvider>>,
    /// Someone waits for room in a producer queue ([`producer::room`]).
    pub(crate) room_wanted: Arc<std::sync::atomic::AtomicBool>,
    /// Signalled by delivery reports while someone waits for room.
    pub(crate) room: Arc<tokio::sync::Notify>,
}

impl ClientCtx {
    /// A token from the provider, in rdkafka's shape.
    pub(crate) fn oauth_token(
        &self,
    ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(provider) = &self.oauth else {
            return Err(
                "no OAuth token provider: set OAuthCredentials as broker_credentials".into(),
            );
        };
        let token = provider.token().map_err(|e| {
            let text = format!("the OAuth token provider failed: {e}");
            self.health.record("oauth", &text);
            Box::<dyn std::error::Error>::from(text)
        })?;
        let lifetime_ms = token
            .expires_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Ok(OAuthToken {
            token: token.value.expose().to_string(),
            principal_name: token.principal,
            lifetime_ms,
        })
    }

    /// Counts a client error; a failed TLS handshake or authentication is also remembered,
    /// explained, for [`Transport::connect`] to fail with.
    pub(crate) fn client_error(&self, error: &KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode as C;
        let code = error.rdkafka_error_code();
        // A TLS alert from the broker (a client certificate required or refused) arrives as a
        // transport failure after the handshake.
        let auth = matches!(
            code,
            Some(
                C::SSL
                    | C::Authentication
                    | C::SaslAuthenticationFailed
                    | C::UnsupportedSASLMechanism
                    | C::IllegalSASLState
            )
        ) || code == Some(C::BrokerTransportFailure)
            && reason.to_ascii_lowercase().contains("ssl routines");
        let explained = credentials::explain_auth_failure(reason);
        match (auth, explained) {
            (true, Some(text)) => self.health.record_auth_failure(text),
            (true, None) => self.health.record_auth_failure(format!(
                "authentication with the broker failed ({error}: {reason})"
            )),
            (false, _) => self.health.record(
                &format!("broker {}", self.url),
                format_args!("{error} ({reason})"),
            ),
        }
    }
}

impl ClientContext for ClientCtx {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
        self.oauth_token()
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", broker = %self.url, facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::debug!(target: "librdkafka", broker = %self.url, facility = fac, "{log_message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::trace!(target: "librdkafka", broker = %self.url, facility = fac, "{log_message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.client_error(&error, reason);
    }
}

/// State shared by the transport and the tasks it starts.
pub(crate) struct Shared {
    pub(crate) url: String,
    pub(crate) bootstrap: String,
    pub(crate) settings: KafkaSettings,
    /// Security properties derived from the credentials and the URL scheme.
    security: Vec<(&'static str, String)>,
    connect_timeout: Duration,
    pub(crate) ctx: ClientCtx,
    admin: Mutex<Option<Arc<AdminClient<ClientCtx>>>>,
    pub(crate) producers: producer::Producers,
}

impl Shared {
    /// Settings every client gets: bootstrap servers, client id and the security properties.
    pub(crate) fn base_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", &self.settings.client_id)
            .set("log.connection.close", "false");
        for (k, v) in &self.security {
            c.set(*k, v);
        }
        c
    }

    /// The admin client, created on first use.
    pub(crate) fn admin(&self) -> Result<Arc<AdminClient<ClientCtx>>> {
        let mut slot = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let admin: AdminClient<ClientCtx> = self
            .base_config()
            .create_with_context(self.ctx.clone())
            .map_err(|e| Error::broker(&self.url, client_creation_error("admin client", &e)))?;
        let admin = Arc::new(admin);
        main_queue::serve(&admin).map_err(|e| {
            Error::broker(
                &self.url,
                format!("cannot start the admin client's event thread: {e}"),
            )
        })?;
        *slot = Some(admin.clone());
        Ok(admin)
    }

    /// Runs a blocking librdkafka call off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::broker(&self.url, format!("a blocking Kafka call failed: {e}")))?
    }
}

/// Explains why librdkafka refused to create a client (a key that cannot be decrypted, a CA
/// file that is not PEM) when it is about the credentials.
pub(crate) fn client_creation_error(what: &str, e: &KafkaError) -> String {
    let text = e.to_string();
    match credentials::explain_auth_failure(&text) {
        Some(explained) => format!("cannot create the Kafka {what}: {explained}"),
        None => format!("cannot create the Kafka {what}: {text}"),
    }
}

/// Checks a topic name before it reaches librdkafka (which cannot take NUL bytes).
pub(crate) fn check_topic_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::config("topic name must not be empty"));
    }
    if name.contains('\0') {
        return Err(Error::config(format!(
            "topic name {name:?} contains a NUL byte"
        )));
    }
    Ok(())
}

/// The Kafka transport; see the module docs.
///
/// Records still waiting in librdkafka's queues when the transport is dropped are discarded:
/// [`Transport::flush`] first (`App::stop` does).
pub struct KafkaTransport {
    shared: Arc<Shared>,
}

impl fmt::Debug for KafkaTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaTransport")
            .field("url", &crate::redact::redact_url(&self.shared.url))
            .field("bootstrap.servers", &self.shared.bootstrap)
            .finish()
    }
}

impl KafkaTransport {
    /// Creates the transport for broker `url` (`kafka://host:port;...`): parses it and checks the
    /// pass-through producer and consumer properties. Does no I/O. `connect_timeout` bounds
    /// [`Transport::connect`].
    pub fn new(url: &str, settings: &KafkaSettings, connect_timeout: Duration) -> Result<Self> {
        let url = url.trim().to_string();
        let bootstrap = bootstrap_servers(&url)?;
        let security = credentials::kafka_properties(
            settings.broker_credentials.as_ref(),
            credentials::url_wants_tls(&url),
        )?;
        let ctx = ClientCtx {
            health: Arc::new(HealthState::default()),
            url: Arc::from(crate::redact::redact_url(&url).as_ref()),
            oauth: settings
                .broker_credentials
                .as_ref()
                .and_then(|c| c.token_provider().cloned()),
            room_wanted: Arc::default(),
            room: Arc::default(),
        };
        for (what, map) in [
            ("producer", &settings.producer),
            ("consumer", &settings.consumer),
        ] {
            let mut c = ClientConfig::new();
            for (k, v) in &security {
                c.set(*k, v);
            }
            for (k, v) in map {
                c.set(k, v);
            }
            c.create_native_config()
                .map_err(|e| Error::config(format!("invalid Kafka {what} setting: {e}")))?;
        }
        Ok(KafkaTransport {
            shared: Arc::new(Shared {
                url,
                bootstrap,
                settings: settings.clone(),
                security,
                connect_timeout,
                ctx,
                admin: Mutex::new(None),
                producers: producer::Producers::new(),
            }),
        })
    }

    /// librdkafka's `bootstrap.servers` derived from the URL.
    pub fn bootstrap_servers(&self) -> &str {
        &self.shared.bootstrap
    }
}

#[async_trait::async_trait]
impl Transport for KafkaTransport {
    fn url(&self) -> &str {
        &self.shared.url
    }

    async fn connect(&self) -> Result<()> {
        let shared = &self.shared;
        let deadline_after = shared.connect_timeout;
        let started = Instant::now();
        let admin = shared.admin()?;
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = deadline_after.saturating_sub(started.elapsed());
            let per_try = remaining.clamp(Duration::from_millis(100), Duration::from_secs(2));
            let a = admin.clone();
            let outcome = shared
                .blocking(move || {
                    Ok(a.inner()
                        .fetch_metadata(None, per_try)
                        .map(|m| m.brokers().len())
                        .map_err(|e| e.to_string()))
                })
                .await;
            let err = match outcome {
                Ok(Ok(brokers)) => {
                    tracing::debug!(broker = %shared.url, brokers, attempt, "connected to Kafka");
                    return Ok(());
                }
                Ok(Err(reason)) => reason,
                Err(e) => e.to_string(),
            };
            if let Some(mut cause) = shared.ctx.health.auth_failure() {
                if cause.contains("certificate verify failed") {
                    let bootstrap = shared.bootstrap.clone();
                    let cafile = shared
                        .settings
                        .broker_credentials
                        .as_ref()
                        .and_then(|c| c.ssl())
                        .and_then(|s| s.cafile.clone());
                    let why = shared
                        .blocking(move || {
                            Ok(tls_check::verify_reason(
                                &bootstrap,
                                cafile.as_deref(),
                                Duration::from_secs(3),
                            ))
                        })
                        .await;
                    if let Ok(Some(why)) = why {
                        cause = credentials::explain_auth_failure(&format!(
                            "certificate verify failed: {why}"
                        ))
                        .unwrap_or(cause);
                    }
                }
                return Err(Error::broker(
                    &shared.url,
                    format!(
                        "cannot connect (bootstrap.servers={}): {cause}",
                        shared.bootstrap
                    ),
                ));
            }
            let elapsed = started.elapsed();
            if elapsed >= deadline_after {
                let e = Error::broker(
                    &shared.url,
                    format!(
                        "not reachable (bootstrap.servers={}): gave up after {attempt} attempts in {:.1?}: {err}",
                        shared.bootstrap, elapsed
                    ),
                );
                shared.ctx.health.record("connect", &e);
                return Err(e);
            }
            let wait = backoff.min(deadline_after - elapsed);
            tracing::warn!(
                broker = %shared.url,
                attempt,
                error = %err,
                "Kafka broker not reachable; retrying in {wait:?}"
            );
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn create_topic(&self, topic: &NewTopic) -> Result<()> {
        admin::create_topic(&self.shared, topic).await
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        admin::delete_topic(&self.shared, name).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        admin::list_topics(&self.shared).await
    }

    async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>> {
        admin::describe_topic(&self.shared, name).await
    }

    async fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        admin::create_partitions(&self.shared, name, total).await
    }

    fn enqueue(&self, record: OutgoingRecord) -> Result<Enqueued> {
        producer::enqueue(&self.shared, record)
    }

    async fn room(&self) {
        producer::room(&self.shared).await
    }

    async fn flush(&self, timeout: Duration) -> Result<()> {
        producer::flush(&self.shared, timeout).await
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(consumer::create(&self.shared, config)?))
    }

    async fn partition_reader(
        &self,
        starts: &[(crate::transport::TopicPartition, i64)],
    ) -> Result<Box<dyn crate::transport::reader::PartitionReader>> {
        Ok(Box::new(reader::create(&self.shared, starts)?))
    }

    fn health(&self) -> TransportHealth {
        self.shared.ctx.health.snapshot()
    }

    fn queue_depth(&self) -> usize {
        producer::in_flight(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_servers_from_urls() {
        assert_eq!(
            bootstrap_servers("kafka://localhost:9092").unwrap(),
            "localhost:9092"
        );
        assert_eq!(
            bootstrap_servers("kafka://localhost").unwrap(),
            "localhost:9092"
        );
        assert_eq!(bootstrap_servers("kafka://a:1;b:2").unwrap(), "a:1,b:2");
        assert_eq!(
            bootstrap_servers("kafka://a:1;kafka://b:2/").unwrap(),
            "a:1,b:2"
        );
        assert_eq!(
            bootstrap_servers("kafka://[::1]:9093").unwrap(),
            "[::1]:9093"
        );
        assert_eq!(bootstrap_servers("kafka://[::1]").unwrap(), "[::1]:9092");
        for bad in [
            "kafka://",
            "kafka://;",
            "localhost:9092",
            "kafka://host:port",
            "kafka://host:0",
            "kafka://host:70000",
            "kafka://:9092",
            "kafka://a:b:c",
            "kafka://[::1",
            "kafka://host/path",
            "kafka://%%%",
            "kafka://ho st:9092",
            "kafka://h%41:9092",
        ] {
            let err = bootstrap_servers(bad).unwrap_err();
            assert!(
                matches!(err, Error::Config(_)) && err.to_string().contains("kafka://"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn new_rejects_bad_urls_and_properties() {
        let t = Duration::from_secs(1);
        let mut s = KafkaSettings::default();
        assert!(matches!(
            KafkaTransport::new("kafka://", &s, t),
            Err(Error::Config(_))
        ));
        assert!(KafkaTransport::new("kafka://127.0.0.1:9092", &s, t).is_ok());
        s.producer.insert("no.such.property".into(), "1".into());
        let err = KafkaTransport::new("kafka://127.0.0.1:9092", &s, t).unwrap_err();
        assert!(err.to_string().contains("producer"), "{err}");

        // Credentials with a missing part fail here, before any connection.
        let s = KafkaSettings {
            broker_credentials: Some(
                credentials::SASLCredentials::new(credentials::SASLMechanism::Plain, "app", "")
                    .into(),
            ),
            ..KafkaSettings::default()
        };
        let err = KafkaTransport::new("kafka://127.0.0.1:9092", &s, t).unwrap_err();
        assert!(err.to_string().contains("password is missing"), "{err}");
        // kafka+ssl:// is a Kafka URL with TLS.
        let k = KafkaTransport::new("kafka+ssl://127.0.0.1:9093", &KafkaSettings::default(), t)
            .unwrap();
        assert_eq!(k.bootstrap_servers(), "127.0.0.1:9093");
        assert!(k
            .shared
            .security
            .contains(&("security.protocol", "SSL".to_string())));
    }
}
