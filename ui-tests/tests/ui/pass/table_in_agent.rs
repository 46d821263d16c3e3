use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Stats {
    count: u64,
    total: f64,
}

#[topic(name = "orders", key = String, value = f64, partitions = 4)]
struct Orders;

#[table(name = "order-stats", key = String, value = Stats, partitions = 4)]
struct OrderStats;

#[table(name = "seen", key = String, value = bool, default = false)]
struct Seen;

#[agent(Orders)]
async fn aggregate(mut orders: Events<Orders>) -> Result<()> {
    while let Some(ev) = orders.next().await {
        let key = ev.key.clone().unwrap_or_default();
        let count = OrderStats.update(key.clone(), |s| {
            s.count += 1;
            s.total += ev.value;
            s.count
        })?;
        if count > 100 {
            OrderStats.remove(&key)?;
        }
        let first = !Seen.get_or_default(&key)?;
        if first {
            Seen.insert(key, true)?;
        }
        let _: usize = OrderStats.len()?;
        let _: Vec<(String, Stats)> = OrderStats.items()?;
    }
    Ok(())
}

fn main() {
    assert_eq!(OrderStats.name(), "order-stats");
}
