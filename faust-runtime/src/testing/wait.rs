//! [`wait_for`]: waits for a condition with a deadline (never a fixed sleep).

use crate::error::{Error, Result};
use std::time::Duration;

/// Checks `cond` every few milliseconds until it holds, or fails naming `what` once `timeout`
/// passes. The time is tokio's, so under a paused clock (`start_paused = true`) the deadline is
/// virtual too.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let err = faust_runtime::testing::wait_for("pigs to fly", Duration::from_millis(20), || false)
///     .await
///     .unwrap_err();
/// assert!(err.to_string().contains("pigs to fly"));
/// # }
/// ```
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::state(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
