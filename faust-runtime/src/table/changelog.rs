//! Changelog records: a table's writes as Faust writes them to `{app_id}-{table}-changelog`.
//!
//! Key and value are both Faust JSON (a string key `apple` is the bytes `"apple"`, quotes
//! included); a delete is a tombstone (no value). Each record goes to the partition of the event
//! being processed, not to a hash of the table key. Writes are coalesced per key and sent in
//! batches (see [`super::pending`]); an event's offset is committed only once the broker
//! acknowledged the records carrying its writes. Records are handed to the producer without
//! waiting (one `produce_soon` each; librdkafka batches them).

use crate::app::App;
use crate::codec::Serializer;
use crate::error::{Error, Result};
use crate::transport::{DeliveryListener, OutgoingRecord, SendCallback};
use std::sync::Arc;

/// Encodes a table's keys and values for its changelog (Faust's `json` codec, both).
pub(crate) struct ChangelogCodec {
    json: Serializer,
}

impl ChangelogCodec {
    pub(crate) fn new() -> Result<Self> {
        Ok(ChangelogCodec {
            json: Serializer::resolve("json")?,
        })
    }

    pub(crate) fn encode<T: serde::Serialize>(
        &self,
        table: &str,
        what: &str,
        v: &T,
    ) -> Result<Vec<u8>> {
        self.json
            .dumps(v)
            .map_err(|e| Error::config(format!("table '{table}': cannot encode a {what}: {e}")))
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
    ) -> std::result::Result<T, String> {
        self.json.loads(bytes).map_err(|e| e.to_string())
    }
}

/// Sends one changelog record, without waiting; `listener` is told when it is delivered.
pub(crate) fn send(
    app: &App,
    topic: &'static str,
    partition: i32,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    listener: (Arc<dyn DeliveryListener>, u64),
    on_delivered: Option<SendCallback>,
) -> Result<()> {
    let mut record = OutgoingRecord::new(topic, Some(key), value);
    record.partition = Some(partition);
    record.notice.listener = Some(listener);
    record.notice.callback = on_delivered;
    app.produce_soon(record).map(drop)
}
