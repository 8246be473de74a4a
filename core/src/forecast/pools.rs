//! The engine's residual pools: the backtest's standardised residuals per
//! horizon step, each step's pool being the residuals of the steps within
//! ± `window` of it (a few origins still give stable quantiles).
//!
//! The residuals are stored once, sorted, with each step's ranks in that
//! order; a step's pool is never materialised. The quantile of every step's
//! pool at a level is one sweep over the steps with a Fenwick tree over the
//! ranks (a step's residuals enter when the window reaches them and leave
//! behind it; each order statistic is a descent of the tree), O(N log N) for
//! N residuals, and is kept per level: between model re-selections the pools
//! do not change, so a refit's predict only reads it.
//!
//! The result is the same order statistic, interpolated the same way
//! ([`quantile_by`]), as sorting each step's window: values equal under
//! `total_cmp` have the same bits, so the order among ties is immaterial.
//! At 1-minute steps (2,880 horizon steps × ±120 × 6 origins, as the engine
//! then had) the sorted windows were two pools of 33 MB each; this holds 12
//! bytes a residual.

use std::sync::{Arc, Mutex};

use super::seasonal::quantile_by;

/// Levels whose per-step quantiles are kept; a caller asking for more
/// distinct levels gets them computed each time (none in the product asks
/// for more than one).
const KEPT_LEVELS: usize = 8;

/// Residuals per horizon step, pooled over neighbouring steps; see the
/// module documentation.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    /// Horizon steps.
    steps: usize,
    /// Steps pooled on each side; `None`: one pool for every step (the cold
    /// start's seasonal differences, all held at step 0).
    window: Option<usize>,
    /// Every residual, sorted by `total_cmp`.
    sorted: Vec<f64>,
    /// `ranks[start[j]..start[j + 1]]`: positions in `sorted` of step `j`'s
    /// residuals.
    start: Vec<u32>,
    ranks: Vec<u32>,
    /// Per-step quantiles at the levels asked so far (level's bits, values).
    kept: Mutex<Vec<(u64, Arc<[f64]>)>>,
}

impl Clone for Pools {
    fn clone(&self) -> Self {
        Pools {
            steps: self.steps,
            window: self.window,
            sorted: self.sorted.clone(),
            start: self.start.clone(),
            ranks: self.ranks.clone(),
            kept: Mutex::new(self.kept_levels().clone()),
        }
    }
}

/// Collects `(step, residual)` pairs for [`Pools::smoothed`] without a
/// vector per step.
#[derive(Debug, Default)]
pub(crate) struct PoolInput {
    entries: Vec<(u32, f64)>,
}

impl PoolInput {
    pub(crate) fn with_capacity(n: usize) -> Self {
        PoolInput {
            entries: Vec::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, step: usize, residual: f64) {
        self.entries.push((step as u32, residual));
    }
}

impl Pools {
    /// Each of `steps` steps pooled with its neighbours within
    /// ± max(steps / 24, 2): the engine's smoothing of backtest residuals.
    pub(crate) fn smoothed(input: PoolInput, steps: usize) -> Self {
        Self::build(input.entries, steps, Some((steps / 24).max(2)))
    }

    /// One pool, `values`, for every one of `steps` steps.
    pub(crate) fn same(values: Vec<f64>, steps: usize) -> Self {
        Self::build(values.into_iter().map(|v| (0, v)).collect(), steps, None)
    }

    fn build(mut entries: Vec<(u32, f64)>, steps: usize, window: Option<usize>) -> Self {
        let held = if window.is_some() { steps } else { 1 };
        entries.retain(|(j, _)| (*j as usize) < held);
        let mut start = vec![0u32; held + 1];
        for (j, _) in &entries {
            start[*j as usize + 1] += 1;
        }
        for j in 0..held {
            start[j + 1] += start[j];
        }
        entries.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
        let mut next = start.clone();
        let mut ranks = vec![0u32; entries.len()];
        for (rank, (j, _)) in entries.iter().enumerate() {
            let slot = &mut next[*j as usize];
            ranks[*slot as usize] = rank as u32;
            *slot += 1;
        }
        Pools {
            steps,
            window,
            sorted: entries.into_iter().map(|(_, v)| v).collect(),
            start,
            ranks,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// Horizon steps with a pool (0 for an empty `Pools`).
    pub(crate) fn steps(&self) -> usize {
        self.steps
    }

    /// The steps `[lo, hi)` pooled at step `j`.
    fn span(&self, j: usize) -> (usize, usize) {
        match self.window {
            Some(w) => (j.saturating_sub(w), (j + w + 1).min(self.steps)),
            None => (0, self.start.len() - 1),
        }
    }

    /// Residuals in step `j`'s pool; `None` past the last step.
    pub(crate) fn len(&self, j: usize) -> Option<usize> {
        (j < self.steps).then(|| {
            let (lo, hi) = self.span(j);
            (self.start[hi] - self.start[lo]) as usize
        })
    }

    fn kept_levels(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<[f64]>)>> {
        // A panic elsewhere while holding the lock leaves whole entries only.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `q` quantile of every step's pool (type 7, 0 for an empty pool),
    /// `steps()` values.
    pub(crate) fn quantiles(&self, q: f64) -> Arc<[f64]> {
        let key = q.to_bits();
        if let Some((_, v)) = self.kept_levels().iter().find(|(k, _)| *k == key) {
            return v.clone();
        }
        let v: Arc<[f64]> = self.sweep(q).into();
        let mut kept = self.kept_levels();
        if kept.len() < KEPT_LEVELS && !kept.iter().any(|(k, _)| *k == key) {
            kept.push((key, v.clone()));
        }
        v
    }

    /// Every step's quantile in one pass: the pool's residuals are counted
    /// per rank in a Fenwick tree as the window slides.
    fn sweep(&self, q: f64) -> Vec<f64> {
        let mut tree = Fenwick::new(self.sorted.len());
        let (mut lo, mut hi) = (0, 0);
        let mut out = Vec::with_capacity(self.steps);
        for j in 0..self.steps {
            let (l, h) = self.span(j);
            for (step, delta) in (hi..h).map(|s| (s, 1)).chain((lo..l).map(|s| (s, -1))) {
                let (a, b) = (self.start[step] as usize, self.start[step + 1] as usize);
                for &r in &self.ranks[a..b] {
                    tree.add(r as usize, delta);
                }
            }
            (lo, hi) = (l.max(lo), h.max(hi));
            let len = (self.start[hi] - self.start[lo]) as usize;
            out.push(quantile_by(len, q, |k| self.sorted[tree.kth(k)]));
        }
        out
    }
}

/// Counts per rank with prefix sums and the k-th present rank in O(log n).
struct Fenwick {
    tree: Vec<i32>,
    /// Highest power of two ≤ n (0 when empty).
    top: usize,
}

impl Fenwick {
    fn new(n: usize) -> Self {
        Fenwick {
            tree: vec![0; n + 1],
            top: if n == 0 { 0 } else { 1 << n.ilog2() },
        }
    }

    fn add(&mut self, rank: usize, delta: i32) {
        let mut i = rank + 1;
        while i < self.tree.len() {
            self.tree[i] += delta;
            i += i & i.wrapping_neg();
        }
    }

    /// The rank holding the `k`-th (0-based) counted residual; `k` must be
    /// below the count.
    fn kth(&self, k: usize) -> usize {
        let (mut pos, mut left) = (0, k as i32);
        let mut step = self.top;
        while step > 0 {
            let next = pos + step;
            if next < self.tree.len() && self.tree[next] <= left {
                pos = next;
                left -= self.tree[next];
            }
            step >>= 1;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::super::seasonal::empirical_quantile;
    use super::super::uniform as lcg;
    use super::*;

    /// The direct version: each step's window gathered and sorted.
    fn direct(res: &[Vec<f64>], h: usize, q: f64) -> Vec<f64> {
        let w = (h / 24).max(2);
        (0..h)
            .map(|j| {
                let mut v: Vec<f64> = res[j.saturating_sub(w)..(j + w + 1).min(h)]
                    .iter()
                    .flatten()
                    .copied()
                    .collect();
                v.sort_by(f64::total_cmp);
                empirical_quantile(&v, q)
            })
            .collect()
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn quantiles_equal_those_of_sorted_windows() {
        let mut state = 21u64;
        for case in 0..80 {
            let h = 1 + (lcg(&mut state) * 300.0) as usize;
            let origins = 1 + (lcg(&mut state) * 6.0) as usize;
            // Few distinct values (ties), signed zeros, and steps without any.
            let res: Vec<Vec<f64>> = (0..h)
                .map(|_| {
                    let k = if lcg(&mut state) < 0.1 { 0 } else { origins };
                    (0..k)
                        .map(|_| match (lcg(&mut state) * 4.0) as u32 {
                            0 => 0.0,
                            1 => -0.0,
                            2 => (lcg(&mut state) * 3.0).floor() - 1.0,
                            _ => lcg(&mut state) - 0.5,
                        })
                        .collect()
                })
                .collect();
            let mut input = PoolInput::default();
            // Pushed origin by origin, as the engine does.
            for o in 0..origins {
                for (j, r) in res.iter().enumerate() {
                    if let Some(v) = r.get(o) {
                        input.push(j, *v);
                    }
                }
            }
            let pools = Pools::smoothed(input, h);
            assert_eq!(pools.steps(), h);
            let w = (h / 24).max(2);
            for j in 0..h {
                let n: usize = res[j.saturating_sub(w)..(j + w + 1).min(h)]
                    .iter()
                    .map(Vec::len)
                    .sum();
                assert_eq!(pools.len(j), Some(n), "case {case}, step {j}");
            }
            assert_eq!(pools.len(h), None);
            for q in [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, lcg(&mut state)] {
                let want = direct(&res, h, q);
                assert_eq!(bits(&pools.quantiles(q)), bits(&want), "case {case}, q {q}");
                // Asked again: the kept values, and so do clones.
                assert_eq!(bits(&pools.quantiles(q)), bits(&want));
                assert_eq!(bits(&pools.clone().quantiles(q)), bits(&want));
            }
        }
    }

    #[test]
    fn one_pool_for_every_step() {
        let values: Vec<f64> = [3.0, -1.0, 0.5, 2.0, -0.0, 0.0]
            .into_iter()
            .cycle()
            .take(40)
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let pools = Pools::same(values, 7);
        assert_eq!(pools.steps(), 7);
        assert_eq!(pools.len(6), Some(40));
        assert_eq!(pools.len(7), None);
        for q in [0.1, 0.5, 0.9] {
            let want = empirical_quantile(&sorted, q);
            assert!(
                pools
                    .quantiles(q)
                    .iter()
                    .all(|v| v.to_bits() == want.to_bits())
            );
        }
        let empty = Pools::same(Vec::new(), 3);
        assert_eq!(empty.len(0), Some(0));
        assert_eq!(&*empty.quantiles(0.9), &[0.0, 0.0, 0.0]);
        assert_eq!(Pools::default().steps(), 0);
        assert!(Pools::default().quantiles(0.9).is_empty());
    }

    #[test]
    fn more_levels_than_are_kept_are_still_answered() {
        let mut input = PoolInput::with_capacity(100);
        for i in 0..100 {
            input.push(i % 10, (i * 7 % 13) as f64);
        }
        let pools = Pools::smoothed(input, 10);
        let first: Vec<Arc<[f64]>> = (1..20).map(|i| pools.quantiles(i as f64 / 20.0)).collect();
        assert_eq!(pools.kept_levels().len(), KEPT_LEVELS);
        for (i, v) in first.iter().enumerate() {
            assert_eq!(v, &pools.quantiles((i + 1) as f64 / 20.0));
        }
    }
}
