//! Request-reply with `ask`, as Faust's `await agent.ask(value)`.
//!
//! The `price` agent reads price requests from its topic and yields an answer for each one
//! (`out.send(..)`); its handle `Pricing` asks it. A one-shot `#[task]` asks for one product with
//! `ask`, then for several at once with `join` (answers in the order asked). The requests carry
//! Faust's `Faust-Ag-ReplyTo` / `Faust-Ag-CorrelationId` headers and the answers come back as
//! Faust `ReqRepResponse` records on this app's `f-reply-{uuid}` topic, so a Python Faust app
//! could ask this agent (or answer this client) just as well.
//!
//! ```text
//! cargo run --example request_reply                                    # embedded broker
//! cargo run --example request_reply -- --broker kafka://localhost:9092 # a Kafka cluster
//! ```

use faust_runtime::prelude::*;
use std::time::Duration;

/// A question for the pricing agent.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct PriceRequest {
    product: String,
    quantity: u32,
}

/// Its answer.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Quote {
    product: String,
    total_cents: u64,
}

/// The agent's topic.
#[topic(name = "price-requests", key = String, value = PriceRequest, partitions = 4)]
struct PriceRequests;

/// Answers each request with a quote; `handle = Pricing` declares the handle that asks it.
#[agent(PriceRequests, handle = Pricing)]
async fn price(mut requests: Stream<PriceRequests>, out: Yield<Quote>) -> Result<()> {
    while let Some(req) = requests.next().await {
        let unit = match req.product.as_str() {
            "apple" => 125,
            "banana" => 40,
            _ => 300,
        };
        out.send(Quote {
            product: req.product,
            total_cents: unit * u64::from(req.quantity),
        })
        .await?;
    }
    Ok(())
}

fn request(product: &str, quantity: u32) -> PriceRequest {
    PriceRequest {
        product: product.to_string(),
        quantity,
    }
}

/// Runs once the app has started: asks the agent, prints the answers.
#[task]
async fn ask_for_prices() -> Result<()> {
    let pricing = Pricing.timeout(Duration::from_secs(30));
    let quote = pricing.ask(request("apple", 4)).await?;
    println!("ask: {} costs {} cents", quote.product, quote.total_cents);
    let quotes = pricing
        .join([
            request("banana", 10),
            request("cherry", 1),
            request("apple", 1),
        ])
        .await?;
    for q in quotes {
        println!("join: {} costs {} cents", q.product, q.total_cents);
    }
    println!("all answered; stop with Ctrl-C");
    Ok(())
}

faust_runtime::main!(id = "request-reply-example");
