// Declarations spread over modules, named by path, with private items and a raw identifier.

mod records {
    use faust_runtime::prelude::*;

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Click {
        pub page: String,
    }
}

mod topics {
    use faust_runtime::prelude::*;

    /// Every click.
    #[topic(name = "clicks", value = crate::records::Click, key = std::string::String)]
    pub struct Clicks;

    #[topic(name = "clicks.retry", value = crate::records::Click, key = String, root = Clicks)]
    pub(crate) struct ClickRetries;
}

mod agents {
    use crate::topics::{ClickRetries, Clicks};
    use faust_runtime::prelude::*;

    #[agent(crate::topics::Clicks)]
    pub(crate) async fn r#count(mut clicks: Stream<Clicks>) -> faust_runtime::Result<()> {
        while let Some(click) = clicks.next().await {
            ClickRetries.send(click.page.clone(), click).await?;
        }
        Ok(())
    }

    #[agent(ClickRetries, concurrency = 4)]
    async fn retry(clicks: Events<ClickRetries>) {
        drop(clicks);
    }
}

fn main() {
    let sel = faust_runtime::registry::Selection::collect(&[]).expect("registrations");
    // The crate's name is the test runner's, so compare from the module down.
    let agents: Vec<(&str, &str)> = sel
        .agents
        .iter()
        .map(|a| (a.name, a.qualified.split_once("::").unwrap().1))
        .collect();
    assert_eq!(
        agents,
        [("count", "agents::count"), ("retry", "agents::retry")]
    );
    assert_eq!(sel.topics.len(), 2);
    assert!(sel.topics[0].type_name.ends_with("::topics::Clicks"));
    // The types as Rust names them, not as the declaration wrote them.
    assert!(sel.topics[0].value_type().ends_with("::records::Click"));
    assert_eq!(sel.topics[0].key_type(), "alloc::string::String");
    assert_eq!(sel.topics[1].declared_partitions(), None);
}
