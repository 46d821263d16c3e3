//! The declaration macros of faust-rs: [`macro@topic`], [`macro@channel`], [`macro@agent`],
//! [`macro@timer`], [`macro@command`] and [`main!`].
//!
//! Use them through `faust_runtime` (`use faust_runtime::prelude::*;`), which re-exports them and
//! provides everything the generated code refers to. Each macro turns a declaration into a
//! static spec plus a registration that the app collects at start-up; none of them changes the
//! item it is put on beyond adding trait impls.
//!
//! Mistakes are reported at the tokens that are wrong, all at once: every unknown or repeated
//! key, every bad value and every problem with the item itself gets its own message, and the item
//! is still emitted so that one mistake does not cause a cascade of follow-up errors.

extern crate proc_macro;

mod agent;
mod attr;
mod channel;
mod command;
mod item;
mod main_macro;
mod page;
mod record;
mod table;
mod timer;
mod topic;

use proc_macro::TokenStream;

/// The runtime's module for generated code, named after this crate's version:
/// `::faust_runtime::__private::v0_1_0`. Every path the macros emit goes through it, so a
/// `faust-macros` that does not match its `faust-runtime` fails to build instead of expanding
/// to code the runtime does not have (the runtime depends on this crate with an exact version).
#[allow(non_camel_case_types)]
pub(crate) struct rt;

impl quote::ToTokens for rt {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        let module = proc_macro2::Ident::new(&private_module(), proc_macro2::Span::call_site());
        tokens.extend(quote::quote!(::faust_runtime::__private::#module));
    }
}

/// `v0_1_0` for version 0.1.0.
pub(crate) fn private_module() -> String {
    format!(
        "v{}",
        env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_")
    )
}

/// The runtime path as text, for attributes that take a path in a string (`#[serde(crate = ..)]`).
pub(crate) fn rt_string() -> String {
    format!("::faust_runtime::__private::{}", private_module())
}

/// Declares a Kafka topic: put it on a unit struct, which becomes the topic's typed handle.
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Order { id: u64, amount: f64 }
///
/// /// Orders as they are placed.
/// #[topic(name = "orders", key = String, value = Order, partitions = 8, retention = "7d")]
/// pub struct Orders;
///
/// // In an agent or timer (or with `Orders.on(&app)`): sends through the running app.
/// async fn place(order: Order) -> Result<()> {
///     Orders.send(order.id.to_string(), order).await?;
///     Ok(())
/// }
///
/// assert_eq!((Orders.name(), Orders.partitions()), ("orders", 8));
/// assert_eq!(Orders.config()["retention.ms"], "604800000");
/// assert_eq!(Orders.value_type(), std::any::type_name::<Order>());
/// ```
///
/// Keys:
///
/// | key | value | default |
/// |---|---|---|
/// | `name` | the Kafka topic name (letters, digits, `.`, `_`, `-`) | required |
/// | `key` | key type | `Vec<u8>` |
/// | `value` | value type | required |
/// | `key_serializer` | serializer chain, e.g. `"json"`, `"raw"` | `"raw"` |
/// | `value_serializer` | serializer chain | `"raw"` for `String`, `Vec<u8>`, `Bytes`, `ByteBuf`; else `"json"` |
/// | `partitions` | partition count, > 0 | the app's `topic_partitions` |
/// | `replicas` | replication factor, > 0 | broker default |
/// | `retention` | `"7d"`, `"12h"`, `"250ms"` or a number of seconds | broker default |
/// | `compacting`, `deleting` | `true`/`false`: the cleanup policy | broker default |
/// | `acks` | `"all"` (or `-1`, `true`), `1`, `0` (or `false`) | `"all"` |
/// | `delivery_guarantee` | `"at_least_once"` or `"exactly_once"` | `"at_least_once"` |
/// | `maxsize` | buffer size of each agent's stream, > 0 | the app's setting |
/// | `config` | extra topic configuration: `[("segment.ms", "60000"), ...]` | none |
/// | `on_error` | `"skip"`, `"dead_letter"` or `"stop"`, for records that do not decode or whose agent fails | `"skip"` |
/// | `dead_letter` | name of the dead-letter topic | `"{name}-dlq"` |
/// | `root` | another `#[topic]` type whose settings this one inherits | none |
///
/// The struct gets `Clone`, `Copy`, `Debug` and `Default` (unless it derives them itself), the
/// `Topic` and `Channel` traits (Faust's `TopicT` and `ChannelT`: `name()`, `key_type()`,
/// `value_type()`, `maxsize()`, `partitions()`, `config()`), and dereferences to
/// `TopicApi<Self>`, so `Orders.send(..)`, `Orders.send_soon(..)`, `Orders.record(..)` and
/// `Orders.get_partition_key(..)` work anywhere an app is running. The key and value types must
/// implement `Serialize` and `Deserialize`.
#[proc_macro_attribute]
pub fn topic(attr: TokenStream, item: TokenStream) -> TokenStream {
    topic::expand(attr.into(), item.into()).into()
}

/// Declares an in-process channel: a bounded, typed queue that agents read like a topic, with
/// no broker and no serialization. Put it on a unit struct, which becomes the channel's handle.
///
/// ```
/// use faust_runtime::prelude::*;
///
/// pub struct Notification { user: String, text: String }
///
/// #[channel(value = Notification, maxsize = 1000)]
/// pub struct Notifications;
///
/// assert_eq!((Notifications.name(), Notifications.maxsize()), ("Notifications", 1000));
/// assert_eq!(Notifications.key_type(), "()");
/// ```
///
/// Keys: `value` (the value type, required), `key` (default `()`), `name` (default the struct's
/// name) and `maxsize` (queue size, > 0; senders wait while it is full). Values only need to be
/// `Send + 'static`. The struct gets the `Channel` trait (`name()`, `key_type()`, `value_type()`,
/// `maxsize()`) and dereferences to `ChannelApi<Self>`: `Notifications.send(..)`, from agents,
/// timers, `main!` hooks and any code they call.
#[proc_macro_attribute]
pub fn channel(attr: TokenStream, item: TokenStream) -> TokenStream {
    channel::expand(attr.into(), item.into()).into()
}

/// Makes an `async fn` an agent: a supervised consumer of a topic or channel, started with the
/// app and restarted if it fails.
///
/// ```
/// use faust_runtime::prelude::*;
/// # #[derive(Serialize, Deserialize)]
/// # struct Order { id: u64 }
/// # #[topic(name = "orders", key = String, value = Order)]
/// # struct Orders;
///
/// #[agent(Orders, concurrency = 2)]
/// async fn count_orders(mut orders: Stream<Orders>) -> Result<()> {
///     while let Some(order) = orders.next().await {
///         println!("order {}", order.id);
///     }
///     Ok(())
/// }
///
/// // Whole events (key, value, headers, partition, offset, timestamp):
/// #[agent(Orders, name = "audit")]
/// async fn audit(mut events: Events<Orders>) {
///     while let Some(event) = events.next().await {
///         println!("{:?} at {}[{}]@{}", event.key, event.topic, event.partition, event.offset);
///     }
/// }
/// ```
///
/// The first argument of the attribute is the topic or channel type; then optional `name`
/// (default the function's name) and `concurrency` (instances, > 0, default 1; they share one
/// stream, as Faust's concurrent agents do) and `sink = [Totals, Alerts]` (the topics and channels
/// the agent sends to, drawn in the app's topology: `graph` command, dashboard). The function takes exactly one argument, `Stream<H>` for
/// values or `Events<H>` for whole events of that topic or channel `H` (`stream.events()` on a
/// `Stream<H>` gives the same events, headers included), and returns `()` or `Result<(), E>`. It is left as written and may still be called directly.
#[proc_macro_attribute]
pub fn agent(attr: TokenStream, item: TokenStream) -> TokenStream {
    agent::expand(attr.into(), item.into()).into()
}

/// Serves an `async fn` axum handler at a path of the worker's web server (Faust's
/// `@app.page`).
///
/// ```
/// use faust_runtime::prelude::*;
/// use faust_runtime::web::axum::extract::{Path, State};
///
/// #[page("/hello/{name}")]
/// async fn hello(State(app): State<App>, Path(name): Path<String>) -> String {
///     format!("hello {name}, from {}", app.id())
/// }
///
/// #[page("/reset", method = "post")]
/// async fn reset() -> &'static str {
///     "done"
/// }
/// ```
///
/// The path comes first: it starts with `/`, writes parameters as `{name}` (axum's syntax) and
/// may not be one the server serves itself (`/`, `/metrics`, `/health`, `/ready`,
/// `/api/dashboard`, `/api/topology`). `method` is `"get"` (the default), `"post"`, `"put"`, `"delete"` or
/// `"patch"`. The handler takes any axum extractors (`State<App>` for the app) and returns
/// anything axum turns into a response; it is left as written.
#[proc_macro_attribute]
pub fn page(attr: TokenStream, item: TokenStream) -> TokenStream {
    page::expand(attr.into(), item.into()).into()
}

/// Declares a table: a dict partitioned like the stream that updates it, backed by the compacted
/// changelog topic `{app_id}-{name}-changelog` and recovered on every assignment (Faust's
/// `app.Table`). Put it on a unit struct, which becomes the table's handle.
///
/// ```
/// use faust_runtime::prelude::*;
///
/// /// Orders seen per product.
/// #[table(name = "order-counts", key = String, value = u64, default = 0, partitions = 8)]
/// pub struct OrderCounts;
///
/// assert_eq!(OrderCounts.name(), "order-counts");
/// // Outside an agent's event there is no partition to read or write:
/// assert!(OrderCounts.get(&"apple".to_string()).is_err());
/// ```
///
/// Keys: `name` (required), `key` and `value` (the types, required; serde both ways, the key
/// also `Hash + Eq + Clone`, the value `Clone`), `default` (an expression: the value of a key
/// never written; default `Default::default()`), `partitions` (default the app's
/// `topic_partitions`; give the table as many partitions as the topic that updates it).
/// Windowed tables add one kind of windows: `tumbling = "1m"`, `hopping = "10m"` with
/// `step = "1m"`, or sliding windows around each event's time, `sliding = "30s"` (30 s before
/// and after) or `before = "1m"` and/or `after = ".."` (a missing one is zero); and optionally
/// `expires` (default `"1d"`), `relative_to = "stream"` (the event's time, the default) or
/// `"now"` (the wall clock) for `update` and `value()`, and `on_window_close = path::to::fn`
/// (called as `fn(&Key, (start_ms, end_ms), &Value)` once per closed window); their handle
/// dereferences to `WindowedTableApi<Self>` (`update`, `current`, `now`, `value`, `delta`,
/// `items`, `len`, and `relative_to_now()`, `relative_to_stream()`, `relative_to_field(t_ms)`
/// for a view going by another time).
///
/// The struct dereferences to `TableApi<Self>`: inside an agent, while it processes an event,
/// `get`, `get_or_default`, `contains_key`, `insert`, `update` (Faust's `table[k] += 1` is
/// `update(k, |v| *v += 1)`) and `remove` act on the event's partition; `len`, `is_empty` and
/// `items` cover the partitions active on this worker.
#[proc_macro_attribute]
pub fn table(attr: TokenStream, item: TokenStream) -> TokenStream {
    table::expand(attr.into(), item.into()).into()
}

/// Runs an `async fn` on an interval while the app runs.
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[timer(interval = "30s")]
/// async fn report() -> Result<()> {
///     println!("still here");
///     Ok(())
/// }
/// ```
///
/// `interval` is required: a string such as `"250ms"`, `"5s"`, `"1.5s"`, `"1m"`, `"1h"`, `"2d"`,
/// or a number of seconds (`"5"`, `5`, `0.5`); it is checked when the crate compiles. `name`
/// defaults to the function's name. The function takes no arguments and returns `()` or
/// `Result<(), E>`. The first run happens one interval after the app starts. `on_leader = true`
/// runs it on the group's leader only (the worker holding partition 0 of
/// `{app_id}-__assignor-__leader`, as in Faust). A failed run is logged and counted in
/// `Health::timer_errors`; the timer keeps its schedule.
#[proc_macro_attribute]
pub fn timer(attr: TokenStream, item: TokenStream) -> TokenStream {
    timer::expand(attr.into(), item.into()).into()
}

/// Adds a subcommand to the app's command line (Faust's `@app.command`).
///
/// ```no_run
/// use faust_runtime::prelude::*;
/// use faust_runtime::clap;
///
/// #[derive(clap::Args)]
/// struct Seed {
///     /// How many orders to send.
///     #[arg(long, default_value_t = 10)]
///     count: u32,
/// }
///
/// #[topic(name = "orders", value = u32)]
/// struct Orders;
///
/// /// Sends test orders.
/// #[faust_runtime::command]
/// async fn seed(app: App, args: Seed) -> Result<()> {
///     for i in 0..args.count {
///         Orders.on(&app).record(i).force(true).send_and_wait().await?;
///     }
///     Ok(())
/// }
/// # #[timer(interval = "1s")] async fn tick() {}
///
/// faust_runtime::main!(id = "shop"); // ./shop seed --count 3
/// ```
///
/// The function takes the app (built from the command line and the environment, not running)
/// and optionally one type deriving `clap::Args` (`faust_runtime::clap` is clap), and returns
/// `()` or `Result<(), E>`. Its doc comment's first paragraph is its `--help` line; `name`
/// defaults to the function's name with `_` written `-`.
#[proc_macro_attribute]
pub fn command(attr: TokenStream, item: TokenStream) -> TokenStream {
    command::expand(attr.into(), item.into()).into()
}

/// Runs an `async fn` at the times of a cron expression while the app runs (Faust's
/// `@app.crontab`).
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[crontab("*/5 * * * *", timezone = "Europe/Paris", on_leader = true)]
/// async fn every_five_minutes() -> Result<()> {
///     println!("five more minutes");
///     Ok(())
/// }
/// ```
///
/// The expression comes first (minute, hour, day of month, month, day of week; a sixth, leading
/// field for seconds; `@hourly`, `@daily` ...), checked when the crate compiles. `timezone` is an
/// IANA name (default UTC), checked when the app starts. `on_leader = true` runs it on the
/// group's leader only. A failed run is logged and counted; the schedule goes on.
#[proc_macro_attribute]
pub fn crontab(attr: TokenStream, item: TokenStream) -> TokenStream {
    timer::expand_kind(timer::Kind::Crontab, attr.into(), item.into()).into()
}

/// Runs an `async fn` once, after the app has started (Faust's `@app.task`).
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[task]
/// async fn warm_up() -> Result<()> {
///     println!("started");
///     Ok(())
/// }
/// ```
///
/// `on_leader = true` waits until this worker is the group's leader (and never runs if it does
/// not become it before stopping). A failure is logged and counted.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    timer::expand_kind(timer::Kind::Task, attr.into(), item.into()).into()
}

/// Writes the program's `fn main`: builds the app, runs `before_start`, the agents and timers
/// declared in this crate until interrupted, then `after_stop`, and exits with its status.
///
/// ```no_run
/// use faust_runtime::prelude::*;
/// # #[timer(interval = "1s")]
/// # async fn tick() {}
///
/// // Runs once the app is built, before it starts: define runtime topics, send with
/// // `.force(true)`, read configuration. An error here stops the program before the app starts.
/// async fn setup(app: App) -> Result<()> {
///     println!("starting {} on {}", app.id(), app.settings().broker);
///     Ok(())
/// }
///
/// // Runs once the app has stopped (cleanly or not): the app no longer sends, its broker is
/// // still reachable (`app.topics()`).
/// async fn teardown(app: App) -> Result<()> {
///     println!("{} stopped: {:?}", app.id(), app.health());
///     Ok(())
/// }
///
/// faust_runtime::main!(
///     id = "orders-app",
///     broker = "kafka://localhost:9092",
///     topic_partitions = 8,
///     before_start = setup,
///     after_stop = teardown,
/// );
/// ```
///
/// Keys: `id` (required: the app's name, also its consumer group), `broker`, `version` (> 0),
/// `topic_partitions` (> 0), `commit_interval` (a duration such as `"2.8s"`), `before_start`
/// and `after_stop` (paths of `async fn(app: App)` returning `()` or `Result<(), E>`). Settings
/// given here are defaults; the runtime documents which environment variables override them.
/// Code under `main!` reaches the app with `App::current()`, and unbound handles
/// (`Orders.send(..)`) use it, from `before_start` on.
#[proc_macro]
pub fn main(input: TokenStream) -> TokenStream {
    main_macro::expand(input.into()).into()
}

/// Makes a struct with named fields a Faust record: its JSON is exactly what Faust's `Record`
/// writes, fields in declaration order followed by `"__faust":{"ns":"app.Order"}`.
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[record(namespace = "app.Order")]
/// #[derive(Clone, Debug)]
/// pub struct Order {
///     pub id: u64,
///     pub product: String,
///     #[serde(default)]
///     pub quantity: u32,
/// }
///
/// let order = Order { id: 10, product: "apple".into(), quantity: 7 };
/// assert_eq!(
///     serde_json::to_string(&order).unwrap(),
///     r#"{"id":10,"product":"apple","quantity":7,"__faust":{"ns":"app.Order"}}"#
/// );
/// ```
///
/// Keys: `namespace` (the `ns` written, default the module path with dots plus the struct name)
/// and `include_metadata` (`false` leaves `__faust` out; default `true`). The struct gets serde's
/// `Serialize` and `Deserialize` and `faust_runtime::Record`; a `Serialize`/`Deserialize` in its
/// own `#[derive(..)]` is taken over, so put `#[record]` above the derive. Every `#[serde(..)]`
/// attribute on the struct and its fields works as with serde's derive. Decoding accepts JSON
/// with or without `__faust`. `faust_runtime::record` has field helpers for Faust's encodings of
/// dates, times, datetimes and bytes.
///
/// On an enum whose variants each hold one record type, `#[record]` (no keys) makes a
/// polymorphic record, for topics that carry several record types as Faust's `value_type=None`
/// does: each variant encodes as its record with its namespace, and decoding picks the variant
/// by `__faust.ns`. An unknown namespace is a decoding error, unless one variant is marked
/// `#[record(other)]` to take those records (as `serde_json::Value` or any type that decodes
/// from them). See `faust_runtime::record::Polymorphic`.
///
/// ```
/// # use faust_runtime::prelude::*;
/// # #[record(namespace = "app.Order")]
/// # #[derive(Clone, Debug)]
/// # pub struct Order { pub id: u64 }
/// # #[record(namespace = "app.Refund")]
/// # #[derive(Clone, Debug)]
/// # pub struct Refund { pub id: u64 }
/// #[record]
/// #[derive(Clone, Debug)]
/// pub enum Event {
///     Order(Order),
///     Refund(Refund),
///     #[record(other)]
///     Unknown(serde_json::Value),
/// }
///
/// let refund: Event = serde_json::from_str(r#"{"id":3,"__faust":{"ns":"app.Refund"}}"#).unwrap();
/// assert!(matches!(refund, Event::Refund(Refund { id: 3 })));
/// let other: Event = serde_json::from_str(r#"{"x":1,"__faust":{"ns":"app.Other"}}"#).unwrap();
/// assert!(matches!(other, Event::Unknown(_)));
/// ```
#[proc_macro_attribute]
pub fn record(attr: TokenStream, item: TokenStream) -> TokenStream {
    record::expand(attr.into(), item.into()).into()
}
