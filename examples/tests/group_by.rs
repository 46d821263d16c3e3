//! Runs the group_by example on the embedded broker: every withdrawal is read back from the
//! repartition topic in its account's partition, with the account's running total.

mod common;

use std::collections::HashMap;
use std::time::Duration;

#[test]
fn group_by_example_puts_each_account_in_one_partition() {
    let f = common::run_until(
        "group_by",
        &[],
        &["withdrawal 9 of"],
        Duration::from_secs(60),
    );
    assert!(
        f.status.success(),
        "exited with {}; stderr:\n{}",
        f.status,
        f.stderr
    );
    let mut partition_of: HashMap<String, String> = HashMap::new();
    let mut lines = 0;
    for line in f.stdout.lines().filter(|l| l.starts_with("account ")) {
        lines += 1;
        // account alice (partition 2 of withdrawals_by_account-withdrawals-account-repartition): ...
        let account = line.split_whitespace().nth(1).unwrap().to_string();
        let partition = line.split_whitespace().nth(3).unwrap().to_string();
        assert!(
            line.contains("of withdrawals_by_account-withdrawals-account-repartition)"),
            "{line}"
        );
        let first = partition_of
            .entry(account.clone())
            .or_insert(partition.clone());
        assert_eq!(*first, partition, "{account} moved partitions: {line}");
    }
    assert!(lines >= 9, "stdout:\n{}", f.stdout);
}
