use faust_runtime::prelude::*;

#[topic(name = "prices", key = String, value = u64)]
struct PriceUpdates;

/// The latest price of each product, on every worker.
#[table(kind = "global", name = "prices", key = String, value = u64, default = 0)]
struct Prices;

#[agent(PriceUpdates)]
async fn keep(mut updates: Events<PriceUpdates>) -> Result<()> {
    while let Some(ev) = updates.next().await {
        let product = ev.key.clone().unwrap_or_default();
        let old: Option<u64> = Prices.insert(product.clone(), ev.value)?;
        let now: u64 = Prices.get_or_default(&product)?;
        let doubled: u64 = Prices.update(product.clone(), |p| {
            *p *= 2;
            *p
        })?;
        let _ = (old, now, doubled, Prices.contains_key(&product)?);
        let _ = (Prices.remove(&product)?, Prices.len()?, Prices.items()?);
    }
    Ok(())
}

#[timer(interval = "1m")]
async fn report() -> Result<()> {
    let _: Option<u64> = Prices.get(&"apple".to_string())?;
    Ok(())
}

fn main() {}
