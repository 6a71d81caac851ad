//! Blocking work from async code, through one door.

use std::future::Future;
use std::pin::Pin;

use crate::fault::{Fault, HasFault};

/// A boxed future, as the object-safe traits of the store and the executor return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Blocking work panicked (or its runtime shut down under it): a bug in Factory.
#[derive(Debug, thiserror::Error)]
#[error("internal error while {what}: {message}; this is a bug in Factory")]
pub struct TaskPanicked {
    pub what: &'static str,
    pub message: String,
}

impl HasFault for TaskPanicked {
    fn fault(&self) -> Fault {
        Fault::Factory
    }
}

/// Runs `work` on the runtime's blocking threads (file trees, hashing, archives: anything
/// that would stall the one runtime thread). `what` names the work in the error if it
/// panics, which is then a Factory fault rather than a lost string.
pub async fn blocking<T, F>(what: &'static str, work: F) -> Result<T, TaskPanicked>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    #[allow(clippy::disallowed_methods)] // This is the one door the lint points to.
    let handle = tokio::task::spawn_blocking(work);
    handle.await.map_err(|error| TaskPanicked {
        what,
        message: error.to_string(),
    })
}

/// Runs blocking `work` that its caller may stop waiting for (an HTTP request to someone
/// else's server) on a thread of its own. Unlike [`blocking`], neither the runtime's shutdown
/// nor the process's exit waits for it: a caller that gives up (Ctrl-C) leaves at once, and
/// the thread ends with its work or with the process. A panic is a Factory fault, as there.
pub async fn detached<T, F>(what: &'static str, work: F) -> Result<T, TaskPanicked>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = tx.send(outcome.map_err(|panic| panic_message(panic.as_ref())));
        });
    if let Err(error) = spawned {
        return Err(TaskPanicked {
            what,
            message: format!("cannot start a thread: {error}"),
        });
    }
    match rx.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(TaskPanicked { what, message }),
        Err(_) => Err(TaskPanicked {
            what,
            message: "the thread ended without an answer".to_owned(),
        }),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn detached_work_answers_and_its_panic_is_a_factory_fault() {
        assert_eq!(detached("adding", || 2 + 2).await.unwrap(), 4);
        let error = detached("exploding", || -> u8 { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(error.fault(), Fault::Factory);
        assert!(error.to_string().contains("boom"), "{error}");
    }

    #[tokio::test]
    async fn a_panic_becomes_a_factory_fault_that_names_the_work() {
        assert_eq!(blocking("adding", || 1 + 1).await.unwrap(), 2);
        let error = blocking("exploding", || -> u8 { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(error.fault(), Fault::Factory);
        assert!(error.to_string().contains("exploding"), "{error}");
    }
}
