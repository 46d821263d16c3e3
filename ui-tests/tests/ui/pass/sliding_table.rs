use faust_runtime::prelude::*;
use std::time::{Duration, SystemTime};

#[topic(name = "clicks", key = String, value = i64, partitions = 4)]
struct Clicks;

fn report(page: &str, window: (i64, i64), clicks: &u64) {
    println!("{page}: {clicks} clicks in {window:?}");
}

/// 30 s on either side of each click.
#[table(name = "clicks-around", key = String, value = u64, partitions = 4,
        sliding = "30s", expires = "1h", on_window_close = report)]
struct ClicksAround;

/// The minute up to each click.
#[table(name = "clicks-before", key = String, value = u64, partitions = 4, before = "1m")]
struct ClicksBefore;

/// By the wall clock.
#[table(name = "clicks-now", key = String, value = u64, partitions = 4,
        before = "10s", after = "1s", relative_to = "now")]
struct ClicksNow;

/// By the event's time, said explicitly.
#[table(name = "clicks-hour", key = String, value = u64, partitions = 4,
        tumbling = "1h", relative_to = "stream")]
struct ClicksPerHour;

#[agent(Clicks)]
async fn count(mut clicks: faust_runtime::Events<Clicks>) -> Result<()> {
    while let Some(ev) = clicks.next().await {
        let page = ev.key.clone().unwrap_or_default();
        ClicksAround.update(page.clone(), |n| *n += 1)?;
        ClicksBefore.relative_to_field(ev.value).update(page.clone(), |n| *n += 1)?;
        ClicksNow.update(page.clone(), |n| *n += 1)?;
        let _: u64 = ClicksNow.relative_to_stream().value(&page)?;
        let _: u64 = ClicksPerHour.relative_to_now().value(&page)?;
        let _: u64 = ClicksPerHour.relative_to(SystemTime::now()).value(&page)?;
        let _: u64 = ClicksAround.current(&page)? + ClicksAround.delta(&page, Duration::from_secs(1))?;
        let _: Vec<(String, (i64, i64), u64)> = ClicksAround.items()?;
    }
    Ok(())
}

fn main() {}
