//! The topic manager (Faust's `TopicManager`): create, delete and list topics on the app's broker.

use crate::app::App;
use crate::error::Result;
use crate::transport::{NewTopic, TopicDescription};
use std::collections::BTreeMap;

/// Creates, deletes and lists topics on an app's broker. Get one with [`App::topics`].
pub struct TopicManager<'a> {
    app: &'a App,
}

impl<'a> TopicManager<'a> {
    pub(crate) fn new(app: &'a App) -> Self {
        TopicManager { app }
    }

    /// Creates a topic (the admin operation, untyped; [`TopicManager::declare`] gives a typed
    /// handle). Fails with [`crate::Error::TopicExists`] if it exists.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        config: BTreeMap<String, String>,
    ) -> Result<()> {
        let t = NewTopic {
            name: name.to_string(),
            partitions,
            replication_factor,
            config,
        };
        self.app.transport().create_topic(&t).await?;
        self.app.remember_partitions(name, partitions);
        Ok(())
    }

    /// Defines topic `name` with these settings and creates it on the broker if it does not
    /// exist, returning its typed handle: [`crate::create_topic`] on this manager's app.
    pub async fn declare<K, V>(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        config: &[(&str, &str)],
    ) -> Result<crate::DynTopic<K, V>>
    where
        K: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        V: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        crate::create_topic(self.app, name, partitions, replication_factor, config).await
    }

    /// Deletes a topic. Fails with [`crate::Error::UnknownTopic`] if it does not exist.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        self.app.transport().delete_topic(name).await
    }

    /// Lists the topics on the broker, sorted by name.
    pub async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        let mut v = self.app.transport().list_topics().await?;
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Describes one topic (`None` if it does not exist).
    pub async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>> {
        self.app.transport().describe_topic(name).await
    }
}
