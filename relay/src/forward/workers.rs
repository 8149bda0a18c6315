//! The forward path's threads: one single-threaded runtime per core, each
//! with its own I/O driver and timers.
//!
//! A client connection is handed to one worker when it is accepted (the
//! only hand-off between threads on the forward path), and its task, its
//! calls and its upstream connections stay on that worker's thread for
//! good: no work stealing moves them and no other thread is woken to run
//! them. The rest of the relay (the UI, reflection, the recorder) keeps to
//! the main runtime.

use std::io;
use std::num::NonZeroUsize;
use std::thread;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub struct Workers {
    handles: Vec<Handle>,
    next: usize,
    /// Dropping these lets each worker's thread end.
    done: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `count` worker threads.
    pub fn start(count: NonZeroUsize) -> io::Result<Workers> {
        let mut handles = Vec::with_capacity(count.get());
        let mut done = Vec::with_capacity(count.get());
        for n in 0..count.get() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (tx, rx) = oneshot::channel::<()>();
            done.push(tx);
            thread::Builder::new()
                .name(format!("loom-forward-{n}"))
                .spawn(move || {
                    // Runs the connections spawned onto it until the relay
                    // lets it go; what is left then is dropped.
                    let _ = runtime.block_on(rx);
                    runtime.shutdown_background();
                })?;
        }
        Ok(Workers {
            handles,
            next: 0,
            done,
        })
    }

    /// The worker for the next connection (in turn).
    pub fn pick(&mut self) -> &Handle {
        let at = self.next % self.handles.len();
        self.next = self.next.wrapping_add(1);
        &self.handles[at]
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for tx in self.done.drain(..) {
            let _ = tx.send(());
        }
    }
}
