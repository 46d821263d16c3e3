//! The time a windowed table's `update` and `value()` go by (Faust's `relative_to_now()`,
//! `relative_to_stream()`, `relative_to_field(..)`), and the view of a table with another time
//! than its own.

use super::window::{update_at, value_at, WindowedTable};
use crate::engine::context;
use crate::error::Result;
use std::marker::PhantomData;
use std::time::{SystemTime, UNIX_EPOCH};

/// What time picks the windows of a windowed table's `update` and `value()`.
///
/// A table goes by [`WindowTime::Stream`] unless its declaration says `relative_to = "now"`;
/// [`super::WindowedTableApi::relative_to`] gives a view going by another time for some calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowTime {
    /// The timestamp of the event being processed (event time; Faust's
    /// `relative_to_stream()`, the default). An event without a timestamp goes by the wall
    /// clock.
    Stream,
    /// The wall clock at the call (Faust's `relative_to_now()`).
    Now,
    /// A given time, ms since the epoch: typically a timestamp field of the event's value
    /// (Faust's `relative_to_field(Model.field)`).
    At(i64),
}

impl WindowTime {
    /// The time this stands for now, ms since the epoch.
    pub fn millis(self) -> i64 {
        match self {
            WindowTime::Stream => context::timestamp().unwrap_or_else(crate::transport::now_millis),
            WindowTime::Now => crate::transport::now_millis(),
            WindowTime::At(t) => t,
        }
    }
}

/// `t` ms since the epoch, as [`WindowTime::At`].
impl From<i64> for WindowTime {
    fn from(t: i64) -> Self {
        WindowTime::At(t)
    }
}

/// A point in time, as [`WindowTime::At`] (ms since the epoch, negative before it).
impl From<SystemTime> for WindowTime {
    fn from(t: SystemTime) -> Self {
        let ms = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        WindowTime::At(ms)
    }
}

/// A windowed table going by another time than its own for `update` and `value()`: what
/// [`super::WindowedTableApi::relative_to_now`], [`super::WindowedTableApi::relative_to_stream`],
/// [`super::WindowedTableApi::relative_to_field`] and [`super::WindowedTableApi::relative_to`]
/// give (Faust's table wrapper after `.relative_to_*()`). `current()`, `now()` and `delta(d)`
/// do not depend on it (as in Faust): call them on the table. For the value `d` before a field's
/// time, take `relative_to_field(t - d).value(..)`.
///
/// ```no_run
/// use faust_runtime::prelude::*;
///
/// #[record]
/// struct Order { account: String, amount: u64, placed_ms: i64 }
///
/// #[topic(name = "orders", key = String, value = Order)]
/// struct Orders;
///
/// /// Spending per account and hour of the order's own time.
/// #[table(name = "spent-per-hour", key = String, value = u64, tumbling = "1h", expires = "1d")]
/// struct SpentPerHour;
///
/// #[agent(Orders)]
/// async fn spending(mut orders: Stream<Orders>) -> Result<()> {
///     while let Some(o) = orders.next().await {
///         let by_placed = SpentPerHour.relative_to_field(o.placed_ms);
///         by_placed.update(o.account.clone(), |n| *n += o.amount)?;
///         let this_hour: u64 = by_placed.value(&o.account)?;
///         tracing::info!(this_hour, "spent");
///     }
///     Ok(())
/// }
/// # faust_runtime::main!(id = "spending");
/// ```
pub struct WindowedView<T> {
    time: WindowTime,
    table: PhantomData<fn() -> T>,
}

impl<T> Clone for WindowedView<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for WindowedView<T> {}

impl<T> std::fmt::Debug for WindowedView<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedView")
            .field("time", &self.time)
            .finish()
    }
}

impl<T: WindowedTable> WindowedView<T> {
    pub(crate) fn new(time: WindowTime) -> Self {
        WindowedView {
            time,
            table: PhantomData,
        }
    }

    /// The time this view goes by.
    pub fn time(&self) -> WindowTime {
        self.time
    }

    /// Like [`super::WindowedTableApi::update`], in the windows containing this view's time.
    /// Closing goes by the latest time an update of the partition went by, whichever view made
    /// it.
    pub fn update(&self, key: T::Key, f: impl FnMut(&mut T::Value)) -> Result<()> {
        update_at::<T>(key, self.time, f)
    }

    /// The value of `key` in the window of this view's time (Faust's `.value()`).
    pub fn value(&self, key: &T::Key) -> Result<T::Value> {
        value_at::<T>(key, self.time.millis(), "value")
    }
}
