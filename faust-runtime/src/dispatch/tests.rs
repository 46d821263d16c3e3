//! Commit bookkeeping: what may be committed is, per partition, the lowest "next offset" over
//! every agent reading it, only for assigned partitions, and never past an unfinished event.

use super::*;
use crate::transport::RawMessage;

/// A sink that hands every record over at once and leaves acknowledging to the test.
struct Manual {
    acks: Arc<AckTable>,
}

impl Sink for Manual {
    fn deliver(&mut self, msg: &RawMessage<'_>) -> Deliver {
        self.acks.handed_over(msg.partition, msg.offset);
        Deliver::Sent
    }
    fn acks(&self) -> Arc<AckTable> {
        self.acks.clone()
    }
}

fn msg(topic: &str, partition: i32, offset: i64) -> RawMessage<'_> {
    RawMessage {
        topic,
        partition,
        offset,
        timestamp: 0,
        key: None,
        value: Some(b"{}"),
        headers: None,
    }
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition {
        topic: topic.into(),
        partition,
    }
}

fn two_agents() -> (
    Dispatcher,
    Arc<AckTable>,
    Arc<AckTable>,
    watch::Sender<bool>,
) {
    let (a, b) = (AckTable::new(2), AckTable::new(2));
    let mut builder = DispatcherBuilder::new();
    builder.add("t", 2, Box::new(Manual { acks: a.clone() }));
    builder.add("t", 2, Box::new(Manual { acks: b.clone() }));
    let (stop, rx) = watch::channel(false);
    (builder.build(rx, Duration::from_millis(50)), a, b, stop)
}

#[tokio::test]
async fn commits_the_slowest_agents_progress_per_assigned_partition() {
    let (mut d, a, b, _stop) = two_agents();
    d.progress().assign(&[tp("t", 0), tp("t", 1)]);
    for o in 0..5 {
        d.dispatch(&msg("t", 0, o)).await.unwrap();
    }
    assert!(d.take_commits().is_empty(), "nothing done yet");
    a.ack(0, 3); // agent A done with 0..=3
    assert!(d.take_commits().is_empty(), "agent B has done nothing");
    b.ack(0, 1);
    let c = d.take_commits();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].partition, c[0].offset),
        (0, 2),
        "min over agents, next offset"
    );
    assert!(d.take_commits().is_empty(), "no progress, no commit");
    b.ack(0, 4);
    assert_eq!(d.take_commits()[0].offset, 4, "A is now the slowest");
    assert!(!d.progress().caught_up(None), "offset 4 not done by A");
    a.ack(0, 4);
    assert!(d.progress().caught_up(None));
    assert_eq!(d.take_commits()[0].offset, 5);
}

#[tokio::test]
async fn unassigned_partitions_are_not_committed_and_reassignment_forgets_old_acks() {
    let (mut d, a, b, _stop) = two_agents();
    d.progress().assign(&[tp("t", 1)]);
    d.dispatch(&msg("t", 0, 0)).await.unwrap();
    a.ack(0, 0);
    b.ack(0, 0);
    assert!(d.take_commits().is_empty(), "partition 0 is not assigned");
    d.progress().assign(&[tp("t", 0)]);
    assert!(
        d.take_commits().is_empty(),
        "acks from before the assignment are forgotten"
    );
}

#[tokio::test]
async fn revoke_waits_for_in_flight_events_then_commits_them() {
    let (mut d, a, b, _stop) = two_agents();
    d.progress().assign(&[tp("t", 0)]);
    d.dispatch(&msg("t", 0, 0)).await.unwrap();
    d.dispatch(&msg("t", 0, 1)).await.unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    let agents = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        a2.ack(0, 1);
        b2.ack(0, 1);
    });
    let c = d.revoke(&[tp("t", 0)]).await;
    agents.await.unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].offset, 2);
    d.dispatch(&msg("t", 0, 2)).await.unwrap();
    a.ack(0, 2);
    b.ack(0, 2);
    assert!(
        d.take_commits().is_empty(),
        "revoked partitions are no longer committed"
    );
}

#[tokio::test]
async fn a_closed_agent_does_not_hold_up_draining_and_caps_the_commit() {
    let (mut d, a, b, _stop) = two_agents();
    d.progress().assign(&[tp("t", 0)]);
    for o in 0..3 {
        d.dispatch(&msg("t", 0, o)).await.unwrap();
    }
    a.ack(0, 2);
    b.ack(0, 0);
    b.close(); // stopped for good after offset 0
    let finals = d.drain().await;
    assert_eq!(finals.len(), 1);
    assert_eq!(
        finals[0].offset, 1,
        "nothing past the stopped agent's last done event"
    );
}

#[tokio::test]
async fn records_of_partitions_beyond_the_known_count_are_refused() {
    let (mut d, _a, _b, _stop) = two_agents();
    let err = d.dispatch(&msg("t", 5, 0)).await.unwrap_err();
    assert!(err.to_string().contains("partition 5"), "{err}");
    // Unknown topics are ignored, not fatal.
    d.dispatch(&msg("other", 0, 0)).await.unwrap();
}
