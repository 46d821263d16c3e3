//! Sliding windows and the time windowed tables go by (event time, the wall clock, a time from
//! the value), on the embedded broker: aggregates for fixed time sequences, windows closing once
//! by the latest time of their partition, Faust's changelog keys (written, and recovered from a
//! changelog Faust wrote).

#[macro_use]
mod common;
#[macro_use]
mod table_support;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::transport::now_millis;
use faust_runtime::MemoryBroker;
use std::sync::Arc;
use std::time::Duration;
use table_support::*;

const WAIT: Duration = Duration::from_secs(20);

/// (key, window, value) of windows.
type Windows = std::sync::Mutex<Vec<(String, (i64, i64), u64)>>;

/// A time in 2026 whose windows' bounds in seconds are not all the nearest floats to their
/// milliseconds: `B / 1000.0 + 0.1` is `1779191672.7359998` in Python (and in Faust's keys).
const B: i64 = 1_779_191_672_636;

fn app(broker: &MemoryBroker, id: &str, module: &str) -> App {
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + module)
        .build()
        .unwrap()
}

async fn send<T: faust_runtime::Topic>(
    topic: &faust_runtime::TopicApi<T>,
    k: T::Key,
    v: T::Value,
    t: i64,
) {
    topic
        .record(v)
        .key(k)
        .timestamp(t)
        .send_and_wait()
        .await
        .unwrap();
}

mod sliding {
    use faust_runtime::prelude::*;
    use std::sync::Mutex;

    /// (event time, current(), delta(3s)) after each update.
    pub static SEEN: Mutex<Vec<(i64, u64, u64)>> = Mutex::new(Vec::new());
    /// Each closed window: (key, window, value).
    pub static CLOSED: super::Windows = Mutex::new(Vec::new());

    #[topic(name = "win-sliding", key = String, value = String, partitions = 1)]
    pub struct Events;

    pub fn closed(key: &str, window: (i64, i64), value: &u64) {
        CLOSED
            .lock()
            .unwrap()
            .push((key.to_string(), window, *value));
    }

    /// Ten seconds before each event and a tenth after it.
    #[table(name = "around", key = String, value = u64, partitions = 1,
            before = "10s", after = "100ms", expires = "20s", on_window_close = closed)]
    pub struct Around;

    #[agent(Events)]
    async fn count(mut events: faust_runtime::Events<Events>) -> Result<()> {
        while let Some(ev) = events.next().await {
            let key = ev.key.clone().unwrap_or_default();
            Around.update(key.clone(), |n| *n += 1)?;
            let now = Around.current(&key)?;
            assert_eq!(Around.value(&key)?, now);
            let before = Around.delta(&key, std::time::Duration::from_secs(3))?;
            SEEN.lock().unwrap().push((ev.timestamp, now, before));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_windows_aggregate_a_fixed_event_time_sequence_and_close_once() {
    let broker = MemoryBroker::new();
    let app = app(&broker, &unique("win-sliding"), "::sliding");
    app.start().await.unwrap();
    let topic = sliding::Events.on(&app);
    let seen = |n: usize| eventually(WAIT, move || sliding::SEEN.lock().unwrap().len() == n);
    for t in [B, B, B + 3_000] {
        send(&topic, "a".to_string(), "x".to_string(), t).await;
    }
    assert!(seen(3).await);
    // Each event time has its own window; two events at the same time share it, and the
    // window 3 s back is the first one's.
    assert_eq!(
        *sliding::SEEN.lock().unwrap(),
        vec![(B, 1, 0), (B, 2, 0), (B + 3_000, 1, 2)],
        "(time, current, delta 3s)"
    );
    assert!(sliding::CLOSED.lock().unwrap().is_empty());

    // B + 20.1 s: the window of B ends at B + 0.1 s and expires 20 s later; the one of B + 3 s
    // stays open.
    send(&topic, "a".to_string(), "x".to_string(), B + 20_100).await;
    assert!(seen(4).await);
    let a = |s: i64, e: i64, n: u64| ("a".to_string(), (s, e), n);
    assert_eq!(
        *sliding::CLOSED.lock().unwrap(),
        vec![a(B - 10_000, B + 100, 2)]
    );
    // A late event for the closed window changes nothing; B + 23.1 s closes the second window;
    // one more event at that time closes nothing again.
    for t in [B, B + 23_100, B + 23_100] {
        send(&topic, "a".to_string(), "x".to_string(), t).await;
    }
    assert!(seen(7).await);
    assert_eq!(
        sliding::SEEN.lock().unwrap()[3..],
        [
            (B + 20_100, 1, 0),
            (B, 0, 0),
            (B + 23_100, 1, 1),
            (B + 23_100, 2, 1)
        ]
    );
    assert_eq!(
        *sliding::CLOSED.lock().unwrap(),
        vec![a(B - 10_000, B + 100, 2), a(B - 7_000, B + 3_100, 1)]
    );

    // The changelog keys are Faust's `[key, [t - before, t + after]]` with `t` the event time in
    // seconds, as Python computes them; the closed windows end with a tombstone.
    let changelog = format!("{}-around-changelog", app.id());
    app.stop().await.unwrap();
    let records = read_all(app.transport().as_ref(), &changelog, 1).await;
    let of = |key: &[u8]| -> Vec<Option<Vec<u8>>> {
        records
            .iter()
            .filter(|r| r.key == key)
            .map(|r| r.value.clone())
            .collect()
    };
    // Python: t = 1779191672636 / 1000.0; json.dumps(["a", [t - 10.0, t + 0.1]])
    let first = of(br#"["a",[1779191662.636,1779191672.7359998]]"#);
    assert_eq!(first.last(), Some(&None), "{records:?}");
    assert!(first[..first.len() - 1]
        .iter()
        .all(|v| v.as_deref() == Some(b"1") || v.as_deref() == Some(b"2")));
    // Writes of a key within a commit interval may be coalesced: each key's records end with
    // its last value. t = 1779191675636 / 1000.0: the second window, closed.
    let second = of(br#"["a",[1779191665.636,1779191675.7359998]]"#);
    assert_eq!(second.last(), Some(&None), "{records:?}");
    assert!(second[..second.len() - 1]
        .iter()
        .all(|v| v.as_deref() == Some(b"1")));
    // The windows of B + 20.1 s and B + 23.1 s are still open.
    let third = of(br#"["a",[1779191682.736,1779191692.836]]"#);
    assert_eq!(third, vec![Some(b"1".to_vec())], "{records:?}");
    let fourth = of(br#"["a",[1779191685.736,1779191695.836]]"#);
    assert_eq!(fourth.last(), Some(&Some(b"2".to_vec())), "{records:?}");
    // And no other key.
    assert_eq!(
        records.len(),
        first.len() + second.len() + third.len() + fourth.len()
    );
}

mod recovered {
    use faust_runtime::prelude::*;
    use std::sync::Mutex;

    /// current() after each update.
    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    /// Each closed window.
    pub static CLOSED: super::Windows = Mutex::new(Vec::new());

    #[topic(name = "win-recovered", key = String, value = String, partitions = 1)]
    pub struct Events;

    pub fn closed(key: &str, window: (i64, i64), value: &u64) {
        CLOSED
            .lock()
            .unwrap()
            .push((key.to_string(), window, *value));
    }

    /// Faust's `SlidingWindow(10, 0.1, 20)`.
    #[table(name = "around", key = String, value = u64, partitions = 1,
            before = "10s", after = "100ms", expires = "20s", on_window_close = closed)]
    pub struct Around;

    #[agent(Events)]
    async fn count(mut events: faust_runtime::Events<Events>) -> Result<()> {
        while let Some(ev) = events.next().await {
            let key = ev.key.clone().unwrap_or_default();
            Around.update(key.clone(), |n| *n += 1)?;
            SEEN.lock().unwrap().push(Around.current(&key)?);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sliding_window_faust_wrote_recovers_and_its_tombstone_replaces_faust_s_record() {
    use faust_runtime::transport::{NewTopic, OutgoingRecord, Transport};
    let broker = MemoryBroker::new();
    let id = unique("win-recovered");
    let changelog = format!("{id}-around-changelog");
    broker
        .create_topic(&NewTopic {
            name: changelog.clone(),
            partitions: 1,
            replication_factor: 1,
            config: [("cleanup.policy".to_string(), "compact,delete".to_string())].into(),
        })
        .await
        .unwrap();
    // What Faust writes for `around['apple'] += 3` at event time B (fixture
    // `key.window.sliding.0` of faust-0.15.3-writes.txt).
    let faust_key = br#"["apple",[1779191662.636,1779191672.7359998]]"#;
    let mut rec = OutgoingRecord::new(
        changelog.clone(),
        Some(faust_key.to_vec()),
        Some(b"3".to_vec()),
    );
    rec.partition = Some(0);
    broker.send(rec).await.unwrap().await.unwrap();

    let app = app(&broker, &id, "::recovered");
    app.start().await.unwrap();
    let topic = recovered::Events.on(&app);
    // The same window: Faust's 3 and one more.
    send(&topic, "apple".to_string(), "x".to_string(), B).await;
    assert!(eventually(WAIT, || recovered::SEEN.lock().unwrap().len() == 1).await);
    assert_eq!(*recovered::SEEN.lock().unwrap(), vec![4]);
    // B + 20.1 s closes it.
    send(&topic, "apple".to_string(), "x".to_string(), B + 20_100).await;
    assert!(eventually(WAIT, || recovered::SEEN.lock().unwrap().len() == 2).await);
    assert_eq!(
        *recovered::CLOSED.lock().unwrap(),
        vec![("apple".to_string(), (B - 10_000, B + 100), 4)]
    );
    app.stop().await.unwrap();
    // Our records for the window carry Faust's key bytes exactly, the last one a tombstone, so
    // compaction drops Faust's record too.
    let records = read_all(&broker, &changelog, 1).await;
    let of_window: Vec<Option<&[u8]>> = records
        .iter()
        .filter(|r| r.key == faust_key)
        .map(|r| r.value.as_deref())
        .collect();
    assert_eq!(of_window.first(), Some(&Some(&b"3"[..])), "{records:?}");
    assert_eq!(of_window.last(), Some(&None), "{records:?}");
    assert!(of_window.len() >= 2, "{records:?}");
}

mod by_field {
    use faust_runtime::prelude::*;
    use std::sync::Mutex;

    /// (field time, value() through the field's view, current(), value()) after each update.
    pub static SEEN: Mutex<Vec<(i64, u64, u64, u64)>> = Mutex::new(Vec::new());
    /// Each closed window.
    pub static CLOSED: super::Windows = Mutex::new(Vec::new());
    /// The open windows after the last update.
    pub static OPEN: super::Windows = Mutex::new(Vec::new());

    /// The value is the time the table goes by (ms), e.g. a "placed at" field.
    #[topic(name = "win-field", key = String, value = i64, partitions = 1)]
    pub struct Placed;

    pub fn closed(key: &str, window: (i64, i64), value: &u64) {
        CLOSED
            .lock()
            .unwrap()
            .push((key.to_string(), window, *value));
    }

    #[table(name = "per-10s-placed", key = String, value = u64, partitions = 1,
            tumbling = "10s", expires = "10s", on_window_close = closed)]
    pub struct PerTenPlaced;

    #[agent(Placed)]
    async fn count(mut events: faust_runtime::Events<Placed>) -> Result<()> {
        while let Some(ev) = events.next().await {
            let key = ev.key.clone().unwrap_or_default();
            let placed = PerTenPlaced.relative_to_field(ev.value);
            assert_eq!(
                placed.time(),
                faust_runtime::table::WindowTime::At(ev.value)
            );
            placed.update(key.clone(), |n| *n += 1)?;
            SEEN.lock().unwrap().push((
                ev.value,
                placed.value(&key)?,
                PerTenPlaced.current(&key)?,
                PerTenPlaced.value(&key)?,
            ));
            *OPEN.lock().unwrap() = PerTenPlaced.items()?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_to_field_picks_the_windows_and_closes_them_by_the_field_time() {
    let broker = MemoryBroker::new();
    let app = app(&broker, &unique("win-field"), "::by_field");
    app.start().await.unwrap();
    let topic = by_field::Placed.on(&app);
    // Every record has the same timestamp, far from the field times: were the windows picked
    // or closed by it, no window would hold more than one event, or all would close at once.
    const T: i64 = 10_000_000;
    for placed in [50_000, 55_000, 61_000] {
        send(&topic, "a".to_string(), placed, T).await;
    }
    assert!(eventually(WAIT, || by_field::SEEN.lock().unwrap().len() == 3).await);
    assert_eq!(
        *by_field::SEEN.lock().unwrap(),
        vec![(50_000, 1, 0, 0), (55_000, 2, 0, 0), (61_000, 1, 0, 0)],
        "(field time, value by the field, current, value by the event time)"
    );
    let a = |s: i64, e: i64, n: u64| ("a".to_string(), (s, e), n);
    assert_eq!(
        *by_field::OPEN.lock().unwrap(),
        vec![a(50_000, 60_000, 2), a(60_000, 70_000, 1)]
    );
    assert!(by_field::CLOSED.lock().unwrap().is_empty());
    // Field time 75 s: the window ending at 60 s has expired (60 + 10 <= 75), not the next one.
    send(&topic, "a".to_string(), 75_000, T).await;
    assert!(eventually(WAIT, || by_field::SEEN.lock().unwrap().len() == 4).await);
    assert_eq!(
        *by_field::CLOSED.lock().unwrap(),
        vec![a(50_000, 60_000, 2)]
    );
    assert_eq!(
        *by_field::OPEN.lock().unwrap(),
        vec![a(60_000, 70_000, 1), a(70_000, 80_000, 1)]
    );
    app.stop().await.unwrap();
}

mod by_clock {
    use faust_runtime::prelude::*;
    use faust_runtime::transport::now_millis;
    use std::sync::Mutex;

    /// What one event saw.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Seen {
        /// The wall clock just before the first update and just after the last read.
        pub lo: i64,
        pub hi: i64,
        /// `ByNow`: `value()` (the wall clock), `now()`, `current()` (event time) after the
        /// wall-clock update, then `current()` and the stream view's `value()` after the
        /// event-time update.
        pub by_now: (u64, u64, u64, u64, u64),
        /// `ByStream`: the wall-clock view's `value()`, `now()`, `value()` (event time).
        pub by_stream: (u64, u64, u64),
        pub now_windows: Vec<(String, (i64, i64), u64)>,
        pub stream_windows: Vec<(String, (i64, i64), u64)>,
    }

    pub static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

    #[topic(name = "win-clock", key = String, value = String, partitions = 1)]
    pub struct Clicks;

    /// `update` and `value()` go by the wall clock.
    #[table(name = "per-hour-now", key = String, value = u64, partitions = 1,
            tumbling = "1h", relative_to = "now")]
    pub struct ByNow;

    /// `update` and `value()` go by the event time (said explicitly).
    #[table(name = "per-hour-stream", key = String, value = u64, partitions = 1,
            tumbling = "1h", relative_to = "stream")]
    pub struct ByStream;

    #[agent(Clicks)]
    async fn count(mut events: faust_runtime::Events<Clicks>) -> Result<()> {
        while let Some(ev) = events.next().await {
            let k = ev.key.clone().unwrap_or_default();
            let lo = now_millis();
            ByNow.update(k.clone(), |n| *n += 1)?;
            let (value, now, current) = (ByNow.value(&k)?, ByNow.now(&k)?, ByNow.current(&k)?);
            let stream = ByNow.relative_to_stream();
            stream.update(k.clone(), |n| *n += 10)?;
            let by_now = (value, now, current, ByNow.current(&k)?, stream.value(&k)?);
            let clock = ByStream.relative_to_now();
            clock.update(k.clone(), |n| *n += 1)?;
            let by_stream = (clock.value(&k)?, ByStream.now(&k)?, ByStream.value(&k)?);
            let hi = now_millis();
            SEEN.lock().unwrap().push(Seen {
                lo,
                hi,
                by_now,
                by_stream,
                now_windows: ByNow.items()?,
                stream_windows: ByStream.items()?,
            });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_to_now_goes_by_the_wall_clock_and_relative_to_stream_by_the_event_time() {
    const HOUR: i64 = 3_600_000;
    let broker = MemoryBroker::new();
    let app = app(&broker, &unique("win-clock"), "::by_clock");
    app.start().await.unwrap();
    // The event is two hours old: its window is never the wall clock's.
    let t = now_millis() - 2 * HOUR;
    send(
        &by_clock::Clicks.on(&app),
        "a".to_string(),
        "x".to_string(),
        t,
    )
    .await;
    assert!(eventually(WAIT, || by_clock::SEEN.lock().unwrap().len() == 1).await);
    let seen = by_clock::SEEN.lock().unwrap()[0].clone();
    app.stop().await.unwrap();

    let hour = |ms: i64| ms.div_euclid(HOUR) * HOUR;
    let event_window = (hour(t), hour(t) + HOUR);
    // The wall clock's window is the one of a time between `lo` and `hi`.
    let clock_windows = [hour(seen.lo), hour(seen.hi)];
    let check_clock = |window: &(String, (i64, i64), u64)| {
        let (ref k, (start, end), n) = *window;
        assert_eq!((k.as_str(), end - start, n), ("a", HOUR, 1));
        assert!(
            clock_windows.contains(&start),
            "{start} not in {clock_windows:?}"
        );
    };
    // `ByNow`: the event-time window (the stream view's update) and the wall clock's.
    assert_eq!(seen.now_windows.len(), 2, "{:?}", seen.now_windows);
    assert_eq!(seen.now_windows[0], ("a".to_string(), event_window, 10));
    check_clock(&seen.now_windows[1]);
    // `ByStream`: only the wall clock's window (its own time was not used for an update).
    assert_eq!(seen.stream_windows.len(), 1, "{:?}", seen.stream_windows);
    check_clock(&seen.stream_windows[0]);
    let (value, now, current, current_after, stream_value) = seen.by_now;
    let (clock_value, stream_now, stream_table_value) = seen.by_stream;
    // Read within the hour they were written in (unless the clock crossed an hour meanwhile).
    if clock_windows[0] == clock_windows[1] {
        assert_eq!((value, now, clock_value, stream_now), (1, 1, 1, 1));
    } else {
        assert!(value <= 1 && now <= 1 && clock_value <= 1 && stream_now <= 1);
    }
    // The event-time window: empty before the stream view's update, 10 after it.
    assert_eq!((current, current_after, stream_value), (0, 10, 10));
    // The event-time table's own value() did not see the wall-clock update.
    assert_eq!(stream_table_value, 0);
}

#[test]
fn window_times_convert_from_system_time() {
    use std::time::UNIX_EPOCH;
    assert_eq!(
        faust_runtime::table::WindowTime::from(
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        ),
        faust_runtime::table::WindowTime::At(1_700_000_000_123)
    );
    assert_eq!(
        faust_runtime::table::WindowTime::from(UNIX_EPOCH - Duration::from_secs(5)),
        faust_runtime::table::WindowTime::At(-5_000)
    );
    assert_eq!(faust_runtime::table::WindowTime::from(42_i64).millis(), 42);
    let lo = now_millis();
    let t = faust_runtime::table::WindowTime::Now.millis();
    assert!(lo <= t && t <= now_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windowed_view_outside_an_event_is_a_clear_error() {
    let broker = MemoryBroker::new();
    let app = app(&broker, &unique("win-outside"), "::by_field");
    app.start().await.unwrap();
    let err = app
        .scope(async {
            by_field::PerTenPlaced
                .relative_to_field(1_000)
                .update("a".to_string(), |n| *n += 1)
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside an agent's event"), "{err}");
    app.stop().await.unwrap();
}
