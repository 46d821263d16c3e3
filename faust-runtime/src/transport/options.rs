//! Producer and client options the transports understand: acknowledgements, delivery guarantee,
//! and the Kafka client settings users change often.

use super::credentials::Credentials;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Producer acknowledgements asked of the broker (`acks` in Kafka).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: fire and forget.
    None,
    /// `acks=1`: the leader has it.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has it. Faust's default.
    All,
}

impl Acks {
    /// The librdkafka value (`0`, `1`, `all`).
    pub fn as_kafka(&self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// Processing guarantee of a topic's producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryGuarantee {
    /// Records may be delivered more than once, never lost. The default.
    #[default]
    AtLeastOnce,
    /// Idempotent producer: no duplicates from producer retries.
    ExactlyOnce,
}

/// Kafka client settings users change often; anything else goes in the pass-through maps.
/// `Debug` shows no secret: credentials print their passwords as `***`, and so do the values
/// of secret properties (passwords, keys, tokens) in the pass-through maps.
#[derive(Clone)]
pub struct KafkaSettings {
    /// `client.id`.
    pub client_id: String,
    /// `session.timeout.ms`: short by default so group joins are quick.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `linger.ms` of the producer.
    pub linger: Duration,
    /// `batch.size` of the producer in bytes.
    pub batch_size: Option<usize>,
    /// `compression.type` (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub compression: Option<String>,
    /// Default producer `acks` when a topic does not declare them.
    pub acks: Acks,
    /// `fetch.queue.backoff.ms`: short so the consumer never idles while records wait.
    pub fetch_queue_backoff: Duration,
    /// Extra librdkafka properties for the producer.
    pub producer: BTreeMap<String, String>,
    /// Extra librdkafka properties for the consumer.
    pub consumer: BTreeMap<String, String>,
    /// What the clients authenticate with (Faust's `broker_credentials`): TLS, SASL, Kerberos
    /// or OAuth; mapped to the librdkafka properties of producers, consumers and the admin
    /// client alike. Properties in [`KafkaSettings::producer`] / [`KafkaSettings::consumer`]
    /// override what is derived from it.
    pub broker_credentials: Option<Credentials>,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Props<'a>(&'a BTreeMap<String, String>);
        impl fmt::Debug for Props<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(
                        self.0
                            .iter()
                            .map(|(k, v)| (k, crate::redact::redact_value(k, v))),
                    )
                    .finish()
            }
        }
        // Destructured so that a new field cannot be left out (or printed unmasked) unnoticed.
        let KafkaSettings {
            client_id,
            session_timeout,
            heartbeat_interval,
            linger,
            batch_size,
            compression,
            acks,
            fetch_queue_backoff,
            producer,
            consumer,
            broker_credentials,
        } = self;
        f.debug_struct("KafkaSettings")
            .field("client_id", client_id)
            .field("session_timeout", session_timeout)
            .field("heartbeat_interval", heartbeat_interval)
            .field("linger", linger)
            .field("batch_size", batch_size)
            .field("compression", compression)
            .field("acks", acks)
            .field("fetch_queue_backoff", fetch_queue_backoff)
            .field("producer", &Props(producer))
            .field("consumer", &Props(consumer))
            .field("broker_credentials", broker_credentials)
            .finish()
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            client_id: "faust-rs".into(),
            session_timeout: Duration::from_millis(6000),
            heartbeat_interval: Duration::from_millis(500),
            linger: Duration::from_millis(5),
            batch_size: None,
            compression: None,
            acks: Acks::All,
            fetch_queue_backoff: Duration::from_millis(10),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
            broker_credentials: None,
        }
    }
}
