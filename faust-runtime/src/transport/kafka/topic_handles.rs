//! librdkafka topic handles of a producer, one per topic it sends to.
//!
//! A record named by its topic's handle costs librdkafka no lookup of the name (a lock and a
//! search of the client's topics) and us no C string of the name per record; a handle is made
//! once, on the first record to its topic, and released with the producer.

use rdkafka::bindings as rdsys;
use std::collections::HashMap;
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::RwLock;

/// Up to this many topics are searched in a list; beyond, by hash.
const LISTED: usize = 16;

/// A topic handle (`rd_kafka_topic_t`), released when dropped.
struct Handle(NonNull<rdsys::rd_kafka_topic_t>);

// SAFETY: librdkafka's topic handles may be used and released on any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; the handle is only passed to librdkafka, which synchronises its use.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from `rd_kafka_topic_new` and is released once, here.
        unsafe { rdsys::rd_kafka_topic_destroy(self.0.as_ptr()) }
    }
}

#[derive(Default)]
struct Known {
    list: Vec<(Box<str>, Handle)>,
    more: HashMap<Box<str>, Handle>,
}

impl Known {
    fn find(&self, topic: &str) -> Option<*mut rdsys::rd_kafka_topic_t> {
        let found = match self.list.iter().find(|(name, _)| **name == *topic) {
            Some((_, h)) => Some(h),
            None if self.more.is_empty() => None,
            None => self.more.get(topic),
        };
        found.map(|h| h.0.as_ptr())
    }
}

/// The topic handles of one producer, by name. Dropped before the producer (see
/// `producer::Slot`), as librdkafka asks.
#[derive(Default)]
pub(super) struct TopicHandles {
    known: RwLock<Known>,
}

impl TopicHandles {
    /// The handle of `topic` on client `rk`, made on first use. The pointer stays valid as long
    /// as `self`.
    pub(super) fn get(
        &self,
        rk: *mut rdsys::rd_kafka_t,
        topic: &str,
    ) -> Result<*mut rdsys::rd_kafka_topic_t, String> {
        if let Some(h) = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .find(topic)
        {
            return Ok(h);
        }
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = known.find(topic) {
            return Ok(h);
        }
        let name = CString::new(topic)
            .map_err(|_| format!("the topic name {topic:?} contains a NUL byte"))?;
        // SAFETY: `rk` is the live client of the producer that owns `self`; a null configuration
        // means the client's default topic configuration (as for a record named by its topic).
        let raw = unsafe { rdsys::rd_kafka_topic_new(rk, name.as_ptr(), std::ptr::null_mut()) };
        let handle = NonNull::new(raw).map(Handle).ok_or_else(|| {
            // SAFETY: reads librdkafka's thread-local last error; no pointers involved.
            let code = unsafe { rdsys::rd_kafka_last_error() };
            format!(
                "librdkafka gave no handle for topic '{topic}': {}",
                rdkafka::types::RDKafkaErrorCode::from(code)
            )
        })?;
        if known.list.len() < LISTED {
            known.list.push((topic.into(), handle));
        } else {
            known.more.insert(topic.into(), handle);
        }
        Ok(raw)
    }
}
