//! Kafka transport on rdkafka (placeholder until implemented).

use crate::error::{Error, Result};
use crate::settings::Settings;

/// Kafka transport.
pub struct KafkaTransport;

impl KafkaTransport {
    /// Creates the transport from settings.
    pub fn new(settings: &Settings) -> Result<Self> {
        Err(Error::config(format!("kafka transport not available yet for {}", settings.broker)))
    }
}
