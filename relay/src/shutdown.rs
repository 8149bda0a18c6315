//! Telling tasks to stop: a [`Stop`] handle fires once, and every
//! [`Shutdown`] cloned from its pair sees it.

use tokio::sync::watch;

/// Fires the shutdown (idempotent).
#[derive(Debug, Clone)]
pub struct Stop(watch::Sender<bool>);

/// Resolves once the shutdown has fired (or its `Stop` is gone).
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new shutdown signal.
pub fn signal() -> (Stop, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Stop(tx), Shutdown(rx))
}

impl Stop {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Another receiver of this signal.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Waits for the shutdown.
    pub async fn wait(&mut self) {
        // The guard `wait_for` returns is dropped here, before any other await.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    /// Whether it has fired.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_stop() {
        let (stop, shutdown) = signal();
        let mut a = shutdown.clone();
        let mut b = stop.subscribe();
        assert!(!a.is_stopped());
        stop.stop();
        a.wait().await;
        b.wait().await;
        assert!(shutdown.is_stopped());
        // A dropped Stop also releases waiters.
        let (stop, mut shutdown) = signal();
        drop(stop);
        shutdown.wait().await;
    }
}
