//! The gateway's background tasks: supervision (a task that panics is started again) and the
//! replay of dead letters.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::watch;

use crate::deadletter::{DeadLetter, Entry};
use crate::forward::Delivery;
use crate::gateway::State;

/// How long a background task that failed waits before it is started again the first time;
/// the wait doubles with each restart, up to a minute.
pub(crate) const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Runs the background task that `start` builds until it returns or `stop` is set, starting it
/// again whenever it panics (after `delay`, doubling up to a minute), so that it is never
/// silently gone: each failure is logged as an error with its message. Returns the number of
/// restarts.
pub(crate) async fn supervised<F, T>(
    name: &'static str,
    delay: Duration,
    mut stop: watch::Receiver<bool>,
    mut start: F,
) -> u32
where
    F: FnMut() -> T,
    T: Future<Output = ()> + Send + 'static,
{
    let mut restarts = 0u32;
    loop {
        let failure = match tokio::spawn(start()).await {
            Ok(()) => return restarts,
            Err(e) if e.is_panic() => e.into_panic(),
            // Cancelled: the runtime is shutting down.
            Err(_) => return restarts,
        };
        let message = failure
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| failure.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        restarts += 1;
        if *stop.borrow() {
            tracing::error!(
                task = name,
                "the {name} task failed ({message}) while stopping"
            );
            return restarts;
        }
        tracing::error!(
            task = name,
            restarts,
            "the {name} task failed ({message}); it is started again"
        );
        let wait = delay
            .saturating_mul(1 << (restarts - 1).min(6))
            .min(Duration::from_secs(60));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return restarts,
        }
    }
}

/// Replays the dead-letter file at start and then every `replay_interval`, until stopped.
pub(crate) async fn replay_loop(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let Some(dl) = state.dead_letter.clone() else {
        return;
    };
    if state.replay_interval.is_zero() {
        return;
    }
    loop {
        if *stop.borrow() {
            return;
        }
        if dl.len() > 0 {
            match replay_once(&state, &dl, &stop).await {
                Ok((0, 0)) => {}
                Ok((delivered, kept)) => {
                    tracing::info!(delivered, kept, "dead-letter replay")
                }
                Err(e) => tracing::error!("dead-letter replay failed: {e:#}"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(state.replay_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One replay round: one attempt per entry; an upstream that fails is not tried again in this
/// round. Returns (delivered, kept).
async fn replay_once(
    state: &Arc<State>,
    dl: &Arc<DeadLetter>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<(usize, usize)> {
    let taker = dl.clone();
    let lines = tokio::task::spawn_blocking(move || taker.take()).await??;
    let mut keep = Vec::new();
    let mut down = HashSet::new();
    let mut delivered = 0;
    for line in lines {
        let entry = serde_json::from_str::<Entry>(&line).ok();
        let up = entry
            .as_ref()
            .and_then(|e| state.forwarder.upstream(&e.rule))
            .filter(|up| !down.contains(&up.rule) && !*stop.borrow());
        let (Some(mut entry), Some(up)) = (entry, up) else {
            // Unreadable, no upstream for its rule (now), or not this round: kept as it is.
            keep.push(line);
            continue;
        };
        // In a task of its own: a delivery that panics is a failed one (the entry is kept);
        // it cannot end the round between taking the entries out and putting them back.
        let task = {
            let (state, rule) = (state.clone(), up.rule.clone());
            let (body, id) = (Bytes::from(entry.body.clone()), entry.request_id.clone());
            tokio::spawn(async move {
                let up = state.forwarder.upstream(&rule)?;
                Some(
                    state
                        .forwarder
                        .deliver_with(up, &body, &id, &state.metrics, 1)
                        .await,
                )
            })
        };
        let d = match task.await {
            Ok(Some(d)) => d,
            failed => {
                let error = match failed {
                    Err(e) => format!("the delivery failed: {e}"),
                    Ok(_) => "no upstream".to_owned(),
                };
                tracing::error!(rule = %entry.rule, id = %entry.id, "dead-letter replay: {error}");
                Delivery {
                    delivered: false,
                    attempts: 0,
                    status: None,
                    error: Some(error),
                }
            }
        };
        if d.delivered {
            delivered += 1;
            tracing::info!(rule = %entry.rule, id = %entry.id, "dead letter delivered");
        } else {
            down.insert(up.rule.clone());
            entry.replays += 1;
            entry.status = d.status;
            entry.error = d.error.unwrap_or_default();
            keep.push(serde_json::to_string(&entry).unwrap_or(line));
        }
    }
    let kept = keep.len();
    let putter = dl.clone();
    tokio::task::spawn_blocking(move || putter.put_back(&keep)).await??;
    Ok((delivered, kept))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::watch;

    use super::supervised;

    #[tokio::test]
    async fn a_background_task_that_panics_is_started_again() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (_stop, stopped) = watch::channel(false);
        let counted = runs.clone();
        let restarts = supervised("test", Duration::ZERO, stopped, move || {
            let runs = counted.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("a hostile answer");
                }
            }
        })
        .await;
        assert_eq!((restarts, runs.load(Ordering::SeqCst)), (2, 3));
    }

    #[tokio::test]
    async fn a_task_that_fails_while_stopping_is_not_started_again() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        stop.send(true).unwrap();
        let counted = runs.clone();
        let restarts = supervised("test", Duration::ZERO, stopped, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { panic!("while stopping") }
        })
        .await;
        assert_eq!((restarts, runs.load(Ordering::SeqCst)), (1, 1));
    }
}
