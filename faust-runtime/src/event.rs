//! Events: a value together with its key, headers and where it came from (Faust's `Event`).

use crate::engine::Ack;
use crate::transport::Headers;

/// The hold an event taken from a stream has on its offset.
pub(crate) struct EventAck {
    ack: Option<Ack>,
    /// From a no-ack stream: dropped without [`Event::ack`], the event is not done.
    manual: bool,
}

impl EventAck {
    pub(crate) fn new(ack: Ack, manual: bool) -> Self {
        EventAck {
            ack: Some(ack),
            manual,
        }
    }
}

impl Drop for EventAck {
    fn drop(&mut self) {
        if let Some(a) = self.ack.take() {
            if self.manual {
                a.abandon();
            }
        }
    }
}

/// One record as an agent sees it.
///
/// An event an agent got from its stream holds up its offset's commit until it is dropped (and
/// the agent has asked for the next one): keep it, hand it to a batch or another task, and its
/// offset is committed only once that is done. A clone is a plain copy that holds nothing up.
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
    pub(crate) ack: Option<EventAck>,
}

impl<K, V> Event<K, V> {
    /// An event with these fields, holding nothing up (e.g. for tests of agent logic).
    pub fn new(
        key: Option<K>,
        value: V,
        topic: &'static str,
        partition: i32,
        offset: i64,
        timestamp: i64,
    ) -> Self {
        Event {
            key,
            value,
            headers: Vec::new(),
            topic,
            partition,
            offset,
            timestamp,
            ack: None,
        }
    }

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

    /// Acknowledges the event now: from this event's side it is done (its offset is committed
    /// once the agent has also asked for the next event and what it sent is delivered). On a
    /// no-ack stream ([`crate::Events::noack`]) this is the only way an event gets done.
    pub fn ack(&mut self) {
        if let Some(mut e) = self.ack.take() {
            drop(e.ack.take());
        }
    }

    /// Takes the value out; the event is acknowledged as with [`Event::ack`].
    pub fn into_value(self) -> V {
        self.value
    }
}

impl<K: Clone, V: Clone> Clone for Event<K, V> {
    fn clone(&self) -> Self {
        Event {
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            ack: None,
        }
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for Event<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.value == other.value
            && self.headers == other.headers
            && self.topic == other.topic
            && self.partition == other.partition
            && self.offset == other.offset
            && self.timestamp == other.timestamp
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for Event<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("key", &self.key)
            .field("value", &self.value)
            .field("headers", &self.headers)
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .finish()
    }
}
