//! Windowed tables: values aggregated per key *and* time window (Faust's
//! `app.Table(..).tumbling(size, expires=..)` and `.hopping(size, step, expires=..)`).
//!
//! - A window is `[start, start + size)` in milliseconds; tumbling windows have `step = size`,
//!   hopping windows start every `step`. An event at time `t` belongs to every window that
//!   contains `t` (one for tumbling windows, `size / step` for hopping ones).
//! - Time is the event's own timestamp (event time) unless said otherwise: [`WindowedTableApi::now`]
//!   uses the wall clock, [`WindowedTableApi::delta`] looks back from the event time.
//! - The changelog key of a window is Faust's `[key, [start, end]]` in seconds with
//!   `end = start + size - 0.1`; the changelog topic is `compact,delete` with
//!   `retention.ms` = the expiry.
//! - A window closes once the event time of its partition reaches `end + expires`: the table's
//!   `on_window_close` callback runs once for it, and it is removed from the table (a tombstone in
//!   the changelog, so a recovery does not bring it back). A late event whose windows closed
//!   already changes nothing.

use super::handle::Table;
use super::runtime::TableState;
use crate::app::App;
use crate::engine::context;
use crate::error::{Error, Result};
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// The windows of a windowed table (what `#[table(tumbling = .., hopping = .., step = ..,
/// expires = ..)]` declares).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window length, ms.
    pub size_ms: i64,
    /// Distance between window starts, ms (`size_ms` for tumbling windows).
    pub step_ms: i64,
    /// How long a window stays open after its end, ms.
    pub expires_ms: i64,
}

impl WindowSpec {
    /// Tumbling windows of `size_ms`, kept `expires_ms` after their end.
    pub const fn tumbling(size_ms: i64, expires_ms: i64) -> Self {
        WindowSpec {
            size_ms,
            step_ms: size_ms,
            expires_ms,
        }
    }

    /// Windows of `size_ms` starting every `step_ms`, kept `expires_ms` after their end.
    pub const fn hopping(size_ms: i64, step_ms: i64, expires_ms: i64) -> Self {
        WindowSpec {
            size_ms,
            step_ms,
            expires_ms,
        }
    }

    /// Every window containing `t`, earliest first: `(start, end)` with `end` exclusive.
    pub fn ranges(&self, t: i64) -> Vec<(i64, i64)> {
        let last = t.div_euclid(self.step_ms) * self.step_ms;
        let mut out = Vec::with_capacity((self.size_ms / self.step_ms).max(1) as usize);
        let mut start = last;
        while start > t - self.size_ms {
            out.push((start, start + self.size_ms));
            start -= self.step_ms;
        }
        out.reverse();
        out
    }

    /// The latest window containing `t` (Faust's `current`).
    pub fn current(&self, t: i64) -> (i64, i64) {
        let start = t.div_euclid(self.step_ms) * self.step_ms;
        (start, start + self.size_ms)
    }
}

/// The key of one window of a key: written as Faust writes it, `[key, [start, end]]` in seconds
/// with `end = start + size - 0.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowKey<K> {
    /// The table key.
    pub key: K,
    /// Window start, ms.
    pub start: i64,
    /// Window end (exclusive), ms.
    pub end: i64,
}

impl<K: Serialize> Serialize for WindowKey<K> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let start = self.start as f64 / 1000.0;
        // Faust's closed upper bound: a tenth of a second before the next window.
        let end = (self.end as f64 / 1000.0 * 10.0 - 1.0).round() / 10.0;
        (&self.key, (start, end)).serialize(s)
    }
}

impl<'de, K: Deserialize<'de>> Deserialize<'de> for WindowKey<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (key, (start, end)): (K, (f64, f64)) = Deserialize::deserialize(d)?;
        Ok(WindowKey {
            key,
            start: (start * 1000.0).round() as i64,
            end: ((end + 0.1) * 1000.0).round() as i64,
        })
    }
}

/// A windowed table declared with `#[table(.., tumbling = ..)]` (or `hopping`).
pub trait WindowedTable: Table {
    /// The windows.
    fn __window() -> WindowSpec;
    /// Called once for each window that closes, with its key, `(start, end)` in ms and value.
    fn __on_window_close(_key: &Self::Key, _window: (i64, i64), _value: &Self::Value) {}
}

/// One open window of a windowed table: key, `(start, end)` in ms, value.
pub type WindowItem<T> = (<T as Table>::Key, (i64, i64), <T as Table>::Value);

type State<T> = TableState<WindowKey<<T as Table>::Key>, <T as Table>::Value>;

/// What a windowed table handle does: see the module docs.
pub struct WindowedTableApi<T>(PhantomData<fn() -> T>);

impl<T> WindowedTableApi<T> {
    /// The handle of the current app's table.
    pub const UNBOUND: Self = WindowedTableApi(PhantomData);
}

impl<T: WindowedTable> WindowedTableApi<T> {
    /// The table name.
    pub fn name(&self) -> &'static str {
        T::__spec().name
    }

    fn state(&self) -> Result<(App, Arc<State<T>>)> {
        let app = App::current()?;
        let state = app
            .core_ref()
            .tables
            .typed::<WindowKey<T::Key>, T::Value>(T::__spec().name)
            .ok_or_else(|| {
                Error::state(format!(
                    "table '{}' is not part of app '{}' (not started yet, or its module is not included)",
                    T::__spec().name,
                    app.id()
                ))
            })?;
        Ok((app, state))
    }

    fn event(&self, what: &str) -> Result<(i32, i64)> {
        let p = context::partition().ok_or_else(|| {
            Error::state(format!(
                "table '{}': {what} outside an agent's event: a table lives in the partitions of the events \
                 that update it, so read and write it from an agent while it processes an event",
                T::__spec().name
            ))
        })?;
        let t = context::timestamp().unwrap_or_else(crate::transport::now_millis);
        Ok((p, t))
    }

    /// Changes the value of `key` in every window containing the event's time (starting from the
    /// default), stores the results, and closes the windows of this partition that expired.
    /// Faust's `table[key] += 1` on a windowed table.
    pub fn update(&self, key: T::Key, mut f: impl FnMut(&mut T::Value)) -> Result<()> {
        let (p, t) = self.event("update")?;
        let (app, s) = self.state()?;
        let w = T::__window();
        // Closing goes by the latest time of the partition: a late event does not reopen a
        // window that closed already.
        let latest = s.advance(p, t);
        let first_end = s.with_part(p, |part| {
            let mut first_end = None;
            for (start, end) in w.ranges(t) {
                if end + w.expires_ms <= latest {
                    continue;
                }
                let k = WindowKey {
                    key: key.clone(),
                    start,
                    end,
                };
                match part.map.get_mut(&k) {
                    Some(v) => f(v),
                    None => f(part.map.entry(k.clone()).or_insert_with(T::__default)),
                }
                part.touch_owned(k);
                first_end.get_or_insert(end);
            }
            first_end
        })?;
        if let Some(end) = first_end {
            s.note_expiry(p, end + w.expires_ms);
        }
        super::handle::sensed(&app, |x| {
            x.on_table_get(T::__spec().name);
            x.on_table_set(T::__spec().name);
        });
        self.close_expired(&s, p, latest)
    }

    /// Closes the windows of partition `p` that expired by time `t`.
    fn close_expired(&self, s: &State<T>, p: i32, t: i64) -> Result<()> {
        if !s.expiry_due(p, t) {
            return Ok(());
        }
        let expires = T::__window().expires_ms;
        let (closed, next) = s.with_part(p, |part| {
            let mut closed: Vec<(WindowKey<T::Key>, T::Value)> = Vec::new();
            let mut next = i64::MAX;
            part.map.retain(|k, v| {
                if k.end + expires <= t {
                    closed.push((k.clone(), v.clone()));
                    false
                } else {
                    next = next.min(k.end + expires);
                    true
                }
            });
            // A tombstone for each: a recovery does not bring a closed window back.
            for (k, _) in &closed {
                part.touch(k);
            }
            (closed, next)
        })?;
        s.set_expiry(p, next);
        let mut closed = closed;
        closed.sort_by_key(|(k, _)| (k.start, k.end));
        for (k, v) in closed {
            T::__on_window_close(&k.key, (k.start, k.end), &v);
        }
        Ok(())
    }

    fn at(&self, key: &T::Key, t: i64, what: &str) -> Result<T::Value> {
        let (p, _) = self.event(what)?;
        let (app, s) = self.state()?;
        let (start, end) = T::__window().current(t);
        let k = WindowKey {
            key: key.clone(),
            start,
            end,
        };
        let v = s.with_partition(p, |m| m.get(&k).cloned())?;
        super::handle::sensed(&app, |x| x.on_table_get(T::__spec().name));
        Ok(v.unwrap_or_else(T::__default))
    }

    /// The value of `key` in the window of the event's time (Faust's `.current()`).
    pub fn current(&self, key: &T::Key) -> Result<T::Value> {
        let (_, t) = self.event("current")?;
        self.at(key, t, "current")
    }

    /// The value of `key` in the window relative to the table's default time, the event's
    /// (Faust's `.value()`).
    pub fn value(&self, key: &T::Key) -> Result<T::Value> {
        self.current(key)
    }

    /// The value of `key` in the window of the wall-clock time (Faust's `.now()`).
    pub fn now(&self, key: &T::Key) -> Result<T::Value> {
        self.at(key, crate::transport::now_millis(), "now")
    }

    /// The value of `key` in the window of the event's time minus `d` (Faust's `.delta(d)`).
    pub fn delta(&self, key: &T::Key, d: Duration) -> Result<T::Value> {
        let (_, t) = self.event("delta")?;
        self.at(key, t - d.as_millis() as i64, "delta")
    }

    /// Every open window in the partitions active on this worker: key, `(start, end)` in ms,
    /// value.
    pub fn items(&self) -> Result<Vec<WindowItem<T>>> {
        let (_, s) = self.state()?;
        let mut out = Vec::new();
        s.each_partition(|m| {
            out.extend(
                m.iter()
                    .map(|(k, v)| (k.key.clone(), (k.start, k.end), v.clone())),
            )
        });
        out.sort_by_key(|(_, w, _)| *w);
        Ok(out)
    }

    /// Number of open windows (over all keys) in the partitions active on this worker.
    pub fn len(&self) -> Result<usize> {
        let (_, s) = self.state()?;
        let mut n = 0;
        s.each_partition(|m| n += m.len());
        Ok(n)
    }

    /// Whether no window is open in the partitions active on this worker.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Makes the typed state of windowed table `T` (what `#[table(.., tumbling = ..)]` puts in its
/// spec).
pub fn make_windowed_table<T: WindowedTable>(
    app: &App,
    spec: &'static super::TableSpec,
    partitions: i32,
    changelog: &'static str,
) -> Result<Arc<dyn super::runtime::TableRuntime>> {
    let store = super::open_store(app, spec, partitions)?;
    Ok(Arc::new(State::<T>::new(
        spec.name, changelog, partitions, store,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_and_hopping_ranges() {
        let t = WindowSpec::tumbling(10_000, 60_000);
        assert_eq!(t.ranges(25_000), vec![(20_000, 30_000)]);
        assert_eq!(t.ranges(30_000), vec![(30_000, 40_000)]);
        let h = WindowSpec::hopping(10_000, 5_000, 60_000);
        assert_eq!(h.ranges(12_000), vec![(5_000, 15_000), (10_000, 20_000)]);
        assert_eq!(h.current(12_000), (10_000, 20_000));
        assert_eq!(h.ranges(10_000), vec![(5_000, 15_000), (10_000, 20_000)]);
    }

    #[test]
    fn window_keys_are_written_as_faust_writes_them() {
        let k = WindowKey {
            key: "apple".to_string(),
            start: 1_700_000_000_000,
            end: 1_700_000_010_000,
        };
        let s = crate::codec::Serializer::resolve("json").unwrap();
        let bytes = s.dumps(&k).unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "[\"apple\",[1700000000.0,1700000009.9]]"
        );
        assert_eq!(s.loads::<WindowKey<String>>(&bytes).unwrap(), k);
    }
}
