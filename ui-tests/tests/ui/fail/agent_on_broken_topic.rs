use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
}

// The one mistake: a topic handle with fields. The agent, the stream and the send below name
// the type as a topic and add no errors of their own.
#[topic(name = "orders", key = String, value = Order)]
pub struct Orders {
    pub id: u64,
}

pub struct Note;

// The same for a channel put on an enum.
#[channel(value = Note)]
pub enum Notes {
    A,
}

#[agent(Orders)]
async fn process(mut orders: Stream<Orders>) -> Result<()> {
    while let Some(order) = orders.next().await {
        let _: u64 = order.id;
    }
    Ok(())
}

#[agent(Notes)]
async fn notify(mut notes: Events<Notes>) {
    while let Some(note) = notes.next().await {
        let _: Note = note.value;
    }
}

async fn produce(orders: &Orders) -> Result<()> {
    orders.send("k", Order { id: 1 }).await?;
    let _: i32 = orders.partitions();
    Ok(())
}

fn main() {
    let _ = produce;
}
