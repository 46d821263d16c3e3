//! The topic of an agent declared without one: `#[agent(handle = Greet, value = String)]` reads
//! `{app_id}-{agent_name}`, as Faust names the channel of an agent given none (Faust's
//! `has_prefix` topics). The declaration's [`TopicSpec`] carries the bare agent name with
//! [`TopicSpec::has_prefix`] set; each app resolves it once into a spec of its own, with the
//! app id prefixed, which is what is created at startup, subscribed and sent to.

use crate::app::App;
use crate::topic::{CodecCache, TopicSpec};
use std::sync::RwLock;

/// The prefixed specs an app resolved, by the address of their declaration.
#[derive(Default)]
pub(crate) struct AgentTopics(RwLock<Vec<(usize, &'static TopicSpec)>>);

impl AgentTopics {
    fn find(&self, key: usize) -> Option<&'static TopicSpec> {
        let list = self.0.read().unwrap_or_else(|p| p.into_inner());
        list.iter().find(|(k, _)| *k == key).map(|(_, s)| *s)
    }
}

impl App {
    /// The spec this app uses for `spec`: `spec` itself, or, for an agent's own topic
    /// ([`TopicSpec::has_prefix`]), its copy named `{app_id}-{name}` (made once per app).
    pub fn resolve_topic(&self, spec: &'static TopicSpec) -> &'static TopicSpec {
        if !spec.has_prefix {
            return spec;
        }
        let key = spec as *const TopicSpec as usize;
        let topics = &self.core_ref().agent_topics;
        if let Some(found) = topics.find(key) {
            return found;
        }
        let mut list = topics.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, found)) = list.iter().find(|(k, _)| *k == key) {
            return found;
        }
        let name = format!("{}-{}", self.id(), spec.name);
        let resolved: &'static TopicSpec = Box::leak(Box::new(prefixed(spec, name)));
        list.push((key, resolved));
        resolved
    }

    /// [`App::resolve_topic`] for an agent's source.
    pub(crate) fn resolve_source(&self, source: crate::SourceRef) -> crate::SourceRef {
        match source {
            crate::SourceRef::Topic(t) => crate::SourceRef::Topic(self.resolve_topic(t)),
            other => other,
        }
    }
}

/// `spec` under the Kafka name `name`, no longer to be prefixed.
fn prefixed(spec: &'static TopicSpec, name: String) -> TopicSpec {
    TopicSpec {
        name: Box::leak(name.into_boxed_str()),
        names: spec.names,
        has_prefix: false,
        pattern: spec.pattern,
        type_name: spec.type_name,
        module: spec.module,
        __key_type: spec.__key_type,
        __value_type: spec.__value_type,
        partitions: spec.partitions,
        replicas: spec.replicas,
        retention: spec.retention,
        compacting: spec.compacting,
        deleting: spec.deleting,
        acks: spec.acks,
        delivery_guarantee: spec.delivery_guarantee,
        maxsize: spec.maxsize,
        config: spec.config,
        key_serializer: spec.key_serializer,
        value_serializer: spec.value_serializer,
        on_error: spec.on_error,
        dead_letter: spec.dead_letter,
        root: spec.root,
        __codecs: CodecCache::new(),
        __send_json: spec.__send_json,
    }
}
