//! What the table view tests share: the web server on a free local port, and the check that a
//! key asked of any worker is answered with the value held by the worker that has it.
#![allow(dead_code)]

use crate::http;
use faust_runtime::App;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// The web server on 127.0.0.1, a free port.
pub fn local_web(s: &mut faust_runtime::Settings) {
    s.web.enabled = true;
    s.web.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    s.web.port = 0;
}

async fn json(app: &App, path: &str) -> (u16, Value) {
    let (code, body) = http::get(app.web_addr().expect("web server on"), path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (code, v)
}

fn partitions(v: &Value) -> BTreeSet<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// Waits until the workers split the table's partitions between them and each knows the
/// others with their partitions; then asks every worker for every key of `keys` and checks the
/// answer: the value `expected(key)`, from the worker holding the key.
pub async fn check_routing(
    apps: &[&App],
    table: &str,
    keys: &[String],
    expected: impl Fn(&str) -> u64,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let summary_path = format!("/table/{table}?limit=100000");
    let summaries = loop {
        let mut s = Vec::new();
        for a in apps {
            s.push(json(a, &summary_path).await.1);
        }
        let all: Vec<BTreeSet<i64>> = s
            .iter()
            .map(|v| partitions(&v["active_partitions"]))
            .collect();
        let total = s[0]["partitions"].as_i64().unwrap_or(0);
        let disjoint = all.iter().map(BTreeSet::len).sum::<usize>() as i64 == total;
        let union: BTreeSet<i64> = all.iter().flatten().copied().collect();
        let split = all.iter().all(|p| !p.is_empty()) && disjoint && union.len() as i64 == total;
        // Each worker knows every other with the partitions that one has.
        let known = s.iter().all(|v| {
            s.iter().filter(|o| o["worker"] != v["worker"]).all(|o| {
                v["peers"].as_array().is_some_and(|peers| {
                    peers.iter().any(|p| {
                        p["url"] == o["worker"]
                            && partitions(&p["partitions"]) == partitions(&o["active_partitions"])
                    })
                })
            })
        });
        let counted = keys.iter().all(|k| {
            s.iter().any(|v| {
                v["items"].as_array().is_some_and(|items| {
                    items
                        .iter()
                        .any(|i| i["key"] == k.as_str() && i["value"] == expected(k))
                })
            })
        });
        if split && known && counted {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the workers did not split the partitions and learn of each other: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut owners = BTreeSet::new();
    let mut routed = 0;
    for k in keys {
        let owner = summaries
            .iter()
            .find(|v| {
                v["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| i["key"] == k.as_str()))
            })
            .map(|v| v["worker"].clone())
            .unwrap_or_else(|| panic!("no worker holds {k}"));
        owners.insert(owner.to_string());
        for (a, mine) in apps.iter().zip(&summaries) {
            let (code, v) = json(a, &format!("/table/{table}/{k}")).await;
            assert_eq!(code, 200, "{k} asked of {}: {v}", mine["worker"]);
            assert_eq!(v["value"], expected(k), "{k}: {v}");
            assert_eq!(v["key"], k.as_str());
            assert_eq!(v["worker"], owner, "{k} asked of {}: {v}", mine["worker"]);
            if mine["worker"] != owner {
                routed += 1;
            }
        }
        // A key as JSON text is the same key.
        let (code, v) = json(apps[0], &format!("/table/{table}/%22{k}%22")).await;
        assert_eq!((code, &v["value"]), (200, &Value::from(expected(k))), "{v}");
    }
    assert_eq!(
        owners.len(),
        apps.len(),
        "every worker holds some of the keys"
    );
    assert!(routed > 0);
}
