//! The process's vital tasks — the group committer, the commit-notice
//! listener, the webhook relay — and whether each is still alive.
//!
//! Each runs as a tokio task; a panic there ends only that task, and the rest
//! of the process keeps answering (probes included) while writes, cache
//! invalidation or deliveries have stopped for good. So every vital task is
//! spawned through [`Vitals::spawn`], which records how it died; liveness
//! (`/healthz`, gRPC health for `""`) reports the first death, so the
//! orchestrator restarts the process.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

/// The vital tasks of one process (cheap to clone: one shared record).
#[derive(Debug, Clone, Default)]
pub struct Vitals {
    deaths: Arc<Mutex<Vec<Death>>>,
}

#[derive(Debug, Clone)]
struct Death {
    task: &'static str,
    why: String,
}

impl Vitals {
    /// Spawns `future` as the vital task `task`. Its ending by itself is
    /// normal (its work is over: the store was dropped, the server stops);
    /// a panic or an abort is a death. The handle returned resolves when the
    /// task has ended, either way.
    pub fn spawn<F>(&self, task: &'static str, future: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(future);
        let deaths = Arc::clone(&self.deaths);
        tokio::spawn(async move {
            let why = match handle.await {
                Ok(()) => return,
                Err(err) if err.is_panic() => panic_message(err.into_panic()),
                Err(err) => err.to_string(),
            };
            tracing::error!(task, reason = %why, "a vital task died; liveness fails until the process restarts");
            deaths.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Death { task, why });
        })
    }

    /// `Ok` while every vital task lives; otherwise which died first, and why.
    pub fn check(&self) -> Result<(), String> {
        let deaths = self.deaths.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match deaths.first() {
            None => Ok(()),
            Some(death) => Err(format!("the {} died: {}", death.task, death.why)),
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => format!("panicked: {message}"),
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => format!("panicked: {message}"),
            Err(_) => "panicked".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn settled(vitals: &Vitals) -> Result<(), String> {
        for _ in 0..100 {
            if vitals.check().is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        vitals.check()
    }

    #[tokio::test]
    async fn a_task_that_ends_is_not_a_death_but_a_panic_is() {
        let vitals = Vitals::default();
        vitals.spawn("quiet task", async {});
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(vitals.check(), Ok(()));

        vitals.spawn("group committer", async { panic!("disk on fire") });
        let err = settled(&vitals).await.unwrap_err();
        assert!(err.contains("group committer") && err.contains("disk on fire"), "{err}");
    }
}
