//! An in-memory [`Cluster`]: one target (and its HPA) whose state a test
//! sets and whose writes and Events it reads back. For unit tests, the
//! integration tests in `tests/` and the benchmarks, as `MemoryMetrics` and
//! `MemorySchedule` are for the sources.

use std::sync::{Arc, Mutex, MutexGuard};

use super::cluster::{Applied, Cluster, EventNote, HpaObserved, Observed, TargetRef, hpa_floor};
use super::{Error, Result};

/// What the in-memory cluster holds and was asked to do.
#[derive(Debug, Default)]
pub struct MemoryState {
    /// What `observe` returns (writes update it).
    pub observed: Observed,
    /// Replica counts written through the scale subresource, in order.
    pub writes: Vec<u32>,
    /// HPA floors written, in order.
    pub floors: Vec<u32>,
    pub events: Vec<EventNote>,
    /// Make `observe` fail with a 500 (to play "the API server is failing").
    pub fail_observe: bool,
}

/// A cluster in memory; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct MemoryCluster(Arc<Mutex<MemoryState>>);

impl MemoryCluster {
    /// A target with `replicas` requested and ready.
    pub fn with(replicas: u32) -> Self {
        let c = MemoryCluster::default();
        c.show(replicas, replicas);
        c
    }

    /// Set what the target reports: requested and ready replicas.
    pub fn show(&self, replicas: u32, ready: u32) {
        let mut s = self.state();
        s.observed.replicas = replicas;
        s.observed.ready = ready;
    }

    /// The state, to read what was written or to change what is observed.
    pub fn state(&self) -> MutexGuard<'_, MemoryState> {
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Cluster for MemoryCluster {
    async fn observe(&self, _t: &TargetRef, _hpa: bool) -> Result<Observed> {
        let s = self.state();
        if s.fail_observe {
            return Err(Error::kube(
                "get",
                "Deployment planning/worker",
                kube::Error::Api(Box::new(
                    kube::core::Status::failure("boom", "InternalError").with_code(500),
                )),
            ));
        }
        Ok(s.observed.clone())
    }

    async fn set_replicas(&self, _t: &TargetRef, n: u32) -> Result<Applied> {
        let mut s = self.state();
        let from = s.observed.replicas;
        s.observed.replicas = n;
        s.writes.push(n);
        Ok(Applied {
            from,
            to: n,
            attempts: 1,
            conflicts: 0,
        })
    }

    async fn set_hpa_floor(&self, t: &TargetRef, floor: u32) -> Result<Applied> {
        let mut s = self.state();
        let Some(h) = s.observed.hpa else {
            return Err(Error::Unexpected {
                target: t.to_string(),
                expected: "an HPA on the in-memory target",
                found: "none".into(),
            });
        };
        let original = h.original_min.unwrap_or(h.min);
        let to = hpa_floor(floor, original, h.max);
        s.observed.hpa = Some(HpaObserved {
            min: to,
            original_min: Some(original),
            ..h
        });
        s.floors.push(to);
        Ok(Applied {
            from: h.min,
            to,
            attempts: 1,
            conflicts: 0,
        })
    }

    async fn restore_hpa_floor(&self, _t: &TargetRef) -> Result<Option<Applied>> {
        Ok(None)
    }

    async fn event(&self, _t: &TargetRef, _uid: Option<String>, e: &EventNote) -> Result<()> {
        self.state().events.push(e.clone());
        Ok(())
    }
}
