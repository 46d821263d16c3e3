//! `tables`: the app's tables, as declared (name, key and value types, partitions, changelog
//! topic, windows).

use super::scrub::Scrubber;
use crate::app::App;
use crate::error::Result;
use serde::Serialize;

/// One table, as `tables` lists it.
#[derive(Serialize)]
pub(crate) struct TableRow {
    name: &'static str,
    key: &'static str,
    value: &'static str,
    partitions: i32,
    changelog: String,
    /// `null` for a plain table.
    window: Option<WindowRow>,
    handle: &'static str,
    /// `table`, `set` or `global`.
    kind: &'static str,
}

/// The windows of a windowed table, in milliseconds.
#[derive(Serialize)]
struct WindowRow {
    kind: &'static str,
    size_ms: i64,
    step_ms: i64,
    expires_ms: i64,
}

/// The rows for `app`'s tables, sorted by name.
pub(crate) fn rows(app: &App) -> Result<Vec<TableRow>> {
    let group = app.group_id();
    Ok(crate::table::declared(app.modules())?
        .into_iter()
        .map(|t| TableRow {
            name: t.name,
            key: (t.__key_type)(),
            value: (t.__value_type)(),
            partitions: t.partitions.unwrap_or(app.settings().topic_partitions),
            changelog: t.changelog_topic(&group),
            window: t.window.map(|w| WindowRow {
                kind: if w.step_ms == w.size_ms {
                    "tumbling"
                } else {
                    "hopping"
                },
                size_ms: w.size_ms,
                step_ms: w.step_ms,
                expires_ms: w.expires_ms,
            }),
            handle: t.type_name,
            kind: match t.kind {
                crate::table::TableKind::Table => "table",
                crate::table::TableKind::Set => "set",
                crate::table::TableKind::Global => "global",
            },
        })
        .collect())
}

/// Prints `rows` as a table, or as JSON.
pub(crate) fn print(rows: &[TableRow], json: bool, out: &Scrubber) {
    if json {
        out.println(super::to_json(&rows));
        return;
    }
    out.println(format_args!(
        "{:<24} {:<16} {:<16} {:>5}  {:<36} WINDOW",
        "TABLE", "KEY", "VALUE", "N", "CHANGELOG"
    ));
    for r in rows {
        let window = match &r.window {
            None => "-".to_string(),
            Some(w) if w.kind == "tumbling" => format!(
                "tumbling {:?}, expires {:?}",
                ms(w.size_ms),
                ms(w.expires_ms)
            ),
            Some(w) => format!(
                "hopping {:?} every {:?}, expires {:?}",
                ms(w.size_ms),
                ms(w.step_ms),
                ms(w.expires_ms)
            ),
        };
        out.println(format_args!(
            "{:<24} {:<16} {:<16} {:>5}  {:<36} {}",
            r.name, r.key, r.value, r.partitions, r.changelog, window
        ));
    }
}

fn ms(v: i64) -> std::time::Duration {
    std::time::Duration::from_millis(v.max(0) as u64)
}
