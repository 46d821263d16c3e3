//! # faust-rs runtime
//!
//! Faust-style stream processing for Rust. Declare topics and channels with `#[topic]` and
//! `#[channel]`, consume them with `#[agent]` functions, run periodic work with `#[timer]`, and
//! let `main!` generate the worker:
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//!
//! #[derive(Serialize, Deserialize, Clone, Debug)]
//! pub struct Order { id: u64, product: String, quantity: u32 }
//!
//! #[topic(name = "orders", key = String, value = Order, partitions = 8)]
//! struct Orders;
//!
//! #[agent(Orders)]
//! async fn process_orders(mut orders: Stream<Orders>) -> Result<()> {
//!     while let Some(order) = orders.next().await {
//!         println!("Processing order: {order:?}");
//!     }
//!     Ok(())
//! }
//!
//! #[timer(interval = "1s")]
//! async fn produce_orders() -> Result<()> {
//!     Orders.send("order-1", Order { id: 1, product: "apple".into(), quantity: 3 }).await?;
//!     Ok(())
//! }
//!
//! faust_runtime::main!(id = "orders-app");
//! ```
//!
//! (`no_run`: the program runs until interrupted; `cargo run --example quickstart` runs it.)
//!
//! Records go through an embedded broker (`memory://`, the default) or Kafka
//! (`--broker kafka://localhost:9092`). Offsets are committed only for events the agents are done
//! with (at least once).

#![warn(missing_docs)]

pub mod agent;
pub mod agent_handle;
mod agent_topic;
pub mod app;
mod arena;
pub mod blocking;
pub mod channel;
mod channel_queue;
pub mod cli;
pub mod codec;
#[cfg(feature = "cron")]
mod crontab;
mod decoder;
pub mod engine;
pub mod error;
pub mod event;
pub mod group_by;
pub mod hooks;
pub mod isolated;
pub mod leader;
pub mod manager;
pub mod metrics;
mod observe;
pub mod operators;
pub mod partitioner;
pub mod pattern;
mod producer;
pub mod record;
pub mod redact;
pub mod registry;
pub mod reply;
pub mod runtime_channel;
pub mod runtime_topic;
pub mod schema;
pub mod sensor;
pub mod settings;
mod startup;
pub mod stream;
pub mod table;
pub mod testing;
pub mod through;
pub mod timer;
pub mod topic;
pub mod topology;
pub mod transport;
pub mod watchdog;
pub mod web;
pub mod worker;

pub use agent::{AgentInput, AgentSpec, Outcome};
pub use agent_handle::AgentApi;
pub use app::{App, AppBuilder, AppState, Health};
pub use channel::{Channel, ChannelApi, ChannelSpec, SourceRef};
pub use clap;
pub use error::{BoxError, Error, Result};
pub use event::Event;
pub use faust_macros::{
    agent, channel, command, crontab, main, page, record, table, task, timer, topic,
};
pub use manager::TopicManager;
pub use pattern::PatternApi;
pub use record::Record;
pub use reply::{NoReply, Yield};
pub use runtime_channel::{ChannelBuilder, DynChannel};
pub use runtime_topic::{create_topic, DynTopic, Dynamic, TopicBuilder};
pub use schema::Schema;
pub use settings::{KafkaSettings, MissingTopicPolicy, Settings, WebSettings};
pub use stream::{Events, Stream};
pub use table::{GlobalTableApi, Table, TableApi, TableHealth};
pub use through::Target;
pub use topic::{Acks, DeliveryGuarantee, ErrorPolicy, RecordBuilder, Topic, TopicApi, TopicSpec};
pub use transport::memory::MemoryBroker;
pub use transport::{DeliveryHandle, Headers, RecordMetadata, TopicPartition, Transport};

/// Everything an app module needs: `use faust_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::{
        agent, channel, command, crontab, page, record, table, task, timer, topic, App, Channel,
        Event, Events, Result, Stream, Table, Topic, Yield,
    };
    pub use futures::StreamExt;
    pub use serde::{Deserialize, Serialize};
}

/// Items generated code uses. Not a public API: may change in any release.
///
/// The macros reach the runtime only through the module named after the version of
/// `faust-macros` they come from (`v0_1_0`), and this crate depends on `faust-macros` with an
/// exact version: a mismatched pair fails to build at the first expansion instead of expanding
/// to code this crate does not have.
#[doc(hidden)]
pub mod __private {
    /// The items of version 0.1.0 of the generated code.
    pub mod v0_1_0 {
        pub use crate::agent::{
            start_agent, start_isolated_agent, start_yielding_agent, timer_future, AgentInput,
            AgentSpec, Outcome, SubscribeCtx,
        };
        pub use crate::agent_handle::AgentApi;
        pub use crate::app::{App, AppBuilder};
        pub use crate::channel::{Channel, ChannelApi, ChannelSpec, SourceRef};
        pub use crate::cli::command::{command_future, CommandSpec};
        pub use crate::cli::send::{send_json, JsonRecord, JsonSendFuture};
        pub use crate::error::Result;
        pub use crate::pattern::PatternApi;
        pub use crate::registry::Registration;
        pub use crate::reply::{__no_sinks, NoReply, SinkFn, Yield};
        pub use crate::stream::{subscribe_channel, subscribe_topic, Stream};
        pub use crate::table::{
            make_set_table, make_table, make_windowed_table, GlobalTableApi, SetTable, SetTableApi,
            Table, TableApi, TableKind, TableRegistration, TableSpec, WindowSpec, WindowTime,
            WindowedTable, WindowedTableApi,
        };
        pub use crate::timer::{TimerKind, TimerSpec};
        pub use crate::topic::{Acks, DeliveryGuarantee, ErrorPolicy, Topic, TopicApi, TopicSpec};
        pub use crate::worker::{hook_future, run_main, MainHooks};
        pub use futures::future::BoxFuture;

        /// What `#[page]` expansions use.
        pub mod web {
            pub use crate::web::PageSpec;
            pub use axum::routing::{delete, get, patch, post, put};
            pub use axum::Router;
        }
        pub use clap;
        pub use inventory;
        pub use serde;

        /// What `#[record]` expansions use.
        pub mod record {
            pub use crate::record::__private::*;
            pub use crate::record::{default_namespace, Polymorphic, Record};
        }

        /// A type a topic can carry: serde both ways, sendable between tasks.
        #[diagnostic::on_unimplemented(
            message = "`{Self}` cannot be a topic key or value: it must implement serde's `Serialize` and `Deserialize`",
            label = "not serializable",
            note = "add `#[derive(Serialize, Deserialize)]` to the type"
        )]
        pub trait TopicType:
            serde::Serialize + serde::de::DeserializeOwned + Send + 'static
        {
        }
        impl<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static> TopicType for T {}

        /// Compile-time check of a topic's key and value types.
        pub const fn check_topic_type<T: TopicType>() {}
    }
}

#[cfg(test)]
mod tests {
    /// The generated code's module is named after the version (the macros compute the same name
    /// from theirs).
    #[test]
    fn private_module_carries_the_version() {
        let expected = format!(
            "v{}",
            env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_")
        );
        assert_eq!(stringify!(v0_1_0), expected);
        let _ = crate::__private::v0_1_0::check_topic_type::<String>;
    }
}
