use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Greeting {
    pub to: String,
}

// Reads `{app_id}-greet`; `Greet` is both its handle and the type of its stream.
#[agent(handle = Greet, key = String, value = Greeting, concurrency = 2)]
async fn greet(mut greetings: Stream<Greet>, out: Yield<String>) -> Result<()> {
    while let Some(g) = greetings.next().await {
        out.send(format!("hello {}", g.to)).await?;
    }
    Ok(())
}

async fn client(app: &App) -> Result<String> {
    Greet.on(app).send("k", Greeting { to: "a".into() }).await?;
    Greet.on(app).ask(Greeting { to: "b".into() }).await
}

fn main() {
    let _ = client;
}
