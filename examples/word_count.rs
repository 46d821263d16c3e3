//! Word count: lines come in on `wc-lines`; one agent splits them into words and repartitions
//! them by word onto `wc-words` (so each word always lands in the same partition); another
//! counts them in the table `word-counts`, whose changelog `word-count-word-counts-changelog`
//! survives restarts and moves with its partitions. A timer prints the counts this worker holds.
//!
//! On the embedded broker a timer also feeds sample lines, so there is something to count.
//!
//! ```text
//! cargo run --example word_count                                      # embedded broker
//! FAUST_STORE=redb:// cargo run --example word_count -- --broker kafka://localhost:9092
//! ```
//!
//! (`group_by` would do the repartitioning in one line; this example does it by hand, sending
//! each word keyed by itself, which is what `group_by` does.)

use faust_runtime::prelude::*;

/// Lines of text, as they come.
#[topic(name = "wc-lines", key = String, value = String, partitions = 4)]
struct Lines;

/// Words, keyed by the word: the table's partitions follow these.
#[topic(name = "wc-words", key = String, value = String, partitions = 4)]
struct Words;

/// Occurrences of each word.
#[table(name = "word-counts", key = String, value = u64, default = 0, partitions = 4)]
struct WordCounts;

/// Splits lines into lowercase words, each sent keyed by itself.
#[agent(Lines)]
async fn split(mut lines: Stream<Lines>) -> Result<()> {
    while let Some(line) = lines.next().await {
        for word in line.split(|c: char| !c.is_alphanumeric()) {
            if !word.is_empty() {
                let word = word.to_lowercase();
                Words.send_soon(word.clone(), word)?;
            }
        }
    }
    Ok(())
}

/// Counts each word in the table (in the word's partition).
#[agent(Words)]
async fn count(mut words: Stream<Words>) -> Result<()> {
    while let Some(word) = words.next().await {
        WordCounts.update(word, |n| *n += 1)?;
    }
    Ok(())
}

/// Prints the counts held here, most frequent first.
#[timer(interval = "2s")]
async fn report() -> Result<()> {
    let mut counts = WordCounts.items()?;
    if counts.is_empty() {
        return Ok(());
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let top: Vec<String> = counts
        .iter()
        .take(5)
        .map(|(w, n)| format!("{w}={n}"))
        .collect();
    println!("{} words, top: {}", counts.len(), top.join(" "));
    Ok(())
}

const SAMPLE: &[&str] = &[
    "the quick brown fox jumps over the lazy dog",
    "the dog sleeps",
    "a fox is quick",
];

/// Feeds sample lines on the embedded broker.
#[timer(interval = "500ms")]
async fn sample_lines() -> Result<()> {
    if App::current()?.transport().url().starts_with("memory") {
        for line in SAMPLE {
            Lines.send_soon("", line.to_string())?;
        }
    }
    Ok(())
}

faust_runtime::main!(id = "word-count");
