//! Startup and shutdown hooks set on the builder: `on_startup` runs once the app's topics exist
//! and before any agent consumes (an error there fails `start`), `on_shutdown` once the agents
//! have stopped and their offsets are committed, before the producer's final flush (so it may
//! still send). `main!`'s `before_start` / `after_stop` run around the whole app instead.

use crate::app::App;
use crate::error::{BoxError, Result};
use futures::future::BoxFuture;
use std::sync::Arc;

/// A hook given the app.
pub(crate) type Hook = Arc<dyn Fn(App) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// Makes a hook of an async function taking the app.
pub(crate) fn hook<F, Fut, E>(f: F) -> Hook
where
    F: Fn(App) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    Arc::new(move |app| {
        let fut = f(app);
        Box::pin(async move { fut.await.map_err(Into::into) })
    })
}

/// Runs the startup hooks in order; the first error stops the start.
pub(crate) async fn startup(app: &App, hooks: &[Hook]) -> Result<()> {
    for h in hooks {
        h(app.clone())
            .await
            .map_err(|e| crate::Error::state(format!("a startup hook failed: {e}")))?;
    }
    Ok(())
}

/// Runs the shutdown hooks in order; errors are logged, the others still run.
pub(crate) async fn shutdown(app: &App, hooks: &[Hook]) {
    for h in hooks {
        if let Err(e) = h(app.clone()).await {
            tracing::error!(error = %e, "a shutdown hook failed");
        }
    }
}
