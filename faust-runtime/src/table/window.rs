//! Windowed tables: values aggregated per key *and* time window (Faust's
//! `app.Table(..).tumbling(size, expires=..)`, `.hopping(size, step, expires=..)` and
//! `.using_window(SlidingWindow(before, after, expires))`).
//!
//! - **Tumbling and hopping windows** are `[start, start + size)` in milliseconds; tumbling
//!   windows have `step = size`, hopping windows start every `step`. An event at time `t`
//!   belongs to every window that contains `t` (one for tumbling windows, `size / step` for
//!   hopping ones).
//! - **Sliding windows** are Faust's: an event at time `t` has the window `[t - before, t + after]`
//!   of its own (both ends included), which `update` changes and `current()` reads. Two events
//!   of a key at the same time share a window; events at different times have different windows.
//! - **Time.** `update` and `value()` go by the table's relative time: the event's own timestamp
//!   (event time) unless the declaration says `relative_to = "now"` (the wall clock), or the call
//!   is made on a view with another time ([`WindowedTableApi::relative_to_now`],
//!   [`WindowedTableApi::relative_to_stream`], [`WindowedTableApi::relative_to_field`], see
//!   [`WindowTime`]). As in Faust, [`WindowedTableApi::current`] always reads the window of the
//!   event's time, [`WindowedTableApi::now`] the window of the wall clock, and
//!   [`WindowedTableApi::delta`] looks back from the event's time.
//! - The changelog key of a window is Faust's `[key, [start, end]]` in seconds, computed as Faust
//!   computes it (see [`WindowKey`]): `end = start + size - 0.1` for tumbling and hopping windows,
//!   `[t - before, t + after]` for sliding ones. The changelog topic is `compact,delete` with
//!   `retention.ms` = the expiry.
//! - A window closes once the latest time an update of its partition went by reaches
//!   `end + expires`: the table's `on_window_close` callback runs once for it, and it is removed
//!   from the table (a tombstone in the changelog, so a recovery does not bring it back). A late
//!   update whose windows closed already changes nothing.

use super::handle::Table;
use super::runtime::TableState;
use crate::app::App;
use crate::engine::context;
use crate::error::{Error, Result};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

pub use super::window_key::WindowKey;
pub use super::window_time::{WindowTime, WindowedView};

/// The shape of a table's windows; see [`WindowSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Back-to-back windows of `size_ms` (Faust's `TumblingWindow`).
    Tumbling {
        /// Window length, ms.
        size_ms: i64,
    },
    /// Windows of `size_ms` starting every `step_ms` (Faust's `HoppingWindow`).
    Hopping {
        /// Window length, ms.
        size_ms: i64,
        /// Distance between window starts, ms.
        step_ms: i64,
    },
    /// A window `[t - before_ms, t + after_ms]` around each event time `t` (Faust's
    /// `SlidingWindow`).
    Sliding {
        /// How far the window reaches before the event, ms.
        before_ms: i64,
        /// How far the window reaches after the event, ms.
        after_ms: i64,
    },
}

/// The windows of a windowed table (what `#[table(tumbling = ..)]`, `#[table(hopping = ..,
/// step = ..)]` or `#[table(sliding = ..)]` / `#[table(before = .., after = ..)]` declares, with
/// `expires = ..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// The windows' shape.
    pub kind: WindowKind,
    /// How long a window stays open after its end, ms.
    pub expires_ms: i64,
}

impl WindowSpec {
    /// Tumbling windows of `size_ms`, kept `expires_ms` after their end.
    pub const fn tumbling(size_ms: i64, expires_ms: i64) -> Self {
        WindowSpec {
            kind: WindowKind::Tumbling { size_ms },
            expires_ms,
        }
    }

    /// Windows of `size_ms` starting every `step_ms`, kept `expires_ms` after their end.
    pub const fn hopping(size_ms: i64, step_ms: i64, expires_ms: i64) -> Self {
        WindowSpec {
            kind: WindowKind::Hopping { size_ms, step_ms },
            expires_ms,
        }
    }

    /// Sliding windows `[t - before_ms, t + after_ms]` around each event time `t`, kept
    /// `expires_ms` after their end.
    pub const fn sliding(before_ms: i64, after_ms: i64, expires_ms: i64) -> Self {
        WindowSpec {
            kind: WindowKind::Sliding {
                before_ms,
                after_ms,
            },
            expires_ms,
        }
    }

    /// Why these windows cannot work (a length or step not above zero, a negative reach or
    /// expiry), if so.
    pub fn check(&self) -> std::result::Result<(), String> {
        let bad = match self.kind {
            WindowKind::Tumbling { size_ms } if size_ms <= 0 => Some(format!(
                "tumbling window size {size_ms} ms is not above zero"
            )),
            WindowKind::Hopping { size_ms, step_ms } if size_ms <= 0 || step_ms <= 0 => Some(
                format!("hopping window size {size_ms} ms or step {step_ms} ms is not above zero"),
            ),
            WindowKind::Sliding {
                before_ms,
                after_ms,
            } if before_ms < 0 || after_ms < 0 => Some(format!(
                "sliding window before {before_ms} ms or after {after_ms} ms is negative"
            )),
            _ if self.expires_ms < 0 => Some(format!("expiry {} ms is negative", self.expires_ms)),
            _ => None,
        };
        bad.map_or(Ok(()), Err)
    }

    /// Calls `f(start, end)` for every window containing `t`, earliest first (no allocation).
    #[inline]
    pub(crate) fn each_range(&self, t: i64, mut f: impl FnMut(i64, i64)) {
        match self.kind {
            WindowKind::Tumbling { size_ms } => {
                let start = t.div_euclid(size_ms) * size_ms;
                f(start, start + size_ms)
            }
            WindowKind::Hopping { size_ms, step_ms } => {
                let last = t.div_euclid(step_ms) * step_ms;
                // The earliest start still above `t - size`.
                let mut start = last - (last - t + size_ms - 1).div_euclid(step_ms) * step_ms;
                while start <= last {
                    f(start, start + size_ms);
                    start += step_ms;
                }
            }
            WindowKind::Sliding {
                before_ms,
                after_ms,
            } => f(t - before_ms, t + after_ms),
        }
    }

    /// Every window containing `t`, earliest first: `(start, end)` in ms, `end` exclusive for
    /// tumbling and hopping windows, included for sliding ones (Faust's `ranges`).
    pub fn ranges(&self, t: i64) -> Vec<(i64, i64)> {
        let n = match self.kind {
            WindowKind::Hopping { size_ms, step_ms } => (size_ms / step_ms).max(1) as usize,
            _ => 1,
        };
        let mut out = Vec::with_capacity(n);
        self.each_range(t, |s, e| out.push((s, e)));
        out
    }

    /// The latest window containing `t` (Faust's `current`); for sliding windows, the window
    /// of an event at `t`.
    pub fn current(&self, t: i64) -> (i64, i64) {
        match self.kind {
            WindowKind::Tumbling { size_ms } => {
                let start = t.div_euclid(size_ms) * size_ms;
                (start, start + size_ms)
            }
            WindowKind::Hopping { size_ms, step_ms } => {
                let start = t.div_euclid(step_ms) * step_ms;
                (start, start + size_ms)
            }
            WindowKind::Sliding {
                before_ms,
                after_ms,
            } => (t - before_ms, t + after_ms),
        }
    }

    /// The changelog key of window `(start, end)` (as [`WindowSpec::ranges`] gives it) of
    /// `key`, its bounds computed as Faust computes them.
    pub fn key<K>(&self, key: K, (start, _): (i64, i64)) -> WindowKey<K> {
        let secs = |ms: i64| ms as f64 / 1000.0;
        match self.kind {
            WindowKind::Tumbling { size_ms } | WindowKind::Hopping { size_ms, .. } => {
                // Faust's `WindowRange_from_start`: a tenth of a second before the next window.
                let start = secs(start);
                WindowKey {
                    key,
                    start,
                    end: start + secs(size_ms) - 0.1,
                }
            }
            WindowKind::Sliding {
                before_ms,
                after_ms,
            } => {
                // `(timestamp - before, timestamp + after)` from the event's time in seconds.
                let t = secs(start + before_ms);
                WindowKey {
                    key,
                    start: t - secs(before_ms),
                    end: t + secs(after_ms),
                }
            }
        }
    }

    /// The window `(start, end)` in ms of a changelog key (the inverse of [`WindowSpec::key`]).
    pub fn window_of<K>(&self, key: &WindowKey<K>) -> (i64, i64) {
        let ms = |s: f64| (s * 1000.0).round() as i64;
        match self.kind {
            WindowKind::Tumbling { size_ms } | WindowKind::Hopping { size_ms, .. } => {
                let start = ms(key.start);
                (start, start + size_ms)
            }
            WindowKind::Sliding { .. } => (ms(key.start), ms(key.end)),
        }
    }

    /// When window `(start, end)` closes: `end + expires`.
    #[inline]
    pub fn closes_at(&self, (_, end): (i64, i64)) -> i64 {
        end.saturating_add(self.expires_ms)
    }
}

/// A windowed table declared with `#[table(.., tumbling = ..)]` (or `hopping`, `sliding`).
pub trait WindowedTable: Table {
    /// The windows.
    fn __window() -> WindowSpec;
    /// The time `update` and `value()` go by (`#[table(relative_to = ..)]`).
    fn __relative_to() -> WindowTime {
        WindowTime::Stream
    }
    /// Called once for each window that closes, with its key, `(start, end)` in ms and value.
    fn __on_window_close(_key: &Self::Key, _window: (i64, i64), _value: &Self::Value) {}
}

/// One open window of a windowed table: key, `(start, end)` in ms, value.
pub type WindowItem<T> = (<T as Table>::Key, (i64, i64), <T as Table>::Value);

type State<T> = TableState<WindowKey<<T as Table>::Key>, <T as Table>::Value>;

fn state<T: WindowedTable>() -> Result<(App, Arc<State<T>>)> {
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

/// The partition of the event being processed.
fn partition<T: WindowedTable>(what: &str) -> Result<i32> {
    context::partition().ok_or_else(|| {
        Error::state(format!(
            "table '{}': {what} outside an agent's event: a table lives in the partitions of the events \
             that update it, so read and write it from an agent while it processes an event",
            T::__spec().name
        ))
    })
}

/// `update` at time `t`: see [`WindowedTableApi::update`].
pub(crate) fn update_at<T: WindowedTable>(
    key: T::Key,
    time: WindowTime,
    mut f: impl FnMut(&mut T::Value),
) -> Result<()> {
    let p = partition::<T>("update")?;
    let t = time.millis();
    let (app, s) = state::<T>()?;
    let w = T::__window();
    // Closing goes by the latest time of the partition: a late update does not reopen a
    // window that closed already.
    let latest = s.advance(p, t);
    let first_close = s.with_part(p, |part| {
        let mut first_close = None;
        w.each_range(t, |start, end| {
            let closes = w.closes_at((start, end));
            if closes <= latest {
                return;
            }
            let k = w.key(key.clone(), (start, end));
            match part.map.get_mut(&k) {
                Some(v) => f(v),
                None => f(part.map.entry(k.clone()).or_insert_with(T::__default)),
            }
            part.touch_owned(k);
            first_close.get_or_insert(closes);
        });
        first_close
    })?;
    if let Some(at) = first_close {
        s.note_expiry(p, at);
    }
    super::handle::sensed(&app, |x| {
        x.on_table_get(T::__spec().name);
        x.on_table_set(T::__spec().name);
    });
    close_expired::<T>(&s, p, latest)
}

/// A window's `(start, end)` in ms.
type ClosedWindow = (i64, i64);

/// Closes the windows of partition `p` that expired by time `t`.
fn close_expired<T: WindowedTable>(s: &State<T>, p: i32, t: i64) -> Result<()> {
    if !s.expiry_due(p, t) {
        return Ok(());
    }
    let w = T::__window();
    let (closed, next) = s.with_part(p, |part| {
        let mut closed: Vec<(ClosedWindow, WindowKey<T::Key>, T::Value)> = Vec::new();
        let mut next = i64::MAX;
        part.map.retain(|k, v| {
            let window = w.window_of(k);
            let closes = w.closes_at(window);
            if closes <= t {
                closed.push((window, k.clone(), v.clone()));
                false
            } else {
                next = next.min(closes);
                true
            }
        });
        // A tombstone for each: a recovery does not bring a closed window back.
        for (_, k, _) in &closed {
            part.touch(k);
        }
        (closed, next)
    })?;
    s.set_expiry(p, next);
    let mut closed = closed;
    closed.sort_by_key(|(window, _, _)| *window);
    for (window, k, v) in closed {
        T::__on_window_close(&k.key, window, &v);
    }
    Ok(())
}

/// The value of `key` in the window [`WindowSpec::current`] gives for time `t`.
pub(crate) fn value_at<T: WindowedTable>(key: &T::Key, t: i64, what: &str) -> Result<T::Value> {
    let p = partition::<T>(what)?;
    let (app, s) = state::<T>()?;
    let w = T::__window();
    let k = w.key(key.clone(), w.current(t));
    let v = s.with_partition(p, |m| m.get(&k).cloned())?;
    super::handle::sensed(&app, |x| x.on_table_get(T::__spec().name));
    Ok(v.unwrap_or_else(T::__default))
}

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

    /// Changes the value of `key` in every window containing the table's relative time (the
    /// event's time unless the declaration says `relative_to = "now"`), starting from the
    /// default, stores the results, and closes the windows of this partition that expired.
    /// Faust's `table[key] += 1` on a windowed table.
    pub fn update(&self, key: T::Key, f: impl FnMut(&mut T::Value)) -> Result<()> {
        update_at::<T>(key, T::__relative_to(), f)
    }

    /// The value of `key` in the window of the event's time (Faust's `.current()`).
    pub fn current(&self, key: &T::Key) -> Result<T::Value> {
        value_at::<T>(key, WindowTime::Stream.millis(), "current")
    }

    /// The value of `key` in the window of the table's relative time: the event's time unless
    /// the declaration says `relative_to = "now"` (Faust's `.value()`).
    pub fn value(&self, key: &T::Key) -> Result<T::Value> {
        value_at::<T>(key, T::__relative_to().millis(), "value")
    }

    /// The value of `key` in the window of the wall-clock time (Faust's `.now()`).
    pub fn now(&self, key: &T::Key) -> Result<T::Value> {
        value_at::<T>(key, WindowTime::Now.millis(), "now")
    }

    /// The value of `key` in the window of the event's time minus `d` (Faust's `.delta(d)`).
    pub fn delta(&self, key: &T::Key, d: Duration) -> Result<T::Value> {
        let back = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        value_at::<T>(
            key,
            WindowTime::Stream.millis().saturating_sub(back),
            "delta",
        )
    }

    /// A view of the table whose `update` and `value()` go by `time` (Faust's
    /// `.relative_to(..)`).
    pub fn relative_to(&self, time: impl Into<WindowTime>) -> WindowedView<T> {
        WindowedView::new(time.into())
    }

    /// A view whose `update` and `value()` go by the wall clock (Faust's
    /// `.relative_to_now()`).
    pub fn relative_to_now(&self) -> WindowedView<T> {
        self.relative_to(WindowTime::Now)
    }

    /// A view whose `update` and `value()` go by the event's time (Faust's
    /// `.relative_to_stream()`; the default unless the declaration says otherwise).
    pub fn relative_to_stream(&self) -> WindowedView<T> {
        self.relative_to(WindowTime::Stream)
    }

    /// A view whose `update` and `value()` go by `t_ms` (ms since the epoch), typically a
    /// timestamp field of the event's value (Faust's `.relative_to_field(Model.field)`).
    pub fn relative_to_field(&self, t_ms: i64) -> WindowedView<T> {
        self.relative_to(WindowTime::At(t_ms))
    }

    /// Every open window in the partitions active on this worker: key, `(start, end)` in ms,
    /// value.
    pub fn items(&self) -> Result<Vec<WindowItem<T>>> {
        let (_, s) = state::<T>()?;
        let w = T::__window();
        let mut out = Vec::new();
        s.each_partition(|m| {
            out.extend(
                m.iter()
                    .map(|(k, v)| (k.key.clone(), w.window_of(k), v.clone())),
            )
        });
        out.sort_by_key(|(_, w, _)| *w);
        Ok(out)
    }

    /// Number of open windows (over all keys) in the partitions active on this worker.
    pub fn len(&self) -> Result<usize> {
        let (_, s) = state::<T>()?;
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
    T::__window()
        .check()
        .map_err(|e| Error::state(format!("table '{}': {e}", spec.name)))?;
    let store = super::open_store(app, spec, partitions)?;
    Ok(Arc::new(State::<T>::new(
        spec.name, changelog, partitions, store,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<K: serde::Serialize>(k: &WindowKey<K>) -> String {
        let s = crate::codec::Serializer::resolve("json").unwrap();
        String::from_utf8(s.dumps(k).unwrap()).unwrap()
    }

    #[test]
    fn tumbling_hopping_and_sliding_ranges() {
        let t = WindowSpec::tumbling(10_000, 60_000);
        assert_eq!(t.ranges(25_000), vec![(20_000, 30_000)]);
        assert_eq!(t.ranges(30_000), vec![(30_000, 40_000)]);
        assert_eq!(t.ranges(-1), vec![(-10_000, 0)]);
        let h = WindowSpec::hopping(10_000, 5_000, 60_000);
        assert_eq!(h.ranges(12_000), vec![(5_000, 15_000), (10_000, 20_000)]);
        assert_eq!(h.current(12_000), (10_000, 20_000));
        assert_eq!(h.ranges(10_000), vec![(5_000, 15_000), (10_000, 20_000)]);
        let h3 = WindowSpec::hopping(9_000, 3_000, 0);
        assert_eq!(
            h3.ranges(7_500),
            vec![(0, 9_000), (3_000, 12_000), (6_000, 15_000)]
        );
        let s = WindowSpec::sliding(10_000, 5_000, 60_000);
        assert_eq!(s.ranges(12_000), vec![(2_000, 17_000)]);
        assert_eq!(s.current(12_000), (2_000, 17_000));
        assert_eq!(s.closes_at(s.current(12_000)), 77_000);
    }

    #[test]
    fn hopping_ranges_are_every_window_containing_the_time() {
        for (size, step) in [(10, 5), (9, 3), (10, 10), (10, 4), (7, 7), (10, 3)] {
            let w = WindowSpec::hopping(size, step, 0);
            for t in -40..40 {
                // Every start on the step grid whose window holds `t`.
                let want: Vec<(i64, i64)> = (-100..100)
                    .map(|k| k * step)
                    .filter(|s| *s <= t && t < s + size)
                    .map(|s| (s, s + size))
                    .collect();
                assert_eq!(w.ranges(t), want, "size {size} step {step} t {t}");
                assert_eq!(Some(&w.current(t)), want.last());
            }
        }
    }

    #[test]
    fn bad_windows_are_named() {
        assert!(WindowSpec::tumbling(0, 0)
            .check()
            .unwrap_err()
            .contains("size 0 ms"));
        assert!(WindowSpec::hopping(10, 0, 0)
            .check()
            .unwrap_err()
            .contains("step 0 ms"));
        assert!(WindowSpec::sliding(-1, 0, 0)
            .check()
            .unwrap_err()
            .contains("negative"));
        assert!(WindowSpec::sliding(0, 10, -5)
            .check()
            .unwrap_err()
            .contains("expiry"));
        assert_eq!(WindowSpec::sliding(0, 10, 5).check(), Ok(()));
    }

    #[test]
    fn tumbling_window_keys_are_written_as_faust_writes_them() {
        let w = WindowSpec::tumbling(10_000, 0);
        let k = w.key("apple".to_string(), (1_700_000_000_000, 1_700_000_010_000));
        let s = crate::codec::Serializer::resolve("json").unwrap();
        let bytes = s.dumps(&k).unwrap();
        // Python: json.dumps(["apple", [1700000000.0, 1700000000.0 + 10.0 - 0.1]])
        assert_eq!(json(&k), "[\"apple\",[1700000000.0,1700000009.9]]");
        let back = s.loads::<WindowKey<String>>(&bytes).unwrap();
        assert_eq!(back, k);
        assert_eq!(w.window_of(&back), (1_700_000_000_000, 1_700_000_010_000));
    }

    #[test]
    fn sliding_window_keys_are_written_as_faust_writes_them() {
        // Faust: `(t - before, t + after)` with `t = ms / 1000.0`; Python's json.dumps of
        // `[k, [t - before, t + after]]` gives the expected strings.
        let w = WindowSpec::sliding(10_000, 10_000, 0);
        let t = 1_700_000_001_234;
        let k = w.key("apple".to_string(), w.current(t));
        assert_eq!(json(&k), "[\"apple\",[1699999991.234,1700000011.234]]");
        assert_eq!(w.window_of(&k), (t - 10_000, t + 10_000));
        // A float sum that is not the nearest float to the ms value: written as Faust writes
        // it (1779191672.636 + 0.1 = 1779191672.7359998 in Python), not as 1779191672.736.
        let w = WindowSpec::sliding(10_000, 100, 0);
        let t = 1_779_191_672_636;
        let k = w.key("a".to_string(), w.current(t));
        assert_eq!(json(&k), "[\"a\",[1779191662.636,1779191672.7359998]]");
        assert_eq!(w.window_of(&k), (t - 10_000, t + 100));
        // Read back, the key is the same float for float (so its tombstone replaces it).
        let s = crate::codec::Serializer::resolve("json").unwrap();
        let back: WindowKey<String> = s.loads(json(&k).as_bytes()).unwrap();
        assert_eq!(back, k);
        assert_eq!(json(&back), json(&k));
    }
}
