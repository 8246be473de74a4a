//! The simulated cluster: pods that become ready after the start-up delay, a
//! fluid FIFO queue served at `ready × per-replica throughput`, and the
//! measurements every strategy is judged by.

use std::collections::{BTreeMap, VecDeque};

/// Pods and queue of one simulated workload.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Tick at which each pod is (or will be) ready, oldest first.
    pods: Vec<u64>,
    startup_ticks: u64,
    /// Waiting work: `(arrival tick, amount)`, oldest first.
    queue: VecDeque<(u64, f64)>,
    queued: f64,
}

/// What happened in one tick.
#[derive(Debug, Clone, Copy, Default)]
pub struct TickOutcome {
    pub ready: u32,
    /// Work served in the tick.
    pub served: f64,
    /// Capacity of the ready pods in the tick.
    pub capacity: f64,
}

impl Cluster {
    /// A cluster with `initial` pods ready at tick 0.
    pub fn new(initial: u32, startup_ticks: u64) -> Self {
        Cluster {
            pods: vec![0; initial as usize],
            startup_ticks,
            queue: VecDeque::new(),
            queued: 0.0,
        }
    }

    /// Pods requested (spec.replicas).
    pub fn requested(&self) -> u32 {
        self.pods.len() as u32
    }

    /// Pods ready at `tick`.
    pub fn ready(&self, tick: u64) -> u32 {
        self.pods.iter().filter(|r| **r <= tick).count() as u32
    }

    /// The tick at which each pod is (or will be) ready, oldest first.
    pub fn ready_ticks(&self) -> &[u64] {
        &self.pods
    }

    /// Work waiting.
    pub fn queue_depth(&self) -> f64 {
        self.queued
    }

    /// Age in ticks of the oldest waiting work at `tick` (0 when empty).
    pub fn head_age(&self, tick: u64) -> u64 {
        self.queue
            .front()
            .map_or(0, |(a, _)| tick.saturating_sub(*a))
    }

    /// Set the requested count at `tick`: new pods are ready `startup` later;
    /// removal takes the pods that are not ready yet first (newest first), as
    /// a ReplicaSet does.
    pub fn scale_to(&mut self, n: u32, tick: u64) {
        let n = n as usize;
        if n > self.pods.len() {
            let ready_at = tick + self.startup_ticks;
            self.pods.resize(n, ready_at);
        } else {
            // pods are sorted by ready tick: the last ones are the newest.
            self.pods.truncate(n);
        }
    }

    /// Add arrivals, then serve the queue for one tick. Each served portion's
    /// wait (in ticks) is recorded in `waits`, weighted by its amount.
    pub fn tick(
        &mut self,
        tick: u64,
        arrivals: f64,
        per_pod_per_tick: f64,
        waits: &mut Waits,
    ) -> TickOutcome {
        if arrivals > 0.0 {
            self.queue.push_back((tick, arrivals));
            self.queued += arrivals;
        }
        let ready = self.ready(tick);
        let capacity = f64::from(ready) * per_pod_per_tick;
        let mut left = capacity;
        let mut served = 0.0;
        while left > 0.0 {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let take = front.1.min(left);
            waits.record(front.0, tick, take);
            front.1 -= take;
            left -= take;
            served += take;
            if front.1 <= 1e-12 {
                self.queue.pop_front();
            }
        }
        self.queued = (self.queued - served).max(0.0);
        if self.queue.is_empty() {
            self.queued = 0.0;
        }
        TickOutcome {
            ready,
            served,
            capacity,
        }
    }

    /// Record the work still waiting at `end` with its age then (a lower
    /// bound of its wait), so unserved work counts against the SLO.
    pub fn drain_unserved(&mut self, end: u64, waits: &mut Waits) {
        for (arrived, amount) in self.queue.drain(..) {
            waits.record(arrived, end, amount);
        }
        self.queued = 0.0;
    }
}

/// Wait histogram: amount of work by wait in ticks, for work that arrived at
/// or after tick `from` (the start of the measured window); optionally also
/// per bucket of arrival time, the work and the part of it that started
/// within the SLO (for the report's attainment per day).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Waits {
    pub from: u64,
    pub hist: BTreeMap<u64, f64>,
    /// Per `bucket_ticks` of arrival after `from`: `[work, work started within slo_ticks]`.
    pub by_bucket: Vec<[f64; 2]>,
    /// Bucket length in ticks; 0: no buckets are kept.
    bucket_ticks: u64,
    slo_ticks: u64,
    /// Bucketed only: the work recorded so far that started later than
    /// `slo_ticks` (a lower bound of the final amount, for a sweep to stop
    /// a replay that can no longer reach its goal).
    late: f64,
}

impl Waits {
    pub fn new(from: u64) -> Self {
        Waits {
            from,
            ..Waits::default()
        }
    }

    /// Also keep, per `bucket_ticks` of arrival, the work and how much of it
    /// started within `slo_ticks`.
    pub fn bucketed(from: u64, bucket_ticks: u64, slo_ticks: u64) -> Self {
        Waits {
            from,
            bucket_ticks,
            slo_ticks,
            ..Waits::default()
        }
    }

    fn record(&mut self, arrived: u64, started: u64, amount: f64) {
        if arrived >= self.from && amount > 0.0 {
            let wait = started.saturating_sub(arrived);
            *self.hist.entry(wait).or_insert(0.0) += amount;
            if let Some(b) = (arrived - self.from).checked_div(self.bucket_ticks) {
                let b = b as usize;
                if b >= self.by_bucket.len() {
                    self.by_bucket.resize(b + 1, [0.0; 2]);
                }
                self.by_bucket[b][0] += amount;
                if wait <= self.slo_ticks {
                    self.by_bucket[b][1] += amount;
                } else {
                    self.late += amount;
                }
            }
        }
    }

    /// Bucketed only: the measured work recorded so far that waited longer
    /// than the SLO.
    pub fn late_so_far(&self) -> f64 {
        self.late
    }

    /// Total measured work.
    pub fn total(&self) -> f64 {
        self.hist.values().sum()
    }

    /// Fraction of work that waited at most `ticks` (1 when there was no work).
    pub fn within(&self, ticks: u64) -> f64 {
        let total = self.total();
        if total <= 0.0 {
            return 1.0;
        }
        self.hist.range(..=ticks).map(|(_, a)| a).sum::<f64>() / total
    }

    /// Work-weighted quantile of the wait, in ticks.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.total();
        let mut acc = 0.0;
        for (w, a) in &self.hist {
            acc += a;
            if acc >= q * total - 1e-9 {
                return *w;
            }
        }
        0
    }

    /// Longest wait of a non-negligible amount of work, in ticks.
    pub fn max(&self) -> u64 {
        self.hist
            .iter()
            .rev()
            .find(|(_, a)| **a > 1e-6)
            .map_or(0, |(w, _)| *w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_ready_after_startup_and_serve_fifo() {
        let mut c = Cluster::new(1, 4);
        let mut waits = Waits::new(0);
        // 3 units arrive at tick 0; one pod serves 1 per tick.
        let o = c.tick(0, 3.0, 1.0, &mut waits);
        assert_eq!((o.ready, o.served), (1, 1.0));
        c.scale_to(3, 1);
        assert_eq!(c.requested(), 3);
        assert_eq!(c.ready(4), 1);
        assert_eq!(c.ready(5), 3);
        c.tick(1, 0.0, 1.0, &mut waits);
        assert_eq!(c.head_age(2), 2);
        c.tick(2, 0.0, 1.0, &mut waits);
        assert_eq!(c.queue_depth(), 0.0);
        assert_eq!(waits.hist, BTreeMap::from([(0, 1.0), (1, 1.0), (2, 1.0)]));
        assert_eq!(waits.quantile(0.5), 1);
        assert_eq!(waits.max(), 2);
        assert!((waits.within(1) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unserved_work_counts_and_early_work_is_not_measured() {
        let mut c = Cluster::new(0, 1);
        let mut waits = Waits::new(2);
        c.tick(0, 5.0, 1.0, &mut waits);
        c.tick(3, 1.0, 1.0, &mut waits);
        c.drain_unserved(10, &mut waits);
        assert_eq!(waits.hist, BTreeMap::from([(7, 1.0)]));
        assert_eq!(c.queue_depth(), 0.0);
    }

    #[test]
    fn buckets_split_work_by_arrival_and_count_what_started_within_the_slo() {
        // Buckets of 2 ticks from tick 1; SLO 1 tick; one pod serving 1 per tick.
        let mut c = Cluster::new(1, 1);
        let mut waits = Waits::bucketed(1, 2, 1);
        c.tick(0, 1.0, 1.0, &mut waits); // before the window: not measured
        c.tick(1, 3.0, 1.0, &mut waits); // waits 0, 1, 2
        c.tick(2, 0.0, 1.0, &mut waits);
        c.tick(3, 1.0, 1.0, &mut waits); // bucket 1: waits 1 (after the rest)
        c.tick(4, 0.0, 1.0, &mut waits);
        assert_eq!(waits.by_bucket, vec![[3.0, 2.0], [1.0, 1.0]]);
        // The third unit of tick 1 started at tick 3, 2 ticks late.
        assert_eq!(waits.late_so_far(), 1.0);
    }

    #[test]
    fn scale_down_removes_starting_pods_first() {
        let mut c = Cluster::new(2, 10);
        c.scale_to(4, 5); // two pods ready at 15
        c.scale_to(3, 6);
        assert_eq!(c.ready(6), 2);
        assert_eq!(c.ready(15), 3);
        c.scale_to(1, 7);
        assert_eq!(c.ready(7), 1);
    }
}
