//! Polymorphic records: one topic carrying several record types, told apart by `__faust.ns`,
//! as a Faust topic with `value_type=None` does.
//!
//! `#[record]` on an enum whose variants each hold one record type implements serde's traits and
//! [`Polymorphic`]: encoding writes the variant's record with its namespace (also for records
//! declared with `include_metadata = false`), decoding reads `__faust.ns` and decodes that
//! record type. An unknown or missing namespace is a decoding error, so on a topic it follows the
//! topic's `on_error` policy (Faust's agent raises and drops such a record); a variant marked
//! `#[record(other)]` takes those records instead, as any type that decodes from the JSON (such
//! as `serde_json::Value`).
//!
//! ```
//! use faust_runtime::prelude::*;
//! use faust_runtime::record::Polymorphic;
//!
//! #[record(namespace = "app.Order")]
//! #[derive(Clone, Debug, PartialEq)]
//! struct Order { id: u64 }
//!
//! #[record(namespace = "app.Refund")]
//! #[derive(Clone, Debug, PartialEq)]
//! struct Refund { order_id: u64, reason: String }
//!
//! #[record]
//! #[derive(Clone, Debug, PartialEq)]
//! enum Event {
//!     Order(Order),
//!     Refund(Refund),
//! }
//!
//! let refund = Event::Refund(Refund { order_id: 1, reason: "late".into() });
//! let json = r#"{"order_id":1,"reason":"late","__faust":{"ns":"app.Refund"}}"#;
//! assert_eq!(serde_json::to_string(&refund)?, json);
//! assert_eq!(serde_json::from_str::<Event>(json)?, refund);
//! assert_eq!(refund.namespace(), Some("app.Refund"));
//! assert_eq!(Event::namespaces(), ["app.Order", "app.Refund"]);
//!
//! let err = serde_json::from_str::<Event>(r#"{"id":1,"__faust":{"ns":"app.Other"}}"#).unwrap_err();
//! assert!(err.to_string().contains("unknown record namespace 'app.Other'"), "{err}");
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! Give every record in such an enum an explicit `namespace`, the one the Faust app's class has
//! (`module.ClassName` of the Python class): the default namespace comes from the Rust module
//! path, which only other Rust apps know. Namespaces within one enum must differ (the first
//! variant with a namespace wins).

use super::{with_metadata, Record};
use crate::codec::content::{Content, ContentDeserializer};
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// An enum of record types, implemented by `#[record]` on the enum.
pub trait Polymorphic: Serialize + DeserializeOwned {
    /// The namespaces of the record variants, in declaration order.
    fn namespaces() -> Vec<&'static str>;
    /// The namespace of this value's record; `None` for the `#[record(other)]` variant.
    fn namespace(&self) -> Option<&'static str>;
}

/// Writes one variant's record, with its namespace even when the record leaves it out.
#[doc(hidden)]
pub fn serialize_variant<T: Record, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if T::include_metadata() {
        value.serialize(serializer)
    } else {
        value.serialize(with_metadata(serializer, T::namespace()))
    }
}

/// A record read into memory, to be decoded once its namespace is known.
#[doc(hidden)]
pub struct Buffered<E> {
    content: Content,
    human_readable: bool,
    err: PhantomData<E>,
}

impl<E: de::Error> Buffered<E> {
    /// Reads the whole value.
    pub fn read<'de, D: de::Deserializer<'de, Error = E>>(deserializer: D) -> Result<Self, E> {
        let human_readable = deserializer.is_human_readable();
        Ok(Buffered {
            content: Content::deserialize(deserializer)?,
            human_readable,
            err: PhantomData,
        })
    }

    /// The value's `__faust.ns`.
    pub fn namespace(&self) -> Option<&str> {
        self.content
            .get(super::METADATA_KEY)
            .and_then(|m| m.get("ns"))
            .and_then(Content::as_str)
    }

    /// Which of `known` the namespace is.
    pub fn position(&self, known: &[&str]) -> Option<usize> {
        let ns = self.namespace()?;
        known.iter().position(|k| *k == ns)
    }

    /// Decodes the value as `T`.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, E> {
        T::deserialize(ContentDeserializer::<E>::new(
            self.content,
            self.human_readable,
        ))
    }

    /// The error for a value none of `known` matches.
    pub fn unknown(&self, type_name: &str, known: &[&str]) -> E {
        let known = known.join(", ");
        match (&self.content, self.namespace()) {
            (_, Some(ns)) => E::custom(format!(
                "unknown record namespace '{ns}' for {type_name} (known: {known})"
            )),
            (Content::Map(_), None) => E::custom(format!(
                "no __faust.ns in the record, so no way to tell which {type_name} it is (known: {known})"
            )),
            (_, None) => E::custom(format!(
                "expected a record (an object with __faust.ns) for {type_name} (known: {known})"
            )),
        }
    }
}
