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

#[cfg(test)]
mod tests {
    use super::*;

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
