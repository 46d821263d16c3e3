//! The app's topology: which topics and channels feed which agents, where agents send
//! (`#[agent(Orders, sink = [Totals])]`: where the values it yields go), which topics
//! dead-letter into which, and the timers.
//! Built from the registry (what the macros declared), serializable with serde, and printable
//! as a Mermaid or Graphviz DOT diagram (the `graph` command, the dashboard).
//!
//! ```
//! use faust_runtime::prelude::*;
//! use faust_runtime::topology::{EdgeKind, Topology};
//!
//! #[topic(name = "orders", value = String, on_error = "dead_letter")]
//! pub struct Orders;
//! #[topic(name = "totals", value = String)]
//! pub struct Totals;
//!
//! #[agent(Orders, sink = [Totals])]
//! async fn count(mut orders: Stream<Orders>, out: Yield<String>) -> Result<()> {
//!     while let Some(o) = orders.next().await { out.send(o).await?; }
//!     Ok(())
//! }
//!
//! let app = App::builder("shop").build().unwrap();
//! let t = Topology::of(&app).unwrap();
//! assert!(t.has_edge("topic:orders", "agent:count", EdgeKind::Reads));
//! assert!(t.has_edge("agent:count", "topic:totals", EdgeKind::Sends));
//! assert!(t.has_edge("topic:orders", "topic:orders-dlq", EdgeKind::DeadLetter));
//! assert!(t.to_mermaid().starts_with("flowchart LR"));
//! assert!(t.to_dot().contains("\"topic:orders\" -> \"agent:count\""));
//! ```

use crate::app::App;
use crate::channel::SourceRef;
use crate::error::Result;
use crate::registry::Selection;
use crate::topic::{ErrorPolicy, TopicSpec};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A topic on the broker.
    Topic,
    /// An in-process channel.
    Channel,
    /// An `#[agent]`.
    Agent,
    /// A `#[timer]`.
    Timer,
}

impl NodeKind {
    fn prefix(self) -> &'static str {
        match self {
            NodeKind::Topic => "topic",
            NodeKind::Channel => "channel",
            NodeKind::Agent => "agent",
            NodeKind::Timer => "timer",
        }
    }
}

/// One topic, channel, agent or timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Unique id: `topic:NAME`, `channel:NAME`, `agent:NAME` or `timer:NAME`.
    pub id: String,
    /// What it is.
    pub kind: NodeKind,
    /// Its name (topic name, agent name, ...).
    pub name: String,
    /// Declared partition count (topics that declare one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Instances (agents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Interval in milliseconds (timers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

/// What an edge means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A topic or channel feeds an agent.
    Reads,
    /// An agent sends to a topic or channel (declared with `sink = [..]`).
    Sends,
    /// A topic's failed records go to its dead-letter topic.
    DeadLetter,
}

/// A directed edge between two node ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    /// Id of the node the data comes from.
    pub from: String,
    /// Id of the node it goes to.
    pub to: String,
    /// What the edge means.
    pub kind: EdgeKind,
}

/// An app's topology: nodes sorted by kind then name, edges sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// The app id.
    pub app: String,
    /// Topics, channels, agents and timers.
    pub nodes: Vec<Node>,
    /// Who feeds whom.
    pub edges: Vec<Edge>,
}

impl Topology {
    /// The topology of what `app` runs (its registrations, with its default error policy).
    pub fn of(app: &App) -> Result<Topology> {
        let sel = Selection::collect(app.modules())?;
        Ok(Topology::from_selection(
            app.id(),
            &sel,
            app.settings().on_error,
        ))
    }

    /// The topology of a selection of registrations; `default_on_error` is the policy of topics
    /// that declare none (a dead-letter policy adds the edge to the dead-letter topic).
    pub fn from_selection(app: &str, sel: &Selection, default_on_error: ErrorPolicy) -> Topology {
        let mut b = Builder {
            app: app.to_string(),
            ..Builder::default()
        };
        for t in &sel.topics {
            b.topic(t, default_on_error);
        }
        for c in &sel.channels {
            b.node(NodeKind::Channel, c.name);
        }
        for a in &sel.agents {
            let id = b.node(NodeKind::Agent, a.name);
            if let Some(n) = b.nodes.iter_mut().find(|n| n.id == id) {
                n.concurrency = Some(a.concurrency);
            }
            let src = b.source((a.source)(), default_on_error);
            b.edge(src, id.clone(), EdgeKind::Reads);
            for sink in a.sinks {
                let to = b.source(sink(), default_on_error);
                b.edge(id.clone(), to, EdgeKind::Sends);
            }
        }
        for t in &sel.timers {
            let id = b.node(NodeKind::Timer, t.name);
            if let Some(n) = b.nodes.iter_mut().find(|n| n.id == id) {
                n.interval_ms = Some(t.interval.as_millis().min(u64::MAX as u128) as u64);
            }
        }
        let mut nodes = b.nodes;
        nodes.sort_by(|x, y| (x.kind, &x.name).cmp(&(y.kind, &y.name)));
        let mut edges: Vec<Edge> = b.edges.into_iter().collect();
        edges.sort();
        Topology {
            app: app.to_string(),
            nodes,
            edges,
        }
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Whether there is an edge `from -> to` of this kind.
    pub fn has_edge(&self, from: &str, to: &str, kind: EdgeKind) -> bool {
        self.edges
            .iter()
            .any(|e| e.from == from && e.to == to && e.kind == kind)
    }

    /// A Mermaid flowchart (left to right): topics as cylinders, channels as parallelograms,
    /// agents as boxes, timers as hexagons; dead-letter edges dotted.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let index = |id: &str| self.nodes.iter().position(|n| n.id == id);
        for (i, n) in self.nodes.iter().enumerate() {
            let label = mermaid_label(&n.name);
            let shape = match n.kind {
                NodeKind::Topic => format!("[(\"{label}\")]"),
                NodeKind::Channel => format!("[/\"{label}\"/]"),
                NodeKind::Agent => format!("[\"{label}\"]"),
                NodeKind::Timer => format!("{{{{\"{label}\"}}}}"),
            };
            let _ = writeln!(out, "    n{i}{shape}");
        }
        for e in &self.edges {
            let (Some(f), Some(t)) = (index(&e.from), index(&e.to)) else {
                continue;
            };
            let arrow = match e.kind {
                EdgeKind::Reads | EdgeKind::Sends => "-->",
                EdgeKind::DeadLetter => "-. dead letter .->",
            };
            let _ = writeln!(out, "    n{f} {arrow} n{t}");
        }
        for (kind, class) in [
            (NodeKind::Topic, "topic"),
            (NodeKind::Channel, "channel"),
            (NodeKind::Agent, "agent"),
            (NodeKind::Timer, "timer"),
        ] {
            let ids: Vec<String> = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.kind == kind)
                .map(|(i, _)| format!("n{i}"))
                .collect();
            if !ids.is_empty() {
                let _ = writeln!(out, "    class {} {class}", ids.join(","));
            }
        }
        out
    }

    /// A Graphviz DOT digraph (left to right), node ids as in [`Node::id`].
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&self.app));
        out.push_str("    rankdir=LR;\n");
        for n in &self.nodes {
            let shape = match n.kind {
                NodeKind::Topic => "cylinder",
                NodeKind::Channel => "parallelogram",
                NodeKind::Agent => "box",
                NodeKind::Timer => "hexagon",
            };
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{}\", shape={shape}];",
                dot_escape(&n.id),
                dot_escape(&n.name)
            );
        }
        for e in &self.edges {
            let style = match e.kind {
                EdgeKind::Reads | EdgeKind::Sends => "",
                EdgeKind::DeadLetter => " [style=dashed, label=\"dead letter\"]",
            };
            let _ = writeln!(
                out,
                "    \"{}\" -> \"{}\"{style};",
                dot_escape(&e.from),
                dot_escape(&e.to)
            );
        }
        out.push_str("}\n");
        out
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    edges: BTreeSet<Edge>,
    /// The app id: an agent's own topic is `{app}-{agent}` on the broker.
    app: String,
}

impl Builder {
    /// Adds the node if new; returns its id.
    fn node(&mut self, kind: NodeKind, name: &str) -> String {
        let id = format!("{}:{name}", kind.prefix());
        if !self.nodes.iter().any(|n| n.id == id) {
            self.nodes.push(Node {
                id: id.clone(),
                kind,
                name: name.to_string(),
                partitions: None,
                concurrency: None,
                interval_ms: None,
            });
        }
        id
    }

    fn topic(&mut self, spec: &TopicSpec, default_on_error: ErrorPolicy) -> String {
        // An agent's own topic, by its name on the broker.
        let name = if spec.has_prefix {
            format!("{}-{}", self.app, spec.name)
        } else {
            spec.name.to_string()
        };
        let id = self.node(NodeKind::Topic, &name);
        if let Some(n) = self.nodes.iter_mut().find(|n| n.id == id) {
            n.partitions = spec.declared_partitions();
        }
        if spec.declared_on_error().unwrap_or(default_on_error) == ErrorPolicy::DeadLetter {
            let dlq = spec.dead_letter_topic();
            let dlq = if spec.has_prefix && dlq == format!("{}-dlq", spec.name) {
                format!("{name}-dlq")
            } else {
                dlq
            };
            let dlq = self.node(NodeKind::Topic, &dlq);
            self.edge(id.clone(), dlq, EdgeKind::DeadLetter);
        }
        id
    }

    fn source(&mut self, src: SourceRef, default_on_error: ErrorPolicy) -> String {
        match src {
            SourceRef::Topic(t) => self.topic(t, default_on_error),
            SourceRef::Channel(c) => self.node(NodeKind::Channel, c.name),
        }
    }

    fn edge(&mut self, from: String, to: String, kind: EdgeKind) {
        self.edges.insert(Edge { from, to, kind });
    }
}

/// Mermaid labels are quoted; quotes inside become `#quot;`.
fn mermaid_label(s: &str) -> String {
    s.replace('"', "#quot;")
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Topology {
        Topology {
            app: "a\"pp".into(),
            nodes: vec![
                Node {
                    id: "topic:in".into(),
                    kind: NodeKind::Topic,
                    name: "in".into(),
                    partitions: Some(4),
                    concurrency: None,
                    interval_ms: None,
                },
                Node {
                    id: "agent:we\"ird".into(),
                    kind: NodeKind::Agent,
                    name: "we\"ird".into(),
                    partitions: None,
                    concurrency: Some(2),
                    interval_ms: None,
                },
            ],
            edges: vec![Edge {
                from: "topic:in".into(),
                to: "agent:we\"ird".into(),
                kind: EdgeKind::Reads,
            }],
        }
    }

    #[test]
    fn mermaid_quotes_labels_and_draws_edges_by_index() {
        let m = sample().to_mermaid();
        assert!(m.contains("n0[(\"in\")]"), "{m}");
        assert!(m.contains("n1[\"we#quot;ird\"]"), "{m}");
        assert!(m.contains("n0 --> n1"), "{m}");
        assert!(m.contains("class n0 topic"), "{m}");
    }

    #[test]
    fn dot_escapes_quotes() {
        let d = sample().to_dot();
        assert!(d.starts_with("digraph \"a\\\"pp\" {"), "{d}");
        assert!(d.contains("\"topic:in\" -> \"agent:we\\\"ird\";"), "{d}");
        assert!(d.trim_end().ends_with('}'));
    }

    #[test]
    fn serializes_kinds_in_snake_case_and_skips_absent_fields() {
        let j = serde_json::to_value(sample()).unwrap();
        assert_eq!(j["nodes"][0]["kind"], "topic");
        assert_eq!(j["nodes"][0]["partitions"], 4);
        assert!(j["nodes"][0].get("concurrency").is_none());
        assert_eq!(j["edges"][0]["kind"], "reads");
    }
}
