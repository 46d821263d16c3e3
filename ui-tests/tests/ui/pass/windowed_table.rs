use faust_runtime::prelude::*;
use std::time::Duration;

#[topic(name = "clicks", key = String, value = String, partitions = 4)]
struct Clicks;

fn report(page: &str, window: (i64, i64), clicks: &u64) {
    println!("{page}: {clicks} clicks in {window:?}");
}

#[table(name = "clicks-per-minute", key = String, value = u64, partitions = 4,
        tumbling = "1m", expires = "1h", on_window_close = report)]
struct ClicksPerMinute;

#[table(name = "clicks-sliding", key = String, value = u64, hopping = "10m", step = "1m")]
struct ClicksHopping;

#[agent(Clicks)]
async fn count(mut clicks: Stream<Clicks>) -> Result<()> {
    while let Some(page) = clicks.next().await {
        ClicksPerMinute.update(page.clone(), |n| *n += 1)?;
        ClicksHopping.update(page.clone(), |n| *n += 1)?;
        let _: u64 = ClicksPerMinute.current(&page)? + ClicksPerMinute.now(&page)?;
        let _: u64 = ClicksPerMinute.delta(&page, Duration::from_secs(60))?;
        let _: Vec<(String, (i64, i64), u64)> = ClicksHopping.items()?;
    }
    Ok(())
}

fn main() {}
