//! Errors of the runtime: one enum, every variant naming what went wrong and where.

use std::fmt;

/// Result type used throughout faust-rs.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Boxed error an agent or timer body may return (anything that implements `std::error::Error`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in faust-rs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value could not be turned into bytes; nothing was sent.
    #[error("cannot serialize {what} for topic '{topic}' with codec '{codec}': {reason}")]
    Serialize {
        /// Topic or channel name.
        topic: String,
        /// `key` or `value`.
        what: &'static str,
        /// Codec chain used.
        codec: String,
        /// What the codec said.
        reason: String,
    },
    /// Bytes could not be turned into the declared type.
    #[error("cannot deserialize {what} of {topic}[{partition}]@{offset} with codec '{codec}': {reason} (bytes: {excerpt})")]
    Deserialize {
        /// Topic name.
        topic: String,
        /// Partition of the record.
        partition: i32,
        /// Offset of the record.
        offset: i64,
        /// `key` or `value`.
        what: &'static str,
        /// Codec chain used.
        codec: String,
        /// What the codec said.
        reason: String,
        /// A short, printable excerpt of the bytes.
        excerpt: String,
    },
    /// A codec failed outside of a record context (direct use of a codec).
    #[error("codec '{codec}': {reason}")]
    Codec {
        /// Codec name.
        codec: String,
        /// What went wrong.
        reason: String,
    },
    /// A codec name that is not registered.
    #[error("unknown codec '{name}' (known codecs: {known})")]
    UnknownCodec {
        /// The name asked for.
        name: String,
        /// Comma-separated list of registered names.
        known: String,
    },
    /// The topic does not exist on the broker.
    #[error("unknown topic '{0}': it is not declared with #[topic] in this app and does not exist on the broker")]
    UnknownTopic(String),
    /// The partition does not exist.
    #[error("topic '{topic}' has {partitions} partitions; partition {partition} does not exist")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Partition asked for.
        partition: i32,
        /// Partitions the topic has.
        partitions: i32,
    },
    /// Creating a topic that exists already.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// An existing topic has another partition count than declared.
    #[error("topic '{topic}' exists with {actual} partitions but is declared with {declared} (partitions mismatch)")]
    PartitionsMismatch {
        /// Topic name.
        topic: String,
        /// Declared partition count.
        declared: i32,
        /// Partition count on the broker.
        actual: i32,
    },
    /// A broker URL or setting that cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The broker could not be reached or answered with an error.
    #[error("broker {broker}: {reason}")]
    Broker {
        /// Broker URL.
        broker: String,
        /// What went wrong.
        reason: String,
    },
    /// Something was asked of an app that is not in a state to do it.
    #[error("{0}")]
    State(String),
    /// Registrations are inconsistent (duplicate names, nothing to run, ...).
    #[error("{0}")]
    Registry(String),
    /// An agent failed and the error policy says to stop the worker.
    #[error("agent '{agent}' failed on {topic}[{partition}]@{offset}: {reason}")]
    Agent {
        /// Agent name.
        agent: String,
        /// Topic or channel the event came from.
        topic: String,
        /// Partition of the event.
        partition: i32,
        /// Offset of the event.
        offset: i64,
        /// What the agent said.
        reason: String,
    },
    /// The app was stopped or the channel closed while sending.
    #[error("'{0}' is closed: the app is stopping or stopped")]
    Closed(String),
    /// A send was not acknowledged by the broker.
    #[error("delivery to '{topic}' failed: {reason}")]
    Delivery {
        /// Topic name.
        topic: String,
        /// What the broker said.
        reason: String,
    },
    /// An agent asked with [`crate::AgentApi::ask`] sent no reply in time.
    #[error("no reply from agent '{agent}' (topic '{topic}') within {timeout:?}")]
    AskTimeout {
        /// Agent name.
        agent: String,
        /// The topic the request was sent to.
        topic: String,
        /// How long the caller waited.
        timeout: std::time::Duration,
    },
    /// An I/O error (signals, files).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Shorthand for [`Error::Config`].
    pub fn config(msg: impl fmt::Display) -> Self {
        Error::Config(msg.to_string())
    }
    /// Shorthand for [`Error::State`].
    pub fn state(msg: impl fmt::Display) -> Self {
        Error::State(msg.to_string())
    }
    /// Shorthand for [`Error::Broker`].
    pub fn broker(broker: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Broker {
            broker: crate::redact::redact_url(&broker.to_string()).into_owned(),
            reason: reason.to_string(),
        }
    }
}

/// A short printable excerpt of some bytes for error messages: at most 64 bytes, lossy UTF-8, escaped.
pub fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = &bytes[..bytes.len().min(MAX)];
    let mut s: String = String::from_utf8_lossy(cut).escape_debug().collect();
    if bytes.len() > MAX {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    if s.is_empty() {
        s.push_str("<empty>");
    }
    s
}

/// The message of a caught panic (`panicked: ...`).
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}
