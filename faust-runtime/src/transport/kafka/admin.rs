//! Topic management: create, delete, list and describe topics with rdkafka's admin client.

use super::{check_topic_name, Shared, REQUEST_TIMEOUT};
use crate::error::{Error, Result};
use crate::transport::{NewTopic, TopicDescription};
use rdkafka::admin::{
    AdminOptions, ConfigResourceResult, ConfigSource, NewPartitions, NewTopic as KafkaNewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT))
}

/// Topic names and partition counts from the broker's metadata, internal (`__`) topics left out.
async fn metadata(shared: &Shared) -> Result<Vec<(String, i32)>> {
    let admin = shared.admin()?;
    let url = shared.url.clone();
    shared
        .blocking(move || {
            let md = admin
                .inner()
                .fetch_metadata(None, REQUEST_TIMEOUT)
                .map_err(|e| Error::broker(&url, format!("cannot fetch metadata: {e}")))?;
            Ok(md
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
                .map(|t| (t.name().to_string(), t.partitions().len() as i32))
                .collect())
        })
        .await
}

/// The configuration entries of each topic that were set (not defaults).
async fn topic_configs(shared: &Shared, names: &[&str]) -> Result<Vec<BTreeMap<String, String>>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let admin = shared.admin()?;
    let specs: Vec<ResourceSpecifier<'_>> =
        names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let results = admin
        .describe_configs(specs.iter(), &options())
        .await
        .map_err(|e| Error::broker(&shared.url, format!("cannot describe topic configs: {e}")))?;
    Ok(results.into_iter().map(set_entries).collect())
}

/// The entries set on the topic itself.
///
/// A Kafka broker lists every topic config with its source; the ones set on the topic come from
/// `DynamicTopic` (older brokers only say "not default"). Some Kafka-protocol brokers list only
/// the configs set on the topic and flag them all as defaults: a short listing in which nothing is
/// marked otherwise is taken as such.
fn set_entries(result: ConfigResourceResult) -> BTreeMap<String, String> {
    let entries = match result {
        Ok(resource) => resource.entries,
        Err(code) => {
            tracing::debug!(error = %code, "topic configs not available");
            return BTreeMap::new();
        }
    };
    let flagged = entries.iter().any(|e| {
        !e.is_default || !matches!(e.source, ConfigSource::Default | ConfigSource::Unknown)
    });
    let full_listing = flagged || entries.len() >= FULL_LISTING;
    entries
        .into_iter()
        .filter(|e| {
            !full_listing
                || matches!(e.source, ConfigSource::DynamicTopic)
                || (matches!(e.source, ConfigSource::Unknown) && !e.is_default)
        })
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect()
}

/// Kafka lists 30+ configs for every topic; a listing this long is a full one.
const FULL_LISTING: usize = 20;

pub(super) async fn create_topic(shared: &Shared, topic: &NewTopic) -> Result<()> {
    check_topic_name(&topic.name)?;
    if topic.partitions < 1 {
        return Err(Error::config(format!(
            "topic '{}': partitions must be at least 1, got {}",
            topic.name, topic.partitions
        )));
    }
    if topic.replication_factor < 1 {
        return Err(Error::config(format!(
            "topic '{}': replication factor must be at least 1, got {}",
            topic.name, topic.replication_factor
        )));
    }
    for (k, v) in &topic.config {
        if k.contains('\0') || v.contains('\0') {
            return Err(Error::config(format!(
                "topic '{}': config {k:?}={v:?} contains a NUL byte",
                topic.name
            )));
        }
    }
    let admin = shared.admin()?;
    let mut new = KafkaNewTopic::new(
        &topic.name,
        topic.partitions,
        TopicReplication::Fixed(i32::from(topic.replication_factor)),
    );
    for (k, v) in &topic.config {
        new = new.set(k, v);
    }
    let results = admin.create_topics([&new], &options()).await.map_err(|e| {
        Error::broker(
            &shared.url,
            format!("cannot create topic '{}': {e}", topic.name),
        )
    })?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                return Err(Error::TopicExists(topic.name.clone()))
            }
            Err((name, code)) => {
                return Err(Error::broker(
                    &shared.url,
                    format!("cannot create topic '{name}': {code}"),
                ))
            }
        }
    }
    wait_visible(shared, &topic.name, true).await;
    Ok(())
}

pub(super) async fn delete_topic(shared: &Shared, name: &str) -> Result<()> {
    check_topic_name(name)?;
    let admin = shared.admin()?;
    let results = admin
        .delete_topics(&[name], &options())
        .await
        .map_err(|e| Error::broker(&shared.url, format!("cannot delete topic '{name}': {e}")))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                return Err(Error::UnknownTopic(name.to_string()))
            }
            Err((_, code)) => {
                return Err(Error::broker(
                    &shared.url,
                    format!("cannot delete topic '{name}': {code}"),
                ))
            }
        }
    }
    wait_visible(shared, name, false).await;
    Ok(())
}

pub(super) async fn create_partitions(shared: &Shared, name: &str, total: i32) -> Result<()> {
    check_topic_name(name)?;
    let total = usize::try_from(total)
        .map_err(|_| Error::config(format!("topic '{name}': partition count {total} < 0")))?;
    let admin = shared.admin()?;
    let results = admin
        .create_partitions(&[NewPartitions::new(name, total)], &options())
        .await
        .map_err(|e| {
            Error::broker(
                &shared.url,
                format!("cannot add partitions to topic '{name}': {e}"),
            )
        })?;
    for r in results {
        if let Err((_, code)) = r {
            return Err(match code {
                RDKafkaErrorCode::UnknownTopicOrPartition => Error::UnknownTopic(name.to_string()),
                code => Error::broker(
                    &shared.url,
                    format!("cannot add partitions to topic '{name}': {code}"),
                ),
            });
        }
    }
    Ok(())
}

/// Waits (briefly) until the broker's metadata shows the topic as created or deleted, so what
/// follows (a subscription, a describe) sees it. Best effort: a slow broker only costs time.
async fn wait_visible(shared: &Shared, name: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match metadata(shared).await {
            Ok(topics) if topics.iter().any(|(n, _)| n == name) == present => return,
            _ if Instant::now() >= deadline => {
                tracing::debug!(
                    topic = name,
                    present,
                    "topic change not visible in metadata yet"
                );
                return;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

pub(super) async fn list_topics(shared: &Shared) -> Result<Vec<TopicDescription>> {
    let mut topics = metadata(shared).await?;
    topics.sort();
    let names: Vec<&str> = topics.iter().map(|(n, _)| n.as_str()).collect();
    let configs = match topic_configs(shared, &names).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "listing topics without their configs");
            Vec::new()
        }
    };
    let mut configs = configs.into_iter();
    Ok(topics
        .into_iter()
        .map(|(name, partitions)| TopicDescription {
            name,
            partitions,
            config: configs.next().unwrap_or_default(),
        })
        .collect())
}

pub(super) async fn describe_topic(
    shared: &Shared,
    name: &str,
) -> Result<Option<TopicDescription>> {
    check_topic_name(name)?;
    let Some((name, partitions)) = metadata(shared).await?.into_iter().find(|(n, _)| n == name)
    else {
        return Ok(None);
    };
    let config = topic_configs(shared, &[name.as_str()])
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok(Some(TopicDescription {
        name,
        partitions,
        config,
    }))
}
