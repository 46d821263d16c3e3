//! The names of the topics a Kafka consumer's records come from. librdkafka hands each record's
//! topic as a C string; measuring it and checking it is UTF-8 for every record cost more than
//! routing the record. The names seen so far are kept here, and a record's name is matched
//! against them byte by byte, up to its terminator.

use rdkafka::bindings as rd;
use rdkafka::message::{BorrowedMessage, Message};

/// The topic names a consumer's records came from so far (usually one or a few).
#[derive(Default)]
pub(super) struct TopicNames {
    names: Vec<String>,
    /// The name of the previous record's topic.
    last: usize,
}

impl TopicNames {
    /// The name of `msg`'s topic.
    #[inline]
    pub(super) fn of<'a>(&'a mut self, msg: &BorrowedMessage<'_>) -> &'a str {
        // SAFETY: a consumed message has a topic handle while it lives, whose name is a
        // NUL-terminated string (what `Message::topic` reads too).
        let c = unsafe { rd::rd_kafka_topic_name((*msg.ptr()).rkt) };
        let found = match self.names.get(self.last) {
            // SAFETY: as above.
            Some(n) if unsafe { names(c, n) } => Some(self.last),
            _ => self.names.iter().position(|n| unsafe { names(c, n) }),
        };
        let i = match found {
            Some(i) => i,
            None => {
                self.names.push(msg.topic().to_string());
                self.names.len() - 1
            }
        };
        self.last = i;
        &self.names[i]
    }
}

/// Whether the C string at `c` is `name`. Reads `c` only up to its terminator or the first
/// byte that differs.
///
/// # Safety
/// `c` points to a NUL-terminated string.
#[inline]
unsafe fn names(c: *const std::os::raw::c_char, name: &str) -> bool {
    let c = c.cast::<u8>();
    for (i, &b) in name.as_bytes().iter().enumerate() {
        // SAFETY: every byte before this one matched a byte of `name`, none of them 0 (a topic
        // name has no NUL; if it had, the match failed there), so the string goes on to here.
        if unsafe { *c.add(i) } != b {
            return false;
        }
    }
    // SAFETY: as above: the string is at least `name.len()` bytes long before its terminator.
    unsafe { *c.add(name.len()) == 0 }
}

#[cfg(test)]
mod tests {
    use super::names;
    use std::ffi::CString;

    #[test]
    fn a_c_string_names_exactly_the_same_topic() {
        let orders = CString::new("orders").unwrap();
        assert!(unsafe { names(orders.as_ptr(), "orders") });
        assert!(!unsafe { names(orders.as_ptr(), "order") });
        assert!(!unsafe { names(orders.as_ptr(), "orders-2") });
        assert!(!unsafe { names(orders.as_ptr(), "Orders") });
        let empty = CString::new("").unwrap();
        assert!(unsafe { names(empty.as_ptr(), "") });
        assert!(!unsafe { names(empty.as_ptr(), "o") });
    }
}
