//! The topic watchdog: a worker checks, every `topic_check_interval`, that the topics it uses
//! still exist on the broker. One that disappeared (deleted, or a broker that lost its data) is
//! reported — logged, in [`crate::Health::missing_topics`] — and, per `on_missing_topic`,
//! recreated with its declared settings (the default) or the worker stops with an error naming
//! it. The worker never sits silent on a topic that is gone.

use crate::app::App;
use crate::error::Error;
use crate::settings::MissingTopicPolicy;
use crate::topic::TopicSpec;
use std::collections::HashSet;
use tokio::sync::watch;

/// Runs until `stop` turns true; see the module docs.
pub(crate) async fn watch_topics(
    app: App,
    topics: Vec<&'static TopicSpec>,
    mut stop: watch::Receiver<bool>,
) {
    let every = app.settings().topic_check_interval;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let present: HashSet<String> = match app.transport().list_topics().await {
            Ok(list) => list.into_iter().map(|t| t.name).collect(),
            Err(e) => {
                tracing::debug!(error = %e, "topic check skipped: the broker did not answer");
                continue;
            }
        };
        let missing: Vec<&'static TopicSpec> = topics
            .iter()
            .copied()
            .filter(|t| !present.contains(t.name))
            .collect();
        app.stats()
            .set_missing_topics(missing.iter().map(|t| t.name.to_string()).collect());
        let mut still_missing = Vec::new();
        for spec in missing {
            match app.settings().on_missing_topic {
                MissingTopicPolicy::Stop => {
                    app.fail(Error::state(format!(
                        "topic '{}' is gone from the broker {} (deleted, or the broker lost its data); on_missing_topic is stop",
                        spec.name,
                        crate::redact::redact_url(app.transport().url())
                    )));
                    return;
                }
                MissingTopicPolicy::Recreate => {
                    tracing::warn!(
                        topic = spec.name,
                        broker = %crate::redact::redact_url(app.transport().url()),
                        "topic is gone from the broker (deleted, or the broker lost its data); recreating it with its declared settings"
                    );
                    match app.recreate_topic(spec).await {
                        Ok(partitions) => {
                            app.stats().record_recreated_topic();
                            tracing::info!(topic = spec.name, partitions, "topic recreated");
                        }
                        Err(e) => {
                            tracing::warn!(topic = spec.name, error = %e, "could not recreate the topic; trying again");
                            still_missing.push(spec.name.to_string());
                        }
                    }
                }
            }
        }
        app.stats().set_missing_topics(still_missing);
    }
}
