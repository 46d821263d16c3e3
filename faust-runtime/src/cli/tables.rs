//! `tables`: the app's tables, as declared (name, key and value types, partitions, changelog
//! topic, windows).

use super::scrub::Scrubber;
use crate::app::App;
use crate::error::Result;
use crate::table::{WindowKind, WindowSpec};
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

/// The windows of a windowed table, in milliseconds: `size_ms` and `step_ms` for tumbling and
/// hopping windows, `before_ms` and `after_ms` for sliding ones.
#[derive(Serialize)]
struct WindowRow {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_ms: Option<i64>,
    expires_ms: i64,
}

impl From<WindowSpec> for WindowRow {
    fn from(w: WindowSpec) -> Self {
        let row = |kind, size, step, before, after| WindowRow {
            kind,
            size_ms: size,
            step_ms: step,
            before_ms: before,
            after_ms: after,
            expires_ms: w.expires_ms,
        };
        match w.kind {
            WindowKind::Tumbling { size_ms } => {
                row("tumbling", Some(size_ms), Some(size_ms), None, None)
            }
            WindowKind::Hopping { size_ms, step_ms } => {
                row("hopping", Some(size_ms), Some(step_ms), None, None)
            }
            WindowKind::Sliding {
                before_ms,
                after_ms,
            } => row("sliding", None, None, Some(before_ms), Some(after_ms)),
        }
    }
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
            window: t.window.map(WindowRow::from),
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
            Some(w) => {
                let ms = |v: Option<i64>| ms(v.unwrap_or(0));
                match w.kind {
                    "tumbling" => format!("tumbling {:?}", ms(w.size_ms)),
                    "hopping" => format!("hopping {:?} every {:?}", ms(w.size_ms), ms(w.step_ms)),
                    _ => format!(
                        "sliding {:?} before, {:?} after",
                        ms(w.before_ms),
                        ms(w.after_ms)
                    ),
                }
            }
        };
        let window = match &r.window {
            Some(w) => format!("{window}, expires {:?}", ms(w.expires_ms)),
            None => window,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rows_name_each_kind_with_its_own_lengths() {
        let json = |w| serde_json::to_value(WindowRow::from(w)).unwrap();
        assert_eq!(
            json(WindowSpec::tumbling(60_000, 3_600_000)),
            serde_json::json!({"kind": "tumbling", "size_ms": 60_000, "step_ms": 60_000, "expires_ms": 3_600_000})
        );
        assert_eq!(
            json(WindowSpec::hopping(600_000, 60_000, 0)),
            serde_json::json!({"kind": "hopping", "size_ms": 600_000, "step_ms": 60_000, "expires_ms": 0})
        );
        assert_eq!(
            json(WindowSpec::sliding(10_000, 100, 20_000)),
            serde_json::json!({"kind": "sliding", "before_ms": 10_000, "after_ms": 100, "expires_ms": 20_000})
        );
    }
}
