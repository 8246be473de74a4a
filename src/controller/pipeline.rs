//! What each pipeline stage last finished and plans to finish, shared by the
//! policy loops of `planscale run` (docs/ARCHITECTURE.md, "Pipelines"): a
//! stage that declares `demand.completions` publishes after every tick; a
//! stage that names it in `demand.upstream` reads it before its refit, as
//! an [`UpstreamFeed`] — the same input `planscale simulate --policies`
//! gives the forecaster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::autoscale::UpstreamFeed;
use crate::series::Series;

#[derive(Debug, Clone)]
struct Stage {
    /// Observed completions per step, then the planned ones.
    completions: Series,
    at: DateTime<Utc>,
    /// Older than this, it is not read (the loop is stalled or failing).
    fresh_for: TimeDelta,
}

/// The stages' last completions and plans.
#[derive(Clone, Default)]
pub struct Pipeline {
    inner: Arc<Mutex<HashMap<String, Stage>>>,
}

impl Pipeline {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stage>> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// `policy`'s completions at `at` (observed, then planned); read for
    /// `fresh_for` (three of its intervals and a minute).
    pub fn publish(
        &self,
        policy: &str,
        completions: Series,
        at: DateTime<Utc>,
        fresh_for: TimeDelta,
    ) {
        self.map().insert(
            policy.to_string(),
            Stage {
                completions,
                at,
                fresh_for,
            },
        );
    }

    /// `policy` publishes nothing now (paused, no completions, removed or
    /// invalid): the stages after it fall back to their own history.
    pub fn withdraw(&self, policy: &str) {
        self.map().remove(policy);
    }

    /// What a stage after `policy` reads at `now`: `None` when it has
    /// published nothing, or not within its freshness.
    pub fn feed(&self, policy: &str, now: DateTime<Utc>) -> Option<UpstreamFeed> {
        let g = self.map();
        let s = g.get(policy)?;
        (now - s.at <= s.fresh_for).then(|| UpstreamFeed {
            policy: policy.to_string(),
            completions: s.completions.clone(),
        })
    }

    pub fn clear(&self) {
        self.map().clear();
    }
}

/// A stage's observed completions followed by its plan: `forecast_mean`
/// (starting at `forecast_start`) from the step after the last observed
/// one, with `queued` work served first ([`crate::autoscale::planned_completions`]).
pub fn observed_then_planned(
    policy: &crate::policy::Policy,
    observed: &Series,
    forecast: Option<(DateTime<Utc>, &[f64])>,
    queued: f64,
) -> Series {
    let mut values = observed.values.clone();
    let end = observed.grid.end();
    if let Some((start, mean)) = forecast {
        let step = observed.grid.step_secs.max(1);
        let offset = (end - start).num_seconds().div_euclid(step);
        if offset >= 0 && (offset as usize) < mean.len() {
            let rest = &mean[offset as usize..];
            values.extend(crate::autoscale::planned_completions(policy, rest, queued));
        }
    }
    Series::new(observed.grid.head(0), values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Grid;
    use chrono::TimeZone;

    #[test]
    fn a_stage_is_read_while_fresh_and_not_after_it_withdraws() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let p = Pipeline::default();
        let s = Series::new(Grid::new(t0, 300, 0), vec![1.0, 2.0]);
        assert!(p.feed("contour", t0).is_none());
        p.publish("contour", s.clone(), t0, TimeDelta::minutes(4));
        assert_eq!(
            p.feed("contour", t0 + TimeDelta::minutes(4))
                .unwrap()
                .completions,
            s
        );
        assert!(
            p.feed("contour", t0 + TimeDelta::minutes(5)).is_none(),
            "stale"
        );
        p.withdraw("contour");
        assert!(p.feed("contour", t0).is_none());
    }

    #[test]
    fn the_plan_follows_the_last_observed_step() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        // 4 minutes a job at 5-minute steps: one step of service.
        let policy = crate::policy::Policy::test().per_replica(0.25);
        let observed = Series::new(Grid::new(t0, 300, 0), vec![1.0, 2.0, 3.0]);
        // The forecast was made two steps before the observed end.
        let start = t0 + TimeDelta::minutes(5);
        let mean = [9.0, 9.0, 5.0, 6.0, 7.0];
        let s = observed_then_planned(&policy, &observed, Some((start, &mean)), 4.0);
        // Observed, then the queue (4) in the first planned step, then the
        // forecast from the step after the observed end, a step later.
        assert_eq!(s.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(s.grid.start, t0);
        let none = observed_then_planned(&policy, &observed, None, 4.0);
        assert_eq!(none.values, observed.values);
    }
}
