//! Events: a value together with its key, headers and where it came from (Faust's `Event`).

use crate::transport::Headers;

/// One record as an agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<K, V> {
    /// The decoded key, `None` when the record has none.
    pub key: Option<K>,
    /// The decoded value.
    pub value: V,
    /// Headers as sent.
    pub headers: Headers,
    /// Topic (or channel) name.
    pub topic: &'static str,
    /// Partition (`0` for channels).
    pub partition: i32,
    /// Offset within the partition (`-1` for channels).
    pub offset: i64,
    /// Timestamp in milliseconds since the Unix epoch.
    pub timestamp: i64,
}

impl<K, V> Event<K, V> {
    /// The timestamp in seconds, as Faust exposes it.
    pub fn timestamp_secs(&self) -> f64 {
        self.timestamp as f64 / 1000.0
    }

    /// The first header named `name`, if any.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}
