//! The dashboard in a real browser: headless Chromium loads `/` of a running worker, before and
//! after records are sent; the page's numbers (drawn by its own script from `/api/dashboard`)
//! must move with what the agent processed. Screenshots of both land in `target/`.
//!
//! Needs Debian's `chromium` (scripts/test.sh installs it; `FAUST_CHROMIUM` names another
//! binary). Without it the test fails, unless `FAUST_SKIP_BROWSER=1` asks to skip it.

mod common;
#[path = "common/http.rs"]
mod http;

use common::unique;
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod shown {
    use super::*;

    #[topic(name = "shown-in", key = String, value = u64, partitions = 2, on_error = "dead_letter")]
    pub struct ShownIn;

    #[topic(name = "shown-out", value = u64, partitions = 1)]
    pub struct ShownOut;

    #[agent(ShownIn, sink = [ShownOut])]
    async fn tally(mut values: Stream<ShownIn>, out: Yield<u64>) -> Result<()> {
        while let Some(v) = values.next().await {
            if v % 10 == 9 {
                return Err(faust_runtime::Error::state(format!("{v} ends in nine")));
            }
            out.send(v).await?;
        }
        Ok(())
    }

    #[timer(interval = "200ms")]
    async fn pulse() -> Result<()> {
        Ok(())
    }
}

/// The Chromium binary, or `None` when the test is to be skipped.
fn chromium() -> Option<PathBuf> {
    if std::env::var("FAUST_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("FAUST_SKIP_BROWSER=1: skipping the browser test");
        return None;
    }
    let candidates = std::env::var("FAUST_CHROMIUM")
        .map(|c| vec![c])
        .unwrap_or_else(|_| vec!["chromium".into(), "chromium-browser".into()]);
    for c in &candidates {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(c))
                .find(|p| p.is_file())
        });
        if let Some(p) = found.or_else(|| Path::new(c).is_file().then(|| PathBuf::from(c))) {
            return Some(p);
        }
    }
    panic!(
        "no Chromium found (tried {candidates:?}): run scripts/test.sh, which installs Debian's \
         `chromium`, set FAUST_CHROMIUM, or FAUST_SKIP_BROWSER=1 to skip this test"
    );
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=PATH`), letting the
/// page's script run for a few seconds of virtual time; returns what it printed.
async fn browse(chrome: &Path, profile: &Path, url: &str, mode: &str) -> String {
    let run = tokio::process::Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,860",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium did not finish within 90 s")
        .expect("chromium could not run");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number in the cell `data-field="field"` of the first row that has `row` (e.g.
/// `data-agent="tally"`), as the page drew it.
fn cell(dom: &str, row: &str, field: &str) -> Option<u64> {
    let start = dom.find(row)?;
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    let tr = &dom[start..end];
    let at = tr.find(&format!("data-field=\"{field}\""))?;
    let rest = &tr[at..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')? + open;
    rest[open..close].trim().parse().ok()
}

async fn metrics(addr: SocketAddr) -> String {
    http::get(addr, "/metrics")
        .await
        .map(|r| r.1)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_numbers_moving_in_chromium() {
    let Some(chrome) = chromium() else {
        return;
    };
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    let profile = std::env::temp_dir().join(unique("faust-chromium"));
    let app = App::builder(unique("dashboard"))
        .transport(Arc::new(MemoryBroker::new()))
        .include_module(module_path!().to_string() + "::shown")
        .commit_interval(Duration::from_millis(50))
        .configure(|s| {
            s.web.enabled = true;
            s.web.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
            s.web.port = 0;
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = app.web_addr().unwrap();
    let url = format!("http://{addr}/");

    let before = browse(&chrome, &profile, &url, "--dump-dom").await;
    assert!(before.contains("data-agent=\"tally\""), "{before}");
    assert_eq!(
        cell(&before, "data-agent=\"tally\"", "processed"),
        Some(0),
        "{before}"
    );
    let shot_before = target.join("dashboard-before.png");
    browse(
        &chrome,
        &profile,
        &url,
        &format!("--screenshot={}", shot_before.display()),
    )
    .await;
    assert!(std::fs::metadata(&shot_before).unwrap().len() > 1000);

    let input = shown::ShownIn.on(&app);
    for v in 0..40u64 {
        input
            .record(v)
            .key(format!("k{v}"))
            .send_and_wait()
            .await
            .unwrap();
    }
    // 4 of the 40 end in nine and fail; wait until the metrics say all 36 others are done.
    let done = "faust_events_processed_total{agent=\"tally\",topic=\"shown-in\"} 36";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !metrics(addr).await.contains(done) {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            metrics(addr).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let after = browse(&chrome, &profile, &url, "--dump-dom").await;
    let agent = "data-agent=\"tally\"";
    assert_eq!(cell(&after, agent, "processed"), Some(36), "{after}");
    assert_eq!(cell(&after, agent, "received"), Some(40), "{after}");
    assert_eq!(cell(&after, agent, "failed"), Some(4), "{after}");
    assert_eq!(cell(&after, agent, "restarts"), Some(4), "{after}");
    assert_eq!(
        cell(&after, "data-topic=\"shown-out\"", "sent"),
        Some(36),
        "{after}"
    );
    assert!(after.contains("ends in nine"), "recent errors are listed");
    // The topology, drawn from /api/topology.
    for drawn in [
        "data-node=\"topic:shown-in\"",
        "data-node=\"agent:tally\"",
        "data-node=\"topic:shown-in-dlq\"",
        "data-node=\"timer:pulse\"",
        "data-edge=\"topic:shown-in|agent:tally\"",
        "data-edge=\"agent:tally|topic:shown-out\"",
        "data-edge=\"topic:shown-in|topic:shown-in-dlq\"",
    ] {
        assert!(after.contains(drawn), "{drawn} not drawn: {after}");
    }
    let shot_after = target.join("dashboard-after.png");
    browse(
        &chrome,
        &profile,
        &url,
        &format!("--screenshot={}", shot_after.display()),
    )
    .await;
    assert!(std::fs::metadata(&shot_after).unwrap().len() > 1000);
    app.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}
