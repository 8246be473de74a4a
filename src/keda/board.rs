//! What each policy last decided, as the KEDA scaler serves it.
//!
//! The policy loops publish here after every tick; the gRPC service reads.
//! One entry per running policy (every mode, so that a ScaledObject naming a
//! policy in another mode gets a clear refusal rather than "not found"); its
//! value is a `watch` channel, so `StreamIsActive` wakes on a new decision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::policy::{Mode, Policy};

/// One decision as served to KEDA.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    /// The replica count planscale decided.
    pub replicas: u32,
    /// Whether the decision had a forecast; without one it is the reactive
    /// and backlog terms' (or, with metrics missing, the current count held).
    pub forecast: bool,
    /// Why there is no forecast (a bounded label), when there is none.
    pub no_forecast: Option<&'static str>,
    /// When the loop decided it.
    pub at: Instant,
}

/// What the scaler knows of one policy.
#[derive(Debug, Clone)]
pub struct PolicyInfo {
    pub mode: Mode,
    /// The target's namespace: only ScaledObjects in it may read the policy.
    pub namespace: String,
    /// A decision older than this is not served (the loop is stalled or
    /// failing): three intervals and a minute.
    pub fresh_for: Duration,
}

impl PolicyInfo {
    pub fn of(p: &Policy, interval: Duration) -> Self {
        PolicyInfo {
            mode: p.scaling.mode,
            namespace: p.target.namespace.clone(),
            fresh_for: interval * 3 + Duration::from_secs(60),
        }
    }
}

struct Entry {
    info: PolicyInfo,
    tx: watch::Sender<Option<Served>>,
}

/// The policies' last decisions, shared by the loops and the scaler.
#[derive(Clone, Default)]
pub struct Board {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

/// A policy looked up on the board.
pub struct Found {
    pub info: PolicyInfo,
    pub rx: watch::Receiver<Option<Served>>,
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a policy, or update a running one's mode and namespace (a reload):
    /// open streams stay open, and its last decision stays until the next.
    pub fn register(&self, name: &str, info: PolicyInfo) {
        let mut m = self.lock();
        match m.get_mut(name) {
            Some(e) => {
                let moved = e.info.namespace != info.namespace || e.info.mode != info.mode;
                e.info = info;
                if moved {
                    // A decision for another target or mode is not served.
                    e.tx.send_replace(None);
                }
            }
            None => {
                let (tx, _) = watch::channel(None);
                m.insert(name.to_string(), Entry { info, tx });
            }
        }
    }

    /// Remove a policy: its open streams end.
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Remove every policy (at shutdown): every open stream ends, so the
    /// server's graceful stop does not wait on them.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Publish a policy's decision (ignored for a policy not registered).
    pub fn publish(&self, name: &str, served: Served) {
        if let Some(e) = self.lock().get(name) {
            e.tx.send_if_modified(|old| {
                let changed = old
                    .as_ref()
                    .is_none_or(|o| o.replicas != served.replicas || o.forecast != served.forecast);
                *old = Some(served);
                changed
            });
        }
    }

    pub fn get(&self, name: &str) -> Option<Found> {
        self.lock().get(name).map(|e| Found {
            info: e.info.clone(),
            rx: e.tx.subscribe(),
        })
    }

    /// The names of the policies on the board, sorted (for error messages).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ns: &str) -> PolicyInfo {
        PolicyInfo {
            mode: Mode::Keda,
            namespace: ns.into(),
            fresh_for: Duration::from_secs(60),
        }
    }

    fn served(n: u32) -> Served {
        Served {
            replicas: n,
            forecast: true,
            no_forecast: None,
            at: Instant::now(),
        }
    }

    #[test]
    fn a_new_count_wakes_subscribers_and_the_same_count_does_not() {
        let b = Board::default();
        b.register("p", info("planning"));
        let mut rx = b.get("p").unwrap().rx;
        assert!(rx.borrow_and_update().is_none());
        b.publish("p", served(2));
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().as_ref().unwrap().replicas, 2);
        b.publish("p", served(2));
        assert!(!rx.has_changed().unwrap());
        b.publish("p", served(3));
        assert!(rx.has_changed().unwrap());
    }

    #[test]
    fn a_reload_keeps_streams_and_a_move_forgets_the_decision() {
        let b = Board::default();
        b.register("p", info("planning"));
        b.publish("p", served(2));
        let rx = b.get("p").unwrap().rx;
        b.register("p", info("planning"));
        assert_eq!(rx.borrow().as_ref().unwrap().replicas, 2);
        b.register("p", info("imaging"));
        assert!(rx.borrow().is_none());
        assert_eq!(b.get("p").unwrap().info.namespace, "imaging");
        b.remove("p");
        assert!(b.get("p").is_none());
        assert!(rx.has_changed().is_err(), "the stream's sender is gone");
        b.publish("gone", served(1));
        assert!(b.names().is_empty());
    }
}
