//! [`Background`]: a task of the instance (the retention sweep, the webhook dispatcher) that
//! ends when asked — it watches the flag it is given, between two steps of its own — or is
//! aborted when dropped.

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) struct Background {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Background {
    /// Spawns `run`, given the flag that turns true when [`Background::stop`] is called.
    pub(crate) fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        Self {
            stop,
            task: Some(tokio::spawn(run(stopped))),
        }
    }

    /// Asks the task to end and waits for it.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
