//! The registry: what the macros declared, collected once through `inventory`, sorted, checked.
//!
//! Every `#[topic]`, `#[channel]`, `#[agent]` and `#[timer]` submits one [`Registration`]. An app
//! selects the registrations it runs by module path (see [`crate::AppBuilder::include_module`]).

use crate::agent::AgentSpec;
use crate::channel::ChannelSpec;
use crate::error::{Error, Result};
use crate::timer::TimerSpec;
use crate::topic::TopicSpec;
use std::collections::BTreeMap;

/// One declaration made by a macro.
#[derive(Clone, Copy)]
pub enum Registration {
    /// A `#[topic]`.
    Topic(&'static TopicSpec),
    /// A `#[channel]`.
    Channel(&'static ChannelSpec),
    /// An `#[agent]`.
    Agent(&'static AgentSpec),
    /// A `#[timer]`.
    Timer(&'static TimerSpec),
    /// A `#[page]`.
    Page(&'static crate::web::PageSpec),
}

inventory::collect!(Registration);

impl Registration {
    fn module(&self) -> &'static str {
        match self {
            Registration::Topic(s) => s.module,
            Registration::Channel(s) => s.module,
            Registration::Agent(s) => s.module,
            Registration::Timer(s) => s.module,
            Registration::Page(s) => s.module,
        }
    }
}

/// Whether `module` is `prefix` or inside it (`a::b` is inside `a`, `ab` is not).
pub(crate) fn module_matches(module: &str, prefix: &str) -> bool {
    module == prefix || (module.starts_with(prefix) && module[prefix.len()..].starts_with("::"))
}

/// The `#[page]`s declared in `modules` (all when empty).
pub(crate) fn pages(modules: &[String]) -> Vec<&'static crate::web::PageSpec> {
    inventory::iter::<Registration>
        .into_iter()
        .filter_map(|reg| match *reg {
            Registration::Page(p)
                if modules.is_empty() || modules.iter().any(|m| module_matches(p.module, m)) =>
            {
                Some(p)
            }
            _ => None,
        })
        .collect()
}

/// The registrations one app runs, sorted by qualified name.
#[derive(Default, Clone)]
pub struct Selection {
    /// Declared topics.
    pub topics: Vec<&'static TopicSpec>,
    /// Declared channels.
    pub channels: Vec<&'static ChannelSpec>,
    /// Agents.
    pub agents: Vec<&'static AgentSpec>,
    /// Timers.
    pub timers: Vec<&'static TimerSpec>,
}

impl Selection {
    /// Collects every registration whose module is one of `modules` (all when `modules` is empty),
    /// plus the topics and channels the selected agents read. Reports duplicate names.
    pub fn collect(modules: &[String]) -> Result<Selection> {
        let mut sel = Selection::default();
        let mut total = 0usize;
        for reg in inventory::iter::<Registration> {
            total += 1;
            if !modules.is_empty() && !modules.iter().any(|m| module_matches(reg.module(), m)) {
                continue;
            }
            match *reg {
                Registration::Topic(s) => sel.topics.push(s),
                Registration::Channel(s) => sel.channels.push(s),
                Registration::Agent(s) => sel.agents.push(s),
                Registration::Timer(s) => sel.timers.push(s),
                Registration::Page(_) => {}
            }
        }
        for agent in sel.agents.clone() {
            match (agent.source)() {
                crate::SourceRef::Topic(t) => sel.topics.push(t),
                crate::SourceRef::Channel(c) => sel.channels.push(c),
            }
        }
        if sel.agents.is_empty() && sel.timers.is_empty() {
            let scope = if modules.is_empty() {
                "this binary".to_string()
            } else {
                format!("module(s) {}", modules.join(", "))
            };
            return Err(Error::Registry(format!(
                "nothing to run: no #[agent] or #[timer] is registered in {scope} ({total} registrations in the binary). \
                 Registrations are collected at link time from the modules of this binary: declare agents and timers in \
                 the binary crate (or a module it uses), make sure the module is compiled in (`mod` it from main.rs/lib.rs and \
                 reference something from it), and check the app's include_module filters"
            )));
        }
        sel.sort_and_check()?;
        Ok(sel)
    }

    fn sort_and_check(&mut self) -> Result<()> {
        self.topics.sort_by_key(|t| (t.name, t.type_name));
        self.topics.dedup_by(|a, b| std::ptr::eq(*a, *b));
        self.channels.sort_by_key(|c| (c.name, c.type_name));
        self.channels.dedup_by(|a, b| std::ptr::eq(*a, *b));
        self.agents.sort_by_key(|a| (a.name, a.qualified));
        self.timers.sort_by_key(|t| (t.name, t.qualified));
        let mut problems = Vec::new();
        let mut names: BTreeMap<&str, &str> = BTreeMap::new();
        // An agent's own topic is named after its agent (whose names are checked below).
        for t in self.topics.iter().filter(|t| !t.has_prefix) {
            if let Some(prev) = names.insert(t.name, t.type_name) {
                problems.push(format!(
                    "topic '{}' is declared twice: by `{}` and by `{}`",
                    t.name, prev, t.type_name
                ));
            }
        }
        for c in &self.channels {
            if let Some(prev) = names.insert(c.name, c.type_name) {
                problems.push(format!(
                    "name '{}' is used by `{}` and by channel `{}`",
                    c.name, prev, c.type_name
                ));
            }
        }
        let mut agents: BTreeMap<&str, &str> = BTreeMap::new();
        for a in &self.agents {
            if let Some(prev) = agents.insert(a.name, a.qualified) {
                problems.push(format!(
                    "agent name '{}' is used twice: by `{}` and by `{}`",
                    a.name, prev, a.qualified
                ));
            }
        }
        let mut timers: BTreeMap<&str, &str> = BTreeMap::new();
        for t in &self.timers {
            if let Some(prev) = timers.insert(t.name, t.qualified) {
                problems.push(format!(
                    "timer name '{}' is used twice: by `{}` and by `{}`",
                    t.name, prev, t.qualified
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Registry(format!(
                "duplicate registrations: {}",
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::module_matches;

    #[test]
    fn module_prefix_matching_respects_path_segments() {
        assert!(module_matches("app", "app"));
        assert!(module_matches("app::orders", "app"));
        assert!(!module_matches("apple", "app"));
        assert!(!module_matches("app", "app::orders"));
    }
}
