//! App settings, with Faust's defaults and `FAUST_*` environment overrides.

use crate::error::{Error, Result};
use crate::timer::parse_duration;
use crate::topic::ErrorPolicy;
pub use crate::transport::KafkaSettings;
use std::time::Duration;

/// Default partition count of declared topics (Faust's `topic_partitions`).
pub const DEFAULT_TOPIC_PARTITIONS: i32 = 8;

/// Default buffer of each agent's stream (Faust's `stream_buffer_maxsize`).
pub const DEFAULT_STREAM_BUFFER_MAXSIZE: usize = 4096;

/// Everything an app can be configured with. `Debug` shows no secret (the broker URL's
/// password and the credentials print as `***`).
#[derive(Clone)]
pub struct Settings {
    /// Broker URL: `memory://`, `memory://NAME`, `kafka://host:port;host:port`, or
    /// `kafka+ssl://host:port` for TLS.
    pub broker: String,
    /// App version; the consumer group is `{id}-v{version}` when it is above 1 (as in Faust).
    pub version: u32,
    /// Partitions of declared topics that do not say.
    pub topic_partitions: i32,
    /// Replication factor of declared topics that do not say.
    pub topic_replication_factor: i16,
    /// How often processed offsets are committed (Faust: 2.8 s).
    pub commit_interval: Duration,
    /// Buffer of each agent's stream (Faust's `stream_buffer_maxsize`).
    pub stream_buffer_maxsize: usize,
    /// Where a new consumer group starts: earliest (`true`, Faust's default) or latest.
    pub auto_offset_reset_earliest: bool,
    /// Default policy for undecodable records and failed agents.
    pub on_error: ErrorPolicy,
    /// How long stopping waits for agents to finish their queued events.
    pub shutdown_timeout: Duration,
    /// How long startup keeps retrying an unreachable broker before failing.
    pub broker_connect_timeout: Duration,
    /// What the worker does when a topic it uses disappears from the broker.
    pub on_missing_topic: MissingTopicPolicy,
    /// How often the worker checks that its topics exist (see `crate::watchdog`).
    pub topic_check_interval: Duration,
    /// How long the worker waits, after its consumer lost its partitions (a session that
    /// expired, a broker that restarted), for the group join to give it an assignment again
    /// before it leaves the group and joins anew (`FAUST_GROUP_JOIN_TIMEOUT`). A broker that
    /// lost its group state can otherwise hold the join for minutes; meanwhile the worker is
    /// not ready and says so in its log.
    pub group_join_timeout: Duration,
    /// Kafka client settings.
    pub kafka: KafkaSettings,
    /// The worker's web server (metrics, health, dashboard, user pages).
    pub web: WebSettings,
    /// How long table recovery waits for more changelog records once it has read up to the
    /// end offset the broker reports (which may be too low): recovery ends after this long
    /// without a record.
    pub table_recovery_idle: Duration,
    /// Where tables keep their data: `memory://` (default: every assignment replays the whole
    /// changelog partition) or `redb://` (a file per table under `table_dir`, so a restart
    /// replays only the changelog records newer than what it holds). Faust's `store`.
    pub store: String,
    /// Directory of the persistent table stores (default `{app_id}-data/v{version}/tables`,
    /// as Faust's `tabledir`).
    pub table_dir: Option<std::path::PathBuf>,
    /// Standby copies of table partitions (Faust's `table_standby_replicas`,
    /// `FAUST_TABLE_STANDBY_REPLICAS`): above 0, each worker keeps a warm copy of every table
    /// partition it does not own, following its changelog, so taking one over replays little.
    /// 0 (the default here; Faust's is 1) keeps none. See [`crate::table::standby`].
    pub table_standby_replicas: usize,
    /// Warn when an agent takes longer than this over one event, or a timer over one run
    /// (Faust's `blocking_timeout`; `None`, the default, checks nothing). See [`crate::blocking`].
    pub blocking_timeout: Option<Duration>,
}

/// Where the worker's web server listens (Faust's `web_enabled`, `web_bind`, `web_port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Whether the app serves HTTP at all. Off for apps built in code (tests run many of them
    /// side by side); the worker command line turns it on unless given `--without-web`.
    pub enabled: bool,
    /// Address to bind (Faust's default `0.0.0.0`).
    pub bind: std::net::IpAddr,
    /// Port (Faust's default 6066; 0 picks a free one).
    pub port: u16,
    /// The URL other workers of the app reach this one's web server at (Faust's
    /// `canonical_url`), for the table views' routing; default `http://{address}:{port}` as
    /// bound, with this machine's host name when binding every address.
    pub canonical_url: Option<String>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            enabled: false,
            bind: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 6066,
            canonical_url: None,
        }
    }
}

/// What a worker does when a topic it uses disappears from the broker (deleted, or a broker
/// that lost its data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingTopicPolicy {
    /// Recreate it with its declared settings and go on (the default).
    #[default]
    Recreate,
    /// Stop the worker with an error naming the topic.
    Stop,
}

impl MissingTopicPolicy {
    /// Parses `recreate` or `stop`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "recreate" => Ok(MissingTopicPolicy::Recreate),
            "stop" => Ok(MissingTopicPolicy::Stop),
            other => Err(Error::config(format!(
                "unknown on_missing_topic '{other}' (expected recreate or stop)"
            ))),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field cannot be left out (or printed unmasked) unnoticed.
        let Settings {
            broker,
            version,
            topic_partitions,
            topic_replication_factor,
            commit_interval,
            stream_buffer_maxsize,
            auto_offset_reset_earliest,
            on_error,
            shutdown_timeout,
            broker_connect_timeout,
            on_missing_topic,
            topic_check_interval,
            group_join_timeout,
            kafka,
            web,
            table_recovery_idle,
            blocking_timeout,
            store,
            table_dir,
            table_standby_replicas,
        } = self;
        f.debug_struct("Settings")
            .field("broker", &crate::redact::redact_url(broker))
            .field("version", version)
            .field("topic_partitions", topic_partitions)
            .field("topic_replication_factor", topic_replication_factor)
            .field("commit_interval", commit_interval)
            .field("stream_buffer_maxsize", stream_buffer_maxsize)
            .field("auto_offset_reset_earliest", auto_offset_reset_earliest)
            .field("on_error", on_error)
            .field("shutdown_timeout", shutdown_timeout)
            .field("broker_connect_timeout", broker_connect_timeout)
            .field("on_missing_topic", on_missing_topic)
            .field("topic_check_interval", topic_check_interval)
            .field("group_join_timeout", group_join_timeout)
            .field("kafka", kafka)
            .field("web", web)
            .field("table_recovery_idle", table_recovery_idle)
            .field("blocking_timeout", blocking_timeout)
            .field("store", store)
            .field("table_dir", table_dir)
            .field("table_standby_replicas", table_standby_replicas)
            .finish()
    }
}

/// The value of `FAUST_{name}` (or `F_{name}`): `None` when unset, an error when set but empty
/// or not UTF-8.
pub(crate) fn env_var(name: &str) -> Result<Option<String>> {
    for key in [format!("FAUST_{name}"), format!("F_{name}")] {
        match std::env::var(&key) {
            Ok(v) if v.trim().is_empty() => {
                return Err(Error::config(format!(
                    "{key} is set but empty: unset it or give it a value"
                )))
            }
            Ok(v) => return Ok(Some(v)),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::config(format!("{key} is not valid UTF-8")))
            }
            Err(std::env::VarError::NotPresent) => {}
        }
    }
    Ok(None)
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            broker: "memory://".into(),
            version: 1,
            topic_partitions: DEFAULT_TOPIC_PARTITIONS,
            topic_replication_factor: 1,
            commit_interval: Duration::from_millis(2800),
            stream_buffer_maxsize: DEFAULT_STREAM_BUFFER_MAXSIZE,
            auto_offset_reset_earliest: true,
            on_error: ErrorPolicy::Skip,
            shutdown_timeout: Duration::from_secs(30),
            broker_connect_timeout: Duration::from_secs(30),
            on_missing_topic: MissingTopicPolicy::Recreate,
            topic_check_interval: Duration::from_secs(5),
            group_join_timeout: Duration::from_secs(60),
            kafka: KafkaSettings::default(),
            web: WebSettings::default(),
            table_recovery_idle: Duration::from_millis(500),
            store: "memory://".into(),
            table_dir: None,
            table_standby_replicas: 0,
            blocking_timeout: None,
        }
    }
}

impl Settings {
    /// Applies `FAUST_BROKER`, `FAUST_VERSION`, `FAUST_ON_MISSING_TOPIC`, `FAUST_TOPIC_PARTITIONS`, `FAUST_COMMIT_INTERVAL`,
    /// `FAUST_STREAM_BUFFER_MAXSIZE`, `FAUST_SHUTDOWN_TIMEOUT`, `FAUST_GROUP_JOIN_TIMEOUT`, `FAUST_BLOCKING_TIMEOUT`,
    /// `FAUST_STORE` and `FAUST_TABLEDIR` (also with the `F_` prefix), and the credential
    /// variables (`FAUST_SASL_*`, `FAUST_SSL_*`, `FAUST_KERBEROS_*`; see
    /// [`crate::transport::credentials::from_env`]).
    pub fn apply_env(&mut self) -> Result<()> {
        self.apply_env_with(|_| None)
    }

    /// [`Settings::apply_env`], with credential values from `overrides` (given a variable's name
    /// without prefix, e.g. `SASL_USERNAME`) taking the place of the environment's: the worker
    /// command line's credential options.
    pub(crate) fn apply_env_with(
        &mut self,
        overrides: impl Fn(&str) -> Option<String>,
    ) -> Result<()> {
        let var = env_var;
        if let Some(v) = var("BROKER")? {
            self.broker = v;
        }
        if let Some(v) = var("VERSION")? {
            self.version = v
                .trim()
                .parse()
                .map_err(|_| Error::config(format!("FAUST_VERSION='{v}' is not a number")))?;
        }
        if let Some(v) = var("TOPIC_PARTITIONS")? {
            self.topic_partitions = v.trim().parse().map_err(|_| {
                Error::config(format!("FAUST_TOPIC_PARTITIONS='{v}' is not a number"))
            })?;
        }
        if let Some(v) = var("COMMIT_INTERVAL")? {
            self.commit_interval = parse_duration(&v)?;
        }
        if let Some(v) = var("STREAM_BUFFER_MAXSIZE")? {
            self.stream_buffer_maxsize = v.trim().parse().map_err(|_| {
                Error::config(format!("FAUST_STREAM_BUFFER_MAXSIZE='{v}' is not a number"))
            })?;
        }
        if let Some(v) = var("SHUTDOWN_TIMEOUT")? {
            self.shutdown_timeout = parse_duration(&v)?;
        }
        if let Some(v) = var("GROUP_JOIN_TIMEOUT")? {
            self.group_join_timeout = parse_duration(&v)?;
        }
        if let Some(v) = var("BLOCKING_TIMEOUT")? {
            self.blocking_timeout = Some(parse_duration(&v)?);
        }
        if let Some(v) = var("STORE")? {
            self.store = v.trim().to_string();
        }
        if let Some(v) = var("TABLEDIR")? {
            self.table_dir = Some(v.into());
        }
        if let Some(v) = var("TABLE_STANDBY_REPLICAS")? {
            self.table_standby_replicas = v.trim().parse().map_err(|_| {
                Error::config(format!(
                    "FAUST_TABLE_STANDBY_REPLICAS='{v}' is not a number"
                ))
            })?;
        }
        if let Some(v) = var("ON_MISSING_TOPIC")? {
            self.on_missing_topic = MissingTopicPolicy::parse(&v)?;
        }
        self.kafka.broker_credentials = crate::transport::credentials::from_env(
            self.kafka.broker_credentials.take(),
            |name| match overrides(name) {
                Some(v) => Ok(Some(v)),
                None => env_var(name),
            },
        )?;
        Ok(())
    }

    /// Checks values that would fail later in confusing ways.
    pub fn validate(&self) -> Result<()> {
        if self.topic_partitions < 1 {
            return Err(Error::config("topic_partitions must be at least 1"));
        }
        if self.topic_replication_factor < 1 {
            return Err(Error::config("topic_replication_factor must be at least 1"));
        }
        if self.stream_buffer_maxsize < 1 {
            return Err(Error::config("stream_buffer_maxsize must be at least 1"));
        }
        if self.commit_interval.is_zero() {
            return Err(Error::config("commit_interval must be greater than zero"));
        }
        if self.blocking_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::config(
                "blocking_timeout must be greater than zero (leave it unset to check nothing)",
            ));
        }
        if self.group_join_timeout.is_zero() {
            return Err(Error::config(
                "group_join_timeout must be greater than zero",
            ));
        }
        if self.topic_check_interval.is_zero() {
            return Err(Error::config(
                "topic_check_interval must be greater than zero",
            ));
        }
        if !(self.broker.starts_with("memory://")
            || crate::transport::credentials::is_kafka_url(&self.broker))
        {
            return Err(Error::config(format!(
                "unsupported broker URL '{}': use memory:// (embedded), kafka://host:port[;host:port] or kafka+ssl://host:port[;host:port]",
                crate::redact::redact_url(&self.broker)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_or_bad_environment_values_are_errors_not_ignored() {
        // The only test that touches these variables (apply_env reads the process environment).
        std::env::set_var("FAUST_BROKER", "  ");
        let err = Settings::default().apply_env().unwrap_err();
        assert!(
            err.to_string().contains("FAUST_BROKER is set but empty"),
            "{err}"
        );
        std::env::remove_var("FAUST_BROKER");

        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            std::env::set_var("F_BROKER", std::ffi::OsStr::from_bytes(b"kafka://\xff"));
            let err = Settings::default().apply_env().unwrap_err();
            assert!(
                err.to_string().contains("F_BROKER is not valid UTF-8"),
                "{err}"
            );
            std::env::remove_var("F_BROKER");
        }

        // Credentials from the environment: a missing part is named.
        std::env::set_var("FAUST_SASL_USERNAME", "app");
        let err = Settings::default().apply_env().unwrap_err();
        assert!(
            err.to_string()
                .contains("FAUST_SASL_PASSWORD (or --sasl-password-file) is missing"),
            "{err}"
        );
        std::env::set_var("F_SASL_PASSWORD", "pw-from-env");
        let mut s = Settings::default();
        s.apply_env().unwrap();
        let creds = s
            .kafka
            .broker_credentials
            .as_ref()
            .expect("credentials set");
        let props = crate::transport::credentials::kafka_properties(Some(creds), false).unwrap();
        assert!(props.contains(&("sasl.password", "pw-from-env".to_string())));
        assert!(!format!("{s:?}").contains("pw-from-env"));
        std::env::remove_var("FAUST_SASL_USERNAME");
        std::env::remove_var("F_SASL_PASSWORD");

        std::env::set_var("FAUST_ON_MISSING_TOPIC", "shrug");
        let err = Settings::default().apply_env().unwrap_err();
        assert!(err.to_string().contains("on_missing_topic"), "{err}");
        std::env::set_var("FAUST_ON_MISSING_TOPIC", "stop");
        let mut s = Settings::default();
        s.apply_env().unwrap();
        assert_eq!(s.on_missing_topic, MissingTopicPolicy::Stop);
        std::env::remove_var("FAUST_ON_MISSING_TOPIC");
    }
}
