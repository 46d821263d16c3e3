//! Decoding records into typed events under the topic's error policy: what a record that does
//! not decode (or whose codec panics) turns into — skipped, dead-lettered or fatal. Records are
//! decoded in the agent's own task, as it takes them from its stream.

use crate::app::App;
use crate::codec::CodecError;
use crate::engine::Ack;
use crate::error::{excerpt, Error, Result};
use crate::event::Event;
use crate::topic::{ErrorPolicy, TopicCodecs, TopicSpec};
use crate::transport::{Headers, OutgoingRecord, RawMessage};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A copy of a record's bytes, kept for dead-lettering when the topic's policy asks for it.
#[derive(Debug, Clone)]
pub(crate) struct RawCopy {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Headers,
}

/// How one agent decodes one topic's records.
pub(crate) struct Decoder<K, V> {
    pub(crate) codecs: Arc<TopicCodecs>,
    pub(crate) topic: &'static str,
    pub(crate) agent: &'static str,
    pub(crate) policy: ErrorPolicy,
    dead_letter: String,
    pub(crate) app: App,
    /// The agent reads values only (`Stream<T>`): headers are copied out of the record only
    /// while `headers` says so. (Keys are still decoded, so an undecodable key meets the
    /// topic's error policy.)
    pub(crate) values_only: bool,
    /// For a values-only agent: whether it may still turn its stream into events.
    pub(crate) headers: HeadersWanted,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Decoder<K, V> {
    fn clone(&self) -> Self {
        Decoder {
            codecs: self.codecs.clone(),
            topic: self.topic,
            agent: self.agent,
            policy: self.policy,
            dead_letter: self.dead_letter.clone(),
            app: self.app.clone(),
            values_only: self.values_only,
            headers: self.headers.clone(),
            _t: PhantomData,
        }
    }
}

/// Whether the records of a values-only stream (an agent taking `Stream<T>`) get their headers
/// copied out. On until the agent first reads a value (so that `stream.events()` called first
/// gets every event's headers), off from then on, on again if the stream is turned into
/// events. A record without headers costs nothing either way.
#[derive(Clone, Debug)]
pub(crate) struct HeadersWanted(Arc<AtomicBool>);

impl HeadersWanted {
    fn new() -> Self {
        HeadersWanted(Arc::new(AtomicBool::new(true)))
    }

    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn set(&self, on: bool) {
        if self.get() != on {
            self.0.store(on, Ordering::Relaxed);
        }
    }
}

impl<K, V> Decoder<K, V>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(
        codecs: Arc<TopicCodecs>,
        spec: &'static TopicSpec,
        agent: &'static str,
        policy: ErrorPolicy,
        app: App,
        values_only: bool,
    ) -> Self {
        Decoder {
            codecs,
            topic: spec.name,
            agent,
            policy,
            dead_letter: spec.dead_letter_topic(),
            app,
            values_only,
            headers: HeadersWanted::new(),
            _t: PhantomData,
        }
    }

    /// The same decoder for topic `name` of a handle covering several.
    pub(crate) fn for_topic(mut self, name: &'static str) -> Self {
        self.topic = name;
        self
    }

    /// Whether headers are copied out of the records (for a values-only agent, see
    /// [`HeadersWanted`]).
    #[inline]
    pub(crate) fn wants_headers(&self) -> bool {
        !self.values_only || self.headers.get()
    }

    /// Decodes `msg`; a codec or a `Deserialize` impl that panics is a decode error like any
    /// other.
    #[inline]
    pub(crate) fn decode_caught(&self, msg: &RawMessage<'_>) -> Result<Event<K, V>> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.decode(msg))) {
            Ok(r) => r,
            Err(p) => Err(Error::Deserialize {
                topic: self.topic.to_string(),
                partition: msg.partition,
                offset: msg.offset,
                what: "key or value",
                codec: format!("{}/{}", self.codecs.key.name(), self.codecs.value.name()),
                reason: format!("decoding {}", crate::error::panic_message(p.as_ref())),
                excerpt: excerpt(msg.value.unwrap_or_default()),
            }),
        }
    }

    /// The bytes to keep with a decoded event, when the policy may dead-letter it.
    #[inline]
    pub(crate) fn keep_raw(&self, msg: &RawMessage<'_>) -> Option<Box<RawCopy>> {
        (self.policy == ErrorPolicy::DeadLetter).then(|| Box::new(raw_copy(msg)))
    }

    #[inline]
    fn decode(&self, msg: &RawMessage<'_>) -> Result<Event<K, V>> {
        let key = match msg.key {
            None => None,
            Some(k) => Some(
                self.codecs
                    .key
                    .loads::<K>(k)
                    .map_err(|e| self.err(msg, "key", k, e))?,
            ),
        };
        let value = match msg.value {
            Some(v) => self
                .codecs
                .value
                .loads::<V>(v)
                .map_err(|e| self.err(msg, "value", v, e))?,
            None => self
                .codecs
                .value
                .loads_tombstone::<V>()
                .map_err(|e| self.err(msg, "value", b"", e))?,
        };
        Ok(Event {
            key,
            value,
            headers: match msg.headers {
                Some(h) if self.wants_headers() => h.to_headers(),
                _ => Vec::new(),
            },
            topic: self.topic,
            partition: msg.partition,
            offset: msg.offset,
            timestamp: msg.timestamp,
            ack: None,
        })
    }

    #[cold]
    fn err(&self, msg: &RawMessage<'_>, what: &'static str, bytes: &[u8], e: CodecError) -> Error {
        let codec = if what == "key" {
            &self.codecs.key
        } else {
            &self.codecs.value
        };
        Error::Deserialize {
            topic: self.topic.to_string(),
            partition: msg.partition,
            offset: msg.offset,
            what,
            codec: codec.name().to_string(),
            reason: if msg.value.is_none() && what == "value" {
                format!("tombstone (no value): {e}")
            } else {
                e.to_string()
            },
            excerpt: excerpt(bytes),
        }
    }

    /// Applies the policy to a record that did not decode. `Err` means the worker must stop.
    #[cold]
    pub(crate) fn bad_record(&self, msg: &RawMessage<'_>, err: Error, ack: Ack) -> Result<()> {
        match self.policy {
            ErrorPolicy::Stop => {
                tracing::error!(agent = self.agent, error = %err, "undecodable record; policy is stop");
                ack.abandon();
                Err(err)
            }
            ErrorPolicy::Skip => {
                tracing::warn!(agent = self.agent, error = %err, "skipping undecodable record");
                self.app.stats().record_skipped();
                drop(ack);
                Ok(())
            }
            ErrorPolicy::DeadLetter => {
                let raw = raw_copy(msg);
                let mut record = dead_letter_record(
                    &self.dead_letter,
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    raw,
                    &err.to_string(),
                );
                tracing::warn!(agent = self.agent, error = %err, dead_letter = %self.dead_letter, "dead-lettering undecodable record");
                record.notice.listener = Some(ack.into_listener());
                self.app.produce_soon(record)?;
                self.app.stats().record_dead_lettered();
                Ok(())
            }
        }
    }
}

fn raw_copy(msg: &RawMessage<'_>) -> RawCopy {
    RawCopy {
        key: msg.key.map(<[u8]>::to_vec),
        value: msg.value.map(<[u8]>::to_vec),
        headers: msg.headers.map(|h| h.to_headers()).unwrap_or_default(),
    }
}

/// The record forwarded to a dead-letter topic: original key, value and headers, plus headers
/// naming where it came from and why it failed.
pub(crate) fn dead_letter_record(
    dlq: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    raw: RawCopy,
    error: &str,
) -> OutgoingRecord {
    let mut headers = raw.headers;
    headers.push(("faust-error".into(), Some(error.as_bytes().to_vec().into())));
    headers.push((
        "faust-error-topic".into(),
        Some(topic.as_bytes().to_vec().into()),
    ));
    headers.push((
        "faust-error-partition".into(),
        Some(partition.to_string().into_bytes().into()),
    ));
    headers.push((
        "faust-error-offset".into(),
        Some(offset.to_string().into_bytes().into()),
    ));
    let mut record = OutgoingRecord::new(dlq.to_string(), raw.key, raw.value);
    record.headers = headers;
    record
}
