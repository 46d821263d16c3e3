//! What `#[table]` declares: a static [`TableSpec`] and its [`TableRegistration`].

use super::runtime::TableRuntime;
use crate::app::App;
use crate::error::Result;
use std::sync::Arc;

/// Makes a table's typed state for one app: `(app, spec, partitions, changelog topic)`.
pub type MakeTable =
    fn(&App, &'static TableSpec, i32, &'static str) -> Result<Arc<dyn TableRuntime>>;

/// A table declared with `#[table]`.
pub struct TableSpec {
    /// Table name (the changelog topic is `{app_id}-{name}-changelog`).
    pub name: &'static str,
    /// Rust path of the handle type, for messages.
    pub type_name: &'static str,
    /// Module that declared it (apps select registrations by module).
    pub module: &'static str,
    /// Partition count of the changelog (default: the app's `topic_partitions`).
    pub partitions: Option<i32>,
    /// The key type's name.
    pub __key_type: fn() -> &'static str,
    /// The value type's name.
    pub __value_type: fn() -> &'static str,
    /// The windows of a windowed table.
    pub window: Option<super::window::WindowSpec>,
    /// What kind of table it is.
    pub kind: TableKind,
    /// Makes the typed state.
    pub __make: MakeTable,
}

impl std::fmt::Debug for TableSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSpec")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl TableSpec {
    /// The changelog topic of this table in app `app_id` (Faust's name).
    pub fn changelog_topic(&self, app_id: &str) -> String {
        changelog_topic(app_id, self.name)
    }
}

/// `{app_id}-{table}-changelog`, as Faust names a table's changelog topic.
pub fn changelog_topic(app_id: &str, table: &str) -> String {
    format!("{app_id}-{table}-changelog")
}

/// What kind of table a [`TableSpec`] declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A key → value table (Faust's `app.Table`), windowed or not.
    Table,
    /// A key → set of members table (Faust's `app.SetTable`); see [`super::set`].
    Set,
    /// A key → value table every worker holds whole (Faust's `app.GlobalTable`); see
    /// [`super::global`].
    Global,
}

/// The registration `#[table]` submits.
pub struct TableRegistration(pub &'static TableSpec);

inventory::collect!(TableRegistration);
