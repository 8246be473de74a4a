//! The perfect-foresight oracle: knows every future arrival and asks for the
//! fewest ready replicas per tick that start all work within the SLO wait,
//! then requests them `startup` ahead so they are ready in time.
//!
//! With cumulative arrivals `A(k)` and cumulative service `D(k)`, the SLO
//! says `D(k) ≥ A(k − W)` (work that arrived `W` ticks ago has started). A
//! backward pass finds the least service `M(k)` that must be done by tick `k`
//! so that the rest can still be done at the maximum replica count; a forward
//! pass then gives each tick the fewest replicas that keep a steady rate
//! meeting every `M(j)` ahead, serving whatever is waiting with the capacity
//! it has. Serving early never hurts; a level rate avoids paying start-up for
//! short bursts. The plan is not proven optimal (that is an integer program);
//! it is the lower reference the other strategies are measured against, and
//! the tests check that it meets the SLO and costs no more than any of them.

/// The oracle's requested replica count per tick.
pub fn plan(
    arrivals: &[f64],
    per_pod_per_tick: f64,
    wait_ticks: usize,
    startup_ticks: usize,
    min: u32,
    max: u32,
) -> Vec<u32> {
    let n = arrivals.len();
    if n == 0 {
        return Vec::new();
    }
    let max = max.max(min).max(1);
    let mut cum = Vec::with_capacity(n);
    let mut total = 0.0;
    for a in arrivals {
        total += a.max(0.0);
        cum.push(total);
    }
    let max_service = f64::from(max) * per_pod_per_tick;
    // M(k): service that must be complete by the end of tick k.
    let mut must = vec![0.0; n];
    let mut next = 0.0_f64;
    for k in (0..n).rev() {
        let due = if k >= wait_ticks {
            cum[k - wait_ticks]
        } else {
            0.0
        };
        let m = due.max(next - max_service).min(cum[k]);
        must[k] = m;
        next = m;
    }
    // Forward: at each tick the lowest steady rate that meets every
    // requirement ahead on the work already arrived (M(j) by tick j), so that capacity is level rather
    // than a burst at each deadline (bursts would pay start-up many times).
    let lookahead = wait_ticks + 2 * startup_ticks + 1;
    let mut ready = Vec::with_capacity(n);
    let mut done = 0.0;
    for (k, &arrived) in cum.iter().enumerate() {
        let mut rate: f64 = 0.0;
        for (j, m) in must.iter().enumerate().skip(k).take(lookahead) {
            // Only work that has arrived can be served ahead of time.
            let need = m.min(arrived) - done;
            if need > 0.0 {
                rate = rate.max(need / ((j - k + 1) as f64));
            }
        }
        let r = ((rate / per_pod_per_tick) - 1e-9).ceil().max(0.0) as u32;
        let r = r.clamp(min, max);
        let serve = (f64::from(r) * per_pod_per_tick).min(arrived - done);
        done += serve.max(0.0);
        ready.push(r);
    }
    // Request each replica `startup` ticks before it must be ready.
    let mut requested = vec![0; n];
    let mut window: std::collections::VecDeque<(usize, u32)> = std::collections::VecDeque::new();
    // Sliding maximum of ready[k..=k+startup], from the end.
    for k in (0..n).rev() {
        while window.back().is_some_and(|(_, v)| *v <= ready[k]) {
            window.pop_back();
        }
        window.push_back((k, ready[k]));
        while window.front().is_some_and(|(i, _)| *i > k + startup_ticks) {
            window.pop_front();
        }
        requested[k] = window.front().map_or(ready[k], |(_, v)| *v);
    }
    requested
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::cluster::{Cluster, Waits};
    use std::collections::BTreeMap;

    fn replay(arrivals: &[f64], plan: &[u32], per: f64, startup: u64) -> BTreeMap<u64, f64> {
        let mut c = Cluster::new(plan[0], startup);
        let mut waits = Waits::new(0);
        for (k, a) in arrivals.iter().enumerate() {
            c.scale_to(plan[k], k as u64);
            c.tick(k as u64, *a, per, &mut waits);
        }
        waits.hist
    }

    #[test]
    fn meets_the_slo_with_few_replicas() {
        // A burst of 10 units at tick 5, one pod serves 1 unit a tick, wait 4.
        let mut arrivals = vec![0.0; 20];
        arrivals[5] = 10.0;
        let p = plan(&arrivals, 1.0, 4, 3, 0, 10);
        let waits = replay(&arrivals, &p, 1.0, 3);
        assert!(waits.keys().all(|w| *w <= 4), "{waits:?}");
        // 10 units in 5 ticks (5..=9) needs 2 ready pods there.
        assert_eq!(p[5..10].iter().max(), Some(&2));
        // Requested 3 ticks ahead; nothing long before or after.
        assert_eq!(p[2], 2);
        assert_eq!(p[0], 0);
        assert_eq!(p[15], 0);
    }

    #[test]
    fn spreads_work_earlier_when_the_maximum_binds() {
        // 40 units arrive over ticks 0..4 but at most 2 pods: must start early.
        let arrivals = vec![
            10.0, 10.0, 10.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let p = plan(&arrivals, 1.0, 18, 0, 0, 2);
        let waits = replay(&arrivals, &p, 1.0, 0);
        assert!(waits.keys().all(|w| *w <= 18), "{waits:?}");
        assert!(p.iter().all(|r| *r <= 2));
    }
}
