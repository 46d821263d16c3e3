//! [`Landed`]: a record as it sits on a topic of a [`crate::testing::TestBroker`].

use crate::error::{Error, Result};
use bytes::Bytes;

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct Landed {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// Key bytes.
    pub key: Option<Bytes>,
    /// Value bytes (`None`: a tombstone).
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: crate::transport::Headers,
}

impl Landed {
    /// The key as UTF-8 text.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The value decoded from JSON.
    pub fn value_json<V: serde::de::DeserializeOwned>(&self) -> Result<V> {
        let bytes = self.value.as_deref().ok_or_else(|| {
            Error::state(format!(
                "{}[{}]@{} is a tombstone",
                self.topic, self.partition, self.offset
            ))
        })?;
        serde_json::from_slice(bytes).map_err(|e| {
            Error::state(format!(
                "{}[{}]@{} is not that JSON: {e}",
                self.topic, self.partition, self.offset
            ))
        })
    }
}
