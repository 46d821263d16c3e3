//! Word count: lines come in on `wc-lines`; one agent splits them into words onto `wc-words`;
//! another repartitions the words by word with `group_by` (so each word always lands in the same
//! partition) and counts them in the table `word-counts`, whose changelog
//! `word-count-word-counts-changelog` survives restarts and moves with its partitions, and per
//! minute in the tumbling-window table `words-per-minute`. A timer prints the counts this worker
//! holds; each closed minute is printed once.
//!
//! On the embedded broker a timer also feeds sample lines, so there is something to count.
//!
//! ```text
//! cargo run --example word_count                                      # embedded broker
//! FAUST_STORE=redb:// cargo run --example word_count -- --broker kafka://localhost:9092
//! ```

use faust_runtime::prelude::*;

/// Lines of text, as they come.
#[topic(name = "wc-lines", key = String, value = String, partitions = 4)]
struct Lines;

/// Words, in the partition of the line they came from.
#[topic(name = "wc-words", key = String, value = String, partitions = 4)]
struct Words;

/// Occurrences of each word.
#[table(name = "word-counts", key = String, value = u64, default = 0, partitions = 4)]
struct WordCounts;

/// Occurrences of each word per minute of event time, kept an hour.
#[table(name = "words-per-minute", key = String, value = u64, partitions = 4,
        tumbling = "1m", expires = "1h", on_window_close = minute_closed)]
struct WordsPerMinute;

fn minute_closed(word: &str, (start, _end): (i64, i64), n: &u64) {
    println!("minute starting at {start} ms: {word} x{n}");
}

/// Splits lines into lowercase words.
#[agent(Lines)]
async fn split(mut lines: Stream<Lines>) -> Result<()> {
    while let Some(line) = lines.next().await {
        for word in line.split(|c: char| !c.is_alphanumeric()) {
            if !word.is_empty() {
                Words.send_soon("", word.to_lowercase())?;
            }
        }
    }
    Ok(())
}

/// Repartitions the words by word (through `count-wc-words-word-repartition`), then counts each
/// in the tables, in the word's partition.
#[agent(Words)]
async fn count(words: Stream<Words>) -> Result<()> {
    let mut words = words.group_by(|w: &String| w.clone(), "word")?;
    while let Some(word) = words.next().await {
        WordCounts.update(word.clone(), |n| *n += 1)?;
        WordsPerMinute.update(word, |n| *n += 1)?;
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
