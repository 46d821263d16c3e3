//! Pattern subscriptions: `#[topic(pattern = "^events-.*", value = Event)]` (Faust's
//! `app.topic(pattern=...)`) gives one handle, and so one agent, every topic whose name matches,
//! also topics created after the worker started.
//!
//! The consumer subscribes to the pattern itself (a `^`-prefixed subscription, as librdkafka
//! and the Java client take it; the embedded broker does the same): the group assigns the
//! partitions of every matching topic. When the driver is assigned a partition of a topic it
//! has no route for, it asks the pattern's `SubscriberFactory` for a subscriber of that topic
//! (once per topic): from then on the topic's records go through the same path as a named
//! topic's, numbered and committed per topic-partition, in order within each partition.

use crate::error::{Error, Result};
use regex::Regex;

/// Makes the subscriber of one more topic matching a pattern (one per agent reading it).
pub(crate) trait SubscriberFactory: Send {
    /// The subscriber of topic `topic`, newly matched.
    fn make(&mut self, topic: &'static str) -> Box<dyn crate::engine::driver::Subscriber>;
    /// Drops what keeps the agent's stream open (the driver stops).
    fn close(&mut self);
}

/// A pattern as the consumer subscribes to it, compiled.
pub(crate) struct Pattern {
    /// The expression as written (with its `^`).
    pub(crate) source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source`, which must start with `^`.
    pub(crate) fn new(source: &str) -> Result<Pattern> {
        if !is_pattern(source) {
            return Err(Error::config(format!(
                "topic pattern {source:?} must start with `^` (how Kafka clients tell a pattern from a topic name)"
            )));
        }
        let regex = Regex::new(source).map_err(|e| {
            Error::config(format!(
                "topic pattern {source:?} is not a valid regular expression: {e}"
            ))
        })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// Whether topic `name` matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

/// Whether a subscription entry is a pattern (starts with `^`) rather than a topic name.
pub(crate) fn is_pattern(entry: &str) -> bool {
    entry.starts_with('^')
}

/// What a consumer subscribed to: topic names and patterns (for the embedded broker's group
/// assignment).
#[derive(Default)]
pub(crate) struct Subscription {
    names: Vec<String>,
    patterns: Vec<Pattern>,
}

impl Subscription {
    /// Reads the entries of a consumer's configuration; a bad pattern is an error.
    pub(crate) fn new(entries: &[String]) -> Result<Subscription> {
        let mut s = Subscription::default();
        for e in entries {
            if is_pattern(e) {
                s.patterns.push(Pattern::new(e)?);
            } else {
                s.names.push(e.clone());
            }
        }
        Ok(s)
    }

    /// Whether the subscription covers topic `name`.
    pub(crate) fn covers(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name) || self.patterns.iter().any(|p| p.matches(name))
    }

    /// The topics of `existing` (sorted, unique) it covers.
    pub(crate) fn topics<'a>(&self, existing: impl Iterator<Item = &'a String>) -> Vec<String> {
        let mut out: Vec<String> = existing.filter(|t| self.covers(t)).cloned().collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What the handle of a topic pattern dereferences to: its name, and `send` methods that do
/// not compile (a pattern names no topic to send to; send to one of the topics it matches).
///
/// ```compile_fail
/// use faust_runtime::prelude::*;
///
/// #[topic(pattern = "^events-.*", key = String, value = u64)]
/// struct AllEvents;
///
/// async fn f() -> Result<()> {
///     AllEvents.send("k", 1).await?; // error: a topic pattern cannot be sent to
///     Ok(())
/// }
/// ```
pub struct PatternApi<T>(std::marker::PhantomData<fn() -> T>);

impl<T> PatternApi<T> {
    /// The handle (generated code uses it).
    #[doc(hidden)]
    pub const NEW: Self = PatternApi(std::marker::PhantomData);
}

impl<T: crate::Topic> PatternApi<T> {
    /// The pattern, as written (`^events-.*`).
    pub fn pattern(&self) -> &'static str {
        T::spec().name
    }
}

/// Implemented by no topic pattern: the bound of [`PatternApi`]'s send methods, so that
/// sending to a pattern is reported at compile time.
#[diagnostic::on_unimplemented(
    message = "`{T}` reads a topic pattern, which cannot be sent to",
    label = "a pattern names no topic to send to",
    note = "send to one of the topics it matches, e.g. through a #[topic(name = \"...\")] handle or `app.topic::<K, V>(name)`"
)]
pub trait Sendable<T> {}

impl<T: crate::Topic> PatternApi<T> {
    /// Does not compile: a pattern cannot be sent to.
    pub async fn send<K, V>(&self, _key: K, _value: V) -> Result<crate::DeliveryHandle>
    where
        Self: Sendable<T>,
    {
        unreachable_send(T::spec())
    }

    /// Does not compile: a pattern cannot be sent to.
    pub fn send_soon<K, V>(&self, _key: K, _value: V) -> Result<crate::DeliveryHandle>
    where
        Self: Sendable<T>,
    {
        unreachable_send(T::spec())
    }

    /// Does not compile: a pattern cannot be sent to.
    pub fn record<V>(&self, _value: V) -> Result<crate::DeliveryHandle>
    where
        Self: Sendable<T>,
    {
        unreachable_send(T::spec())
    }
}

fn unreachable_send(spec: &crate::TopicSpec) -> Result<crate::DeliveryHandle> {
    Err(Error::config(format!(
        "topic handle {} reads every topic matching the pattern {}: send to one of them",
        spec.type_name, spec.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_start_with_a_caret_and_must_compile() {
        assert!(Pattern::new("events-.*").is_err());
        let err = Pattern::new("^events-(").err().unwrap().to_string();
        assert!(err.contains("not a valid regular expression"), "{err}");
        let p = Pattern::new("^events-.*").unwrap();
        assert!(p.matches("events-eu"));
        assert!(!p.matches("old-events-eu"));
    }

    #[test]
    fn a_subscription_covers_its_names_and_what_its_patterns_match() {
        let s = Subscription::new(&["orders".into(), "^events-[0-9]+$".into()]).unwrap();
        let existing: Vec<String> = ["events-2", "orders", "events-x", "events-1", "other"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            s.topics(existing.iter()),
            ["events-1", "events-2", "orders"]
        );
    }
}
