//! Running the consume driver on a thread of its own, inside the app's tokio runtime.
//!
//! On a multi-thread runtime, a task woken by another task of the same worker runs next on
//! that worker (tokio's "LIFO slot"), and is not stolen by an idle one. The driver wakes the
//! agents and the agents wake the driver, so as tasks they took turns on one worker while the
//! other idled. On a thread of its own the driver polls the transport while the agents decode
//! on the workers; the runtime's timers and I/O keep serving it (`Handle::block_on`).
//!
//! Only a consumer that works per record while polled asks for it (Kafka's copies records out
//! of librdkafka); the embedded broker's consumer hands over shared bytes, and on a thread of
//! its own the wakes between threads cost more than its polls (its agent ran at 0.6 s per
//! million records instead of 0.47 s). A current-thread runtime has no second worker to gain,
//! and its timers run only inside its own `block_on`: there the driver stays a task too.

use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tokio::runtime::{Handle, RuntimeFlavor};

/// How a future run by [`spawn`] ended: its output, or the message of its panic.
pub(crate) type Ended<T> = std::result::Result<T, String>;

/// Runs `fut` on a thread named `name` of its own when `own` is set and the runtime is a
/// multi-thread one; else as a task.
/// The returned future resolves when it ends: with its output, or with the message of its
/// panic. If the runtime shuts down first, `fut` is dropped (as tasks are) and the returned
/// future resolves to an error saying so.
///
/// Must be called inside a tokio runtime.
pub(crate) fn spawn<F>(
    name: &str,
    own: bool,
    fut: F,
) -> impl Future<Output = Ended<F::Output>> + Send
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let caught = AssertUnwindSafe(fut)
        .catch_unwind()
        .map(|r| r.map_err(|p| crate::error::panic_message(p.as_ref())));
    let handle = Handle::current();
    let started = match handle.runtime_flavor() {
        RuntimeFlavor::MultiThread if own => {
            // Dropped with the runtime's tasks when it shuts down: the thread then drops `fut`
            // and ends, instead of waiting for wakes that no longer come.
            let (alive, gone) = tokio::sync::oneshot::channel::<()>();
            let keeper = handle.spawn(async move {
                let _alive = alive;
                std::future::pending::<()>().await
            });
            let keeper_abort = keeper.abort_handle();
            let on_thread = handle.clone();
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    on_thread.block_on(async move {
                        tokio::select! {
                            biased;
                            out = caught => {
                                let _ = tx.send(out);
                            }
                            _ = gone => {}
                        }
                    });
                    keeper.abort();
                })
                .map(drop)
                .map_err(|e| {
                    keeper_abort.abort();
                    e.to_string()
                })
        }
        _ => {
            handle.spawn(async move {
                let _ = tx.send(caught.await);
            });
            Ok(())
        }
    };
    async move {
        if let Err(e) = started {
            return Err(format!("cannot start its thread: {e}"));
        }
        match rx.await {
            Ok(out) => out,
            Err(_) => Err("it was dropped with the runtime".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn on_a_multi_thread_runtime_the_future_runs_on_its_own_thread_and_returns_its_output() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let name = rt.block_on(async {
            spawn("own-thread-test", true, async {
                // The runtime's timers serve it (a sleep without them panics).
                tokio::time::sleep(Duration::from_millis(1)).await;
                std::thread::current().name().map(str::to_string)
            })
            .await
            .unwrap()
        });
        assert_eq!(name.as_deref(), Some("own-thread-test"));
    }

    /// The name of the thread a future spawned on `rt` (asking for a thread when `own`) ran on.
    fn ran_on(rt: tokio::runtime::Runtime, own: bool) -> Option<String> {
        rt.block_on(async {
            spawn("own-thread-test", own, async {
                std::thread::current().name().map(str::to_string)
            })
            .await
            .unwrap()
        })
    }

    #[test]
    fn on_a_current_thread_runtime_or_unasked_the_future_is_a_task() {
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_ne!(ran_on(current, true).as_deref(), Some("own-thread-test"));
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        assert_ne!(ran_on(multi, false).as_deref(), Some("own-thread-test"));
    }

    #[test]
    fn a_panic_is_reported_with_its_message() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let r = rt.block_on(async {
            spawn("own-thread-test", true, async {
                if std::hint::black_box(true) {
                    panic!("the driver broke");
                }
            })
            .await
        });
        let why = r.unwrap_err();
        assert!(why.contains("the driver broke"), "{why}");
    }

    /// A runtime dropped while the future still waits: the drop returns (the thread does not
    /// keep waiting), and the future is dropped.
    #[test]
    fn a_runtime_shut_down_under_it_drops_it_and_ends_the_thread() {
        struct Dropped(mpsc::Sender<()>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let (dropped_tx, dropped) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let (started_tx, started) = tokio::sync::oneshot::channel();
            // Kept (not awaited) until the runtime is gone.
            let mut ended = None;
            rt.block_on(async {
                ended = Some(spawn("own-thread-test", true, async move {
                    let _d = Dropped(dropped_tx);
                    let _ = started_tx.send(());
                    std::future::pending::<()>().await
                }));
                started.await.unwrap();
            });
            drop(rt);
            drop(ended);
            let _ = done_tx.send(());
        });
        let wait = Duration::from_secs(20);
        done.recv_timeout(wait)
            .expect("dropping the runtime returns");
        dropped
            .recv_timeout(wait)
            .expect("the future is dropped with the runtime");
    }
}
