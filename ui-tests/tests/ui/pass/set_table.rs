use faust_runtime::prelude::*;

#[topic(name = "orders", key = String, value = String)]
struct Orders;

/// The products each customer ordered.
#[table(kind = "set", name = "products", key = String, value = String, partitions = 8)]
struct Products;

#[agent(Orders)]
async fn track(mut orders: Events<Orders>) -> Result<()> {
    while let Some(ev) = orders.next().await {
        let customer = ev.key.clone().unwrap_or_default();
        let new: bool = Products.add(customer.clone(), ev.value.clone())?;
        let there: bool = Products.contains(&customer, &ev.value)?;
        let all: Vec<String> = Products.members(&customer)?;
        let gone: bool = Products.discard(&customer, &ev.value)?;
        let _ = (new, there, all, gone, Products.len()?, Products.items()?);
    }
    Ok(())
}

fn main() {}
