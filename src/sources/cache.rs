//! An incremental history cache for the controller: it keeps the last
//! `capacity` points of one query on an epoch-aligned grid and, on each
//! refresh, asks the source only for the new tail, plus the last few points
//! again (samples can land after their timestamp was first evaluated) and any
//! recent missing points (gaps after a scrape or Prometheus outage). Memory is
//! bounded by `capacity` values.

use std::collections::VecDeque;
use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};

use super::error::Result;
use super::prometheus::PrometheusClient;
use crate::recording::Recording;
use crate::series::{Grid, Series};

/// Something that evaluates a query at every point of a grid and yields one
/// series (`None` when the query yields no series).
pub trait RangeSource {
    fn range(&self, query: &str, grid: Grid)
    -> impl Future<Output = Result<Option<Series>>> + Send;
}

/// Prometheus answers for the steps of the grid: each step's value is the
/// query at the step's end ([`PrometheusClient::query_steps`]).
impl RangeSource for PrometheusClient {
    fn range(
        &self,
        query: &str,
        grid: Grid,
    ) -> impl Future<Output = Result<Option<Series>>> + Send {
        self.query_steps(query, grid)
    }
}

/// A recording answers a "query" that is one of its column names, so the
/// controller's code path can run against recorded history (in simulation or
/// tests) exactly as against Prometheus. Points outside the recording are
/// missing; an unknown column yields no series.
impl RangeSource for Recording {
    fn range(
        &self,
        query: &str,
        grid: Grid,
    ) -> impl Future<Output = Result<Option<Series>>> + Send {
        let found = self
            .series(query)
            .map(|s| Series::new(grid, realign(&s, grid)));
        std::future::ready(Ok(found))
    }
}

/// Sizes of a [`HistoryCache`], in points of its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Step of the grid, in seconds (> 0).
    pub step_secs: i64,
    /// Points kept (the history length divided by the step); at least 1.
    pub capacity: usize,
    /// The newest cached points read again on every refresh (late samples).
    pub overlap: usize,
    /// Missing points at most this many steps old are read again on every
    /// refresh; older gaps are accepted as missing.
    pub gap_window: usize,
}

impl CacheConfig {
    /// Sizes for a history of `history_secs` at `step_secs`: the last 2 points
    /// are always re-read and gaps of the last hour are refetched.
    pub fn for_history(step_secs: i64, history_secs: i64) -> CacheConfig {
        let step = step_secs.max(1);
        CacheConfig {
            step_secs: step,
            capacity: (history_secs / step).max(1) as usize,
            overlap: 2,
            gap_window: (3600 / step).max(2) as usize,
        }
    }
}

/// What one refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// The grid that was fetched, if any (none when the clock has not passed
    /// the cached end).
    pub fetched: Option<Grid>,
    /// Whether the whole window was fetched (first refresh, or the cache was
    /// older than the window).
    pub full: bool,
}

/// The cached history of one query.
#[derive(Debug, Clone)]
pub struct HistoryCache {
    query: String,
    config: CacheConfig,
    /// Time of `values[0]`.
    start: Option<DateTime<Utc>>,
    values: VecDeque<f64>,
    points_fetched: u64,
}

impl HistoryCache {
    pub fn new(query: impl Into<String>, config: CacheConfig) -> HistoryCache {
        let config = CacheConfig {
            step_secs: config.step_secs.max(1),
            capacity: config.capacity.max(1),
            ..config
        };
        HistoryCache {
            query: query.into(),
            config,
            start: None,
            values: VecDeque::with_capacity(config.capacity),
            points_fetched: 0,
        }
    }

    pub fn query(&self) -> &str {
        &self.query
    }

    /// Total points requested from the source so far (for tests and metrics).
    pub fn points_fetched(&self) -> u64 {
        self.points_fetched
    }

    /// The cached history (an empty series before the first refresh).
    pub fn series(&self) -> Series {
        let start = self.start.unwrap_or(DateTime::UNIX_EPOCH);
        Series::new(
            Grid::new(start, self.config.step_secs, 0),
            self.values.iter().copied().collect(),
        )
    }

    /// Time of the newest cached point.
    pub fn last_time(&self) -> Option<DateTime<Utc>> {
        let n = self.values.len();
        self.start
            .filter(|_| n > 0)
            .map(|s| s + self.step() * (n as i32 - 1))
    }

    /// The newest value that is not missing, with its time.
    pub fn latest(&self) -> Option<(DateTime<Utc>, f64)> {
        let start = self.start?;
        let i = self.values.iter().rposition(|v| !v.is_nan())?;
        Some((start + self.step() * i as i32, self.values[i]))
    }

    fn step(&self) -> TimeDelta {
        TimeDelta::seconds(self.config.step_secs)
    }

    /// Bring the cache up to `now`: the newest point is the newest complete
    /// step, the one that ends at the last multiple of the step at or before
    /// `now` (points are stamped by their step's start). On error the cache
    /// is left as it was, and the next refresh fetches what this one missed.
    pub async fn refresh<S: RangeSource>(
        &mut self,
        source: &S,
        now: DateTime<Utc>,
    ) -> Result<Refresh> {
        let step = self.config.step_secs;
        let cap = self.config.capacity;
        let last = DateTime::from_timestamp(now.timestamp().div_euclid(step) * step, 0)
            .unwrap_or(now)
            - self.step();
        let first = last - self.step() * (cap as i32 - 1);

        let (from, full) = match (self.start, self.last_time()) {
            (Some(start), Some(cached_last))
                if cached_last >= first && (start - first).num_seconds() % step == 0 =>
            {
                if cached_last > last {
                    // The clock went back: keep what we have.
                    return Ok(Refresh {
                        fetched: None,
                        full: false,
                    });
                }
                let n = self.values.len();
                let overlap_from = n.saturating_sub(self.config.overlap.max(1));
                let gap_from = n.saturating_sub(self.config.gap_window);
                let first_missing = (gap_from..n).find(|&i| self.values[i].is_nan());
                let i = first_missing.map_or(overlap_from, |g| g.min(overlap_from));
                let from = (start + self.step() * i as i32).max(first);
                (from, false)
            }
            _ => (first, true),
        };
        let len = ((last - from).num_seconds() / step) as usize + 1;
        let grid = Grid::new(from, step, len);
        let fetched = source.range(&self.query, grid).await?;
        self.points_fetched += len as u64;

        let values = match fetched {
            Some(s) if s.grid.start == from && s.len() == len => s.values,
            // Realign defensively: a source may return a different grid.
            Some(s) => realign(&s, grid),
            None => vec![f64::NAN; len],
        };
        if full {
            self.values.clear();
            self.start = Some(from);
        } else if let Some(start) = self.start {
            let keep = ((from - start).num_seconds() / step) as usize;
            self.values.truncate(keep);
        }
        // The oldest values that the new ones push out of the window go
        // before the new ones come in, so that the buffer never grows past
        // `capacity` (extending a full one first would double its
        // allocation for good: 64 KiB more per policy at 28 days of 5 min).
        let start = self.start.unwrap_or(from);
        let over = (self.values.len() + values.len()).saturating_sub(cap);
        let dropped = over.min(self.values.len());
        self.values.drain(..dropped);
        self.values.extend(values);
        let over = self.values.len().saturating_sub(cap);
        self.values.drain(..over);
        self.start = Some(start + self.step() * (dropped + over) as i32);
        Ok(Refresh {
            fetched: Some(grid),
            full,
        })
    }
}

/// The values of `s` at the points of `grid` (missing where `s` has no point).
fn realign(s: &Series, grid: Grid) -> Vec<f64> {
    (0..grid.len)
        .map(|k| {
            let t = grid.time(k);
            s.grid
                .index_of(t)
                .filter(|&j| s.grid.time(j) == t)
                .map_or(f64::NAN, |j| s.values[j])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::error::SourceError;
    use chrono::TimeZone;
    use std::sync::Mutex;

    /// A source whose value at time t is `f(t)`, recording every grid asked for.
    struct Fake<F: Fn(DateTime<Utc>) -> f64 + Sync> {
        f: F,
        asked: Mutex<Vec<Grid>>,
        down: Mutex<bool>,
    }

    impl<F: Fn(DateTime<Utc>) -> f64 + Sync> Fake<F> {
        fn new(f: F) -> Self {
            Fake {
                f,
                asked: Mutex::new(Vec::new()),
                down: Mutex::new(false),
            }
        }
        fn last_asked(&self) -> Grid {
            *self.asked.lock().unwrap().last().unwrap()
        }
    }

    impl<F: Fn(DateTime<Utc>) -> f64 + Sync> RangeSource for Fake<F> {
        fn range(
            &self,
            _q: &str,
            grid: Grid,
        ) -> impl Future<Output = Result<Option<Series>>> + Send {
            self.asked.lock().unwrap().push(grid);
            let result = if *self.down.lock().unwrap() {
                Err(SourceError::Connect {
                    url: "fake".into(),
                    attempts: 1,
                    message: "down".into(),
                })
            } else {
                Ok(Some(Series::new(
                    grid,
                    (0..grid.len).map(|i| (self.f)(grid.time(i))).collect(),
                )))
            };
            std::future::ready(result)
        }
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    fn minutes(t: DateTime<Utc>) -> f64 {
        (t.timestamp() / 60) as f64
    }

    fn config() -> CacheConfig {
        CacheConfig {
            step_secs: 60,
            capacity: 60,
            overlap: 2,
            gap_window: 10,
        }
    }

    fn assert_matches_source(cache: &HistoryCache, f: impl Fn(DateTime<Utc>) -> f64) {
        let s = cache.series();
        for (i, v) in s.values.iter().enumerate() {
            let want = f(s.grid.time(i));
            assert!(
                v == &want || (v.is_nan() && want.is_nan()),
                "point {i} at {}: {v} != {want}",
                s.grid.time(i)
            );
        }
    }

    #[tokio::test]
    async fn only_the_new_tail_is_fetched() {
        let src = Fake::new(minutes);
        let mut c = HistoryCache::new("jobs", config());
        let r = c
            .refresh(&src, t(10, 0) + TimeDelta::seconds(30))
            .await
            .unwrap();
        assert!(r.full);
        // The newest complete step is 9:59 (it ends at 10:00).
        assert_eq!(src.last_asked(), Grid::new(t(9, 0), 60, 60));
        assert_eq!(c.last_time(), Some(t(9, 59)));

        let r = c.refresh(&src, t(10, 3)).await.unwrap();
        assert!(!r.full);
        // The last 2 cached points again, and 3 new ones.
        assert_eq!(src.last_asked(), Grid::new(t(9, 58), 60, 5));
        assert_eq!(c.series().len(), 60);
        assert_eq!(c.series().grid.start, t(9, 3));
        assert_eq!(c.points_fetched(), 65);
        assert_matches_source(&c, minutes);
        assert_eq!(c.latest(), Some((t(10, 2), minutes(t(10, 2)))));
    }

    #[tokio::test]
    async fn recent_gaps_are_refetched_and_old_ones_accepted() {
        // Minute 9:55 is missing at first (its samples land late), and minute 9:20 always.
        let late = Mutex::new(true);
        let src = Fake::new(|ts| {
            if ts == t(9, 20) || (ts == t(9, 55) && *late.lock().unwrap()) {
                f64::NAN
            } else {
                minutes(ts)
            }
        });
        let mut c = HistoryCache::new("jobs", config());
        c.refresh(&src, t(10, 0)).await.unwrap();
        assert!(c.series().values[55].is_nan());
        *late.lock().unwrap() = false;
        c.refresh(&src, t(10, 1)).await.unwrap();
        // From the recent gap at 9:55 on, not from the old one at 9:20.
        assert_eq!(src.last_asked(), Grid::new(t(9, 55), 60, 6));
        assert_eq!(c.series().missing(), 1);
        assert!(c.series().values[c.series().grid.index_of(t(9, 20)).unwrap()].is_nan());
        assert_matches_source(&c, |ts| {
            if ts == t(9, 20) {
                f64::NAN
            } else {
                minutes(ts)
            }
        });
    }

    #[tokio::test]
    async fn a_failed_refresh_changes_nothing_and_the_next_fills_the_gap() {
        let src = Fake::new(minutes);
        let mut c = HistoryCache::new("jobs", config());
        c.refresh(&src, t(10, 0)).await.unwrap();
        let before = c.series();
        *src.down.lock().unwrap() = true;
        let e = c.refresh(&src, t(10, 5)).await.unwrap_err();
        assert_eq!(e.kind(), "connect");
        assert_eq!(c.series(), before);
        *src.down.lock().unwrap() = false;
        c.refresh(&src, t(10, 10)).await.unwrap();
        assert_eq!(src.last_asked(), Grid::new(t(9, 58), 60, 12));
        assert_eq!(c.last_time(), Some(t(10, 9)));
        assert_eq!(c.series().missing(), 0);
        assert_matches_source(&c, minutes);
    }

    #[tokio::test]
    async fn a_cache_older_than_the_window_is_refetched_whole() {
        let src = Fake::new(minutes);
        let mut c = HistoryCache::new("jobs", config());
        c.refresh(&src, t(10, 0)).await.unwrap();
        let r = c.refresh(&src, t(12, 0)).await.unwrap();
        assert!(r.full);
        assert_eq!(src.last_asked(), Grid::new(t(11, 0), 60, 60));
        assert_matches_source(&c, minutes);
    }

    #[tokio::test]
    async fn a_clock_that_goes_back_fetches_nothing() {
        let src = Fake::new(minutes);
        let mut c = HistoryCache::new("jobs", config());
        c.refresh(&src, t(10, 0)).await.unwrap();
        let r = c.refresh(&src, t(9, 30)).await.unwrap();
        assert_eq!(r.fetched, None);
        assert_eq!(c.last_time(), Some(t(9, 59)));
        assert_eq!(src.asked.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn memory_stays_bounded_over_many_refreshes() {
        let src = Fake::new(minutes);
        let mut c = HistoryCache::new("jobs", config());
        let allocated = c.values.capacity();
        let mut now = t(0, 0);
        for k in 0..500 {
            now += TimeDelta::seconds(60 + (k % 3) * 45);
            c.refresh(&src, now).await.unwrap();
            assert!(c.series().len() <= 60);
            // The buffer is never reallocated to a larger one.
            assert_eq!(c.values.capacity(), allocated, "refresh {k}");
        }
        assert_eq!(c.series().len(), 60);
        assert_matches_source(&c, minutes);
        // Incremental: far fewer points than 500 full windows.
        assert!(c.points_fetched() < 500 * 10, "{}", c.points_fetched());
    }

    #[tokio::test]
    async fn a_recording_is_a_source_by_column_name() {
        let rec = Recording {
            grid: Grid::new(t(9, 0), 60, 90),
            columns: vec![(
                "jobs".into(),
                (0..90).map(|i| minutes(t(9, 0)) + i as f64).collect(),
            )],
        };
        let mut c = HistoryCache::new("jobs", config());
        c.refresh(&rec, t(10, 0)).await.unwrap();
        assert_matches_source(&c, minutes);
        // Past the recording's end the points are missing, not invented.
        c.refresh(&rec, t(10, 40)).await.unwrap();
        assert_eq!(c.latest(), Some((t(10, 29), minutes(t(10, 29)))));
        assert_eq!(c.series().missing(), 10); // 10:30 to 10:39
        let mut unknown = HistoryCache::new("nope", config());
        unknown.refresh(&rec, t(10, 0)).await.unwrap();
        assert_eq!(unknown.series().missing(), 60);
    }

    /// The controller spawns per-policy tasks: a refresh must be `Send`.
    #[test]
    fn refresh_against_prometheus_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let client = crate::sources::prometheus::PrometheusConfig::new("http://127.0.0.1:9")
            .build()
            .unwrap();
        let mut c = HistoryCache::new("jobs", config());
        let fut = c.refresh(&client, t(10, 0));
        assert_send(&fut);
    }

    #[test]
    fn sizes_from_a_history() {
        let c = CacheConfig::for_history(300, 28 * 86_400);
        assert_eq!(c.capacity, 8064);
        assert_eq!(c.gap_window, 12);
    }
}
