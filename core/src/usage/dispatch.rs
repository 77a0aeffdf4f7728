//! The [`UsageDispatcher`]: delivers usage events to user callbacks on a dedicated thread, off
//! the request's hot path, exactly once each, in order.
use std::sync::mpsc;
use std::sync::Mutex;

use super::{UsageCallback, UsageEvent};

enum Msg {
    Event(Box<UsageEvent>),
    Flush(mpsc::Sender<()>),
}

/// Delivers usage events to callbacks on a dedicated thread, so a slow callback never delays a
/// request and no runtime is assumed. The thread exits when the dispatcher is dropped.
pub(crate) struct UsageDispatcher {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
}

impl UsageDispatcher {
    pub(crate) fn new(callbacks: Vec<UsageCallback>) -> Self {
        if callbacks.is_empty() {
            return UsageDispatcher {
                tx: Mutex::new(None),
            };
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        let spawned = std::thread::Builder::new()
            .name("polyfuse-usage".into())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        Msg::Event(ev) => {
                            for cb in &callbacks {
                                // A panicking callback must not stop delivery to the others.
                                let _ =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        cb(&ev)
                                    }));
                            }
                        }
                        Msg::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        UsageDispatcher {
            tx: Mutex::new(spawned.ok().map(|_| tx)),
        }
    }

    pub(crate) fn emit(&self, event: UsageEvent) {
        if let Ok(guard) = self.tx.lock() {
            if let Some(tx) = guard.as_ref() {
                let _ = tx.send(Msg::Event(Box::new(event)));
            }
        }
    }

    /// Blocks until every event emitted before this call has been delivered.
    pub(crate) fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        let sent = match self.tx.lock() {
            Ok(guard) => guard
                .as_ref()
                .map(|tx| tx.send(Msg::Flush(done_tx)).is_ok())
                .unwrap_or(false),
            Err(_) => false,
        };
        if sent {
            let _ = done_rx.recv();
        }
    }

    /// Stops accepting events; the thread delivers what it has and exits.
    pub(crate) fn close(&self) {
        if let Ok(mut guard) = self.tx.lock() {
            guard.take();
        }
    }
}
