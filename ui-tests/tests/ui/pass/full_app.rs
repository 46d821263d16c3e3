// A whole app: a topic with every setting, a text topic, a channel, an agent on each (one reading
// whole events, one with several instances), timers with every interval form, and `main!`.
// Running it checks what the macros registered instead of starting the worker.

use faust_runtime::prelude::*;
use faust_runtime::registry::Selection;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub amount: f64,
}

#[derive(Debug)]
pub struct Notification {
    pub text: String,
}

/// Orders as they are placed.
#[topic(
    name = "orders",
    key = String,
    value = Order,
    key_serializer = "raw",
    value_serializer = "json",
    partitions = 8,
    retention = "7d",
    compacting = false,
    deleting = true,
    replicas = 1,
    acks = "all",
    delivery_guarantee = "at_least_once",
    maxsize = 1000,
    config = [("segment.ms", "60000"), ("min.insync.replicas", 1)],
    on_error = "dead_letter",
    dead_letter = "orders-dead",
)]
pub struct Orders;

// The struct may derive the traits the macro would otherwise implement.
#[topic(name = "audit-lines", value = String, acks = 1, retention = 3600)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuditLines;

/// A value type named through an alias: the spec reports the type, not the alias.
pub type Dict = std::collections::HashMap<String, String>;

#[topic(name = "settings", key = String, value = Dict)]
pub struct SettingsTopic;

#[channel(value = Notification, key = String, name = "notifications", maxsize = 100)]
pub struct Notifications;

#[channel(value = u64)]
struct Counts;

// An agent that yields text lines, forwarded to a topic and a channel of strings.
#[channel(value = String)]
struct Lines;

#[agent(Orders, name = "describe", sink = [AuditLines, Lines])]
async fn describe(mut orders: Stream<Orders>, out: Yield<String>) -> Result<()> {
    while let Some(order) = orders.next().await {
        out.send(format!("order {}", order.id)).await?;
    }
    Ok(())
}

#[agent(Orders, name = "process-orders", concurrency = 2)]
async fn process_orders(mut orders: Stream<Orders>) -> Result<()> {
    while let Some(order) = orders.next().await {
        Notifications
            .record(Notification {
                text: format!("order {} for {}", order.id, order.amount),
            })
            .key(order.id.to_string())
            .send()
            .await?;
        AuditLines
            .send(b"orders".to_vec(), format!("order {}", order.id))
            .await?;
        Counts.send(order.id).await?;
    }
    Ok(())
}

#[agent(Notifications)]
async fn notify(mut events: Events<Notifications>) {
    while let Some(event) = events.next().await {
        let _ = (event.key, event.value.text, event.timestamp);
    }
}

#[agent(Counts)]
async fn count(mut counts: Stream<Counts>) -> std::result::Result<(), std::io::Error> {
    while counts.next().await.is_some() {}
    Ok(())
}

#[timer(interval = "5s")]
async fn every_5s() {}

#[timer(interval = "250ms", name = "quarter-second")]
async fn every_250ms() -> Result<()> {
    Ok(())
}

#[timer(interval = "1m")]
async fn every_minute() {}

#[timer(interval = "1h")]
async fn every_hour() {}

#[timer(interval = "1.5s")]
async fn every_1500ms() {}

#[timer(interval = "2d")]
async fn every_2d() {}

#[timer(interval = "7")]
async fn every_7s_text() {}

#[timer(interval = 9)]
async fn every_9s() {}

#[timer(interval = 0.5)]
async fn every_half_second() {}

#[allow(dead_code)]
mod worker {
    use faust_runtime::prelude::*;

    async fn setup(app: App) -> Result<()> {
        let _ = app.id();
        Ok(())
    }

    pub mod hooks {
        pub async fn teardown(_app: faust_runtime::App) {}
    }

    faust_runtime::main!(
        id = "orders-app",
        broker = "memory://",
        version = 2,
        topic_partitions = 8,
        commit_interval = "2.8s",
        before_start = setup,
        after_stop = hooks::teardown,
    );
}

fn main() {
    let sel = Selection::collect(&[]).expect("registrations");

    let topics: Vec<&str> = sel.topics.iter().map(|t| t.name).collect();
    assert_eq!(topics, ["audit-lines", "orders", "settings"]);
    let channels: Vec<&str> = sel.channels.iter().map(|c| c.name).collect();
    assert_eq!(channels, ["Counts", "Lines", "notifications"]);
    let agents: Vec<(&str, usize)> = sel.agents.iter().map(|a| (a.name, a.concurrency)).collect();
    assert_eq!(agents, [("count", 1), ("describe", 1), ("notify", 1), ("process-orders", 2)]);
    assert!(sel.agents[3].qualified.ends_with("::process_orders"));
    let topology = faust_runtime::topology::Topology::from_selection("a", &sel, faust_runtime::ErrorPolicy::Skip);
    for (from, to) in [
        ("agent:describe", "topic:audit-lines"),
        ("agent:describe", "channel:Lines"),
    ] {
        assert!(
            topology.has_edge(from, to, faust_runtime::topology::EdgeKind::Sends),
            "{from} -> {to}: {topology:?}"
        );
    }

    let interval = |name: &str| sel.timers.iter().find(|t| t.name == name).unwrap().interval;
    assert_eq!(interval("every_5s"), Duration::from_secs(5));
    assert_eq!(interval("quarter-second"), Duration::from_millis(250));
    assert_eq!(interval("every_minute"), Duration::from_secs(60));
    assert_eq!(interval("every_hour"), Duration::from_secs(3600));
    assert_eq!(interval("every_1500ms"), Duration::from_millis(1500));
    assert_eq!(interval("every_2d"), Duration::from_secs(2 * 86_400));
    assert_eq!(interval("every_7s_text"), Duration::from_secs(7));
    assert_eq!(interval("every_9s"), Duration::from_secs(9));
    assert_eq!(interval("every_half_second"), Duration::from_millis(500));

    let spec = Orders.spec();
    assert_eq!(Orders.name(), "orders");
    assert_eq!(spec.key_type(), "alloc::string::String");
    assert_eq!(spec.value_type(), std::any::type_name::<Order>());
    // The same on the handle, through the `Channel` and `Topic` traits (Faust's ChannelT, TopicT).
    assert_eq!(Orders.key_type(), "alloc::string::String");
    assert_eq!(Orders.value_type(), std::any::type_name::<Order>());
    assert_eq!(Orders.maxsize(), 1000);
    assert_eq!(Notifications.key_type(), "alloc::string::String");
    assert_eq!(Notifications.value_type(), std::any::type_name::<Notification>());
    assert_eq!(Counts.key_type(), "()");
    assert_eq!(
        SettingsTopic.value_type(),
        "std::collections::hash::map::HashMap<alloc::string::String, alloc::string::String>"
    );
    assert_eq!(SettingsTopic.spec().value_type(), SettingsTopic.value_type());
    assert_eq!(Counts.value_type(), "u64");
    assert_eq!(Orders.partitions(), 8);
    assert_eq!(spec.declared_replicas(), Some(1));
    assert_eq!(spec.declared_acks(), Some(faust_runtime::Acks::All));
    assert_eq!(spec.declared_maxsize(), Some(1000));
    assert_eq!(
        spec.declared_on_error(),
        Some(faust_runtime::ErrorPolicy::DeadLetter)
    );
    assert_eq!(spec.dead_letter_topic(), "orders-dead");
    assert_eq!(spec.value_serializer_name(), "json");
    let config = Orders.config();
    assert_eq!(config["retention.ms"], "604800000");
    assert_eq!(config["cleanup.policy"], "delete");
    assert_eq!(config["segment.ms"], "60000");
    assert_eq!(config["min.insync.replicas"], "1");

    let audit = <AuditLines as Topic>::spec();
    assert_eq!(audit.key_type(), "alloc::vec::Vec<u8>");
    assert_eq!(audit.value_serializer_name(), "raw");
    assert_eq!(audit.declared_acks(), Some(faust_runtime::Acks::Leader));
    assert_eq!(AuditLines.config()["retention.ms"], "3600000");

    assert_eq!(Notifications.name(), "notifications");
    assert_eq!(Notifications.maxsize(), 100);
    assert_eq!(format!("{:?}", Orders), "Orders");
    let _copied: (Orders, AuditLines, Counts) = (Orders, AuditLines.clone(), Counts::default());
}
