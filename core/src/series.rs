//! Regular time grids and series on them: the value types every other module shares.
//!
//! A [`Grid`] is a start instant, a step and a length. A [`Series`] holds one
//! `f64` per grid point; a missing value is `NaN` (never a sentinel like 0).

use chrono::{DateTime, TimeDelta, Utc};

/// A regular time grid: `len` points at `start + i * step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// The first point.
    pub start: DateTime<Utc>,
    /// Distance between points, in whole seconds (> 0).
    pub step_secs: i64,
    /// Number of points.
    pub len: usize,
}

impl Grid {
    /// A grid of `len` points from `start` with a step of `step_secs` seconds.
    ///
    /// # Panics
    /// Never; a non-positive step is clamped to one second so that index
    /// arithmetic cannot divide by zero. Validate steps at the input boundary.
    pub fn new(start: DateTime<Utc>, step_secs: i64, len: usize) -> Self {
        Grid {
            start,
            step_secs: step_secs.max(1),
            len,
        }
    }

    /// The instant of point `i` (which may lie beyond the end).
    pub fn time(&self, i: usize) -> DateTime<Utc> {
        self.start + TimeDelta::seconds(self.step_secs * i as i64)
    }

    /// The instant just after the last point (`start + len * step`).
    pub fn end(&self) -> DateTime<Utc> {
        self.time(self.len)
    }

    /// The index of the point at or before `t`, if `t` is inside `[start, end)`.
    pub fn index_of(&self, t: DateTime<Utc>) -> Option<usize> {
        let d = (t - self.start).num_seconds();
        if d < 0 {
            return None;
        }
        let i = (d / self.step_secs) as usize;
        (i < self.len).then_some(i)
    }

    /// Whether `t` falls exactly on a grid point (inside or outside the range).
    pub fn is_aligned(&self, t: DateTime<Utc>) -> bool {
        (t - self.start).num_seconds().rem_euclid(self.step_secs) == 0
            && (t - self.start).subsec_nanos() == 0
    }

    /// The grid that continues this one for `len` more points.
    pub fn following(&self, len: usize) -> Grid {
        Grid::new(self.end(), self.step_secs, len)
    }

    /// The first `len` points of this grid (or all of them).
    pub fn head(&self, len: usize) -> Grid {
        Grid::new(self.start, self.step_secs, len.min(self.len))
    }

    /// Points per period of `period_secs` seconds, if the period is a whole multiple of the step.
    pub fn steps_per(&self, period_secs: i64) -> Option<usize> {
        (period_secs > 0 && period_secs % self.step_secs == 0)
            .then_some((period_secs / self.step_secs) as usize)
    }
}

/// Values on a [`Grid`]; `NaN` marks a missing value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub grid: Grid,
    pub values: Vec<f64>,
}

impl Series {
    /// A series from its grid and values. The grid's length is set from the values.
    pub fn new(grid: Grid, values: Vec<f64>) -> Self {
        let grid = Grid::new(grid.start, grid.step_secs, values.len());
        Series { grid, values }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of missing (`NaN`) values.
    pub fn missing(&self) -> usize {
        self.values.iter().filter(|v| v.is_nan()).count()
    }

    /// The part of the series in `[from, to)`, clamped to its range.
    pub fn slice_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Series {
        let lo = offset_clamped(&self.grid, from);
        let hi = offset_clamped(&self.grid, to).max(lo);
        Series::new(
            Grid::new(self.grid.time(lo), self.grid.step_secs, hi - lo),
            self.values[lo..hi].to_vec(),
        )
    }

    /// The first `n` points (or all of them).
    pub fn head(&self, n: usize) -> Series {
        let n = n.min(self.len());
        Series::new(self.grid.head(n), self.values[..n].to_vec())
    }
}

/// Index of the first grid point at or after `t`, clamped to `0..=len`.
fn offset_clamped(grid: &Grid, t: DateTime<Utc>) -> usize {
    let d = (t - grid.start).num_seconds();
    if d <= 0 {
        return 0;
    }
    let i = (d + grid.step_secs - 1) / grid.step_secs;
    (i as usize).min(grid.len)
}

/// A borrowed series: a grid and its values (`NaN` = missing), e.g. the
/// history up to a decision without copying it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesView<'a> {
    pub grid: Grid,
    pub values: &'a [f64],
}

impl<'a> SeriesView<'a> {
    /// A view of `values` on a grid of their length from `grid.start`.
    pub fn new(grid: Grid, values: &'a [f64]) -> SeriesView<'a> {
        SeriesView {
            grid: Grid::new(grid.start, grid.step_secs, values.len()),
            values,
        }
    }

    /// An owned copy.
    pub fn to_series(&self) -> Series {
        Series::new(self.grid, self.values.to_vec())
    }
}

impl Series {
    /// A borrowed view of the whole series.
    pub fn view(&self) -> SeriesView<'_> {
        SeriesView {
            grid: self.grid,
            values: &self.values,
        }
    }
}

/// The covariate type of an upstream stage's completions: `upstream:NAME`.
pub const UPSTREAM_PREFIX: &str = "upstream:";

/// The covariate type of stage `policy`'s completions (`upstream:policy`).
pub fn upstream_type(policy: &str) -> String {
    format!("{UPSTREAM_PREFIX}{policy}")
}

/// Whether a covariate type is an upstream stage's completions (known only
/// up to now; the forecaster's backtests must not read it past an origin).
pub fn is_upstream(kind: &str) -> bool {
    kind.starts_with(UPSTREAM_PREFIX)
}

/// Per-step counts of appointments by type, on a grid: the schedule's
/// covariates for the forecaster. Rows of type `upstream:NAME` are an
/// upstream stage's completions instead ([`is_upstream`]).
///
/// `values[k][i]` is the count of type `types[k]` at grid point `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Covariates {
    pub grid: Grid,
    pub types: Vec<String>,
    pub values: Vec<Vec<f64>>,
    /// The counted appointments that were booked after the grid's start
    /// (empty when booking times are unknown): a backtest origin before
    /// one's `known_from` did not know of it, and must not be given it.
    pub late: Vec<LateStart>,
}

/// One appointment counted in [`Covariates::values`] that was booked late:
/// at grid point `step` of row `row`, known from grid point `known_from` on
/// (the first point at or after its booking time; a decision at point
/// `cut`'s time knew of it when `known_from <= cut`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateStart {
    pub row: usize,
    pub step: usize,
    pub known_from: usize,
}

impl Covariates {
    /// Covariates without booking times (every count known at any origin).
    pub fn new(grid: Grid, types: Vec<String>, values: Vec<Vec<f64>>) -> Self {
        Covariates {
            grid,
            types,
            values,
            late: Vec::new(),
        }
    }

    /// The late bookings among steps `from..to`, indexed from `from`; those
    /// known by `from` are left out (known at every origin from there on).
    pub fn late_within(&self, from: usize, to: usize) -> Vec<LateStart> {
        self.late
            .iter()
            .filter(|l| (from..to).contains(&l.step) && l.known_from > from)
            .map(|l| LateStart {
                row: l.row,
                step: l.step - from,
                known_from: l.known_from - from,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    #[test]
    fn index_and_time_round_trip() {
        let g = Grid::new(t(0, 0), 300, 12);
        assert_eq!(g.time(3), t(0, 15));
        assert_eq!(g.index_of(t(0, 17)), Some(3));
        assert_eq!(g.index_of(t(1, 0)), None);
        assert_eq!(g.index_of(t(0, 0) - TimeDelta::seconds(1)), None);
        assert!(g.is_aligned(t(2, 5)));
        assert!(!g.is_aligned(t(2, 6)));
        assert_eq!(g.end(), t(1, 0));
        assert_eq!(g.steps_per(86_400), Some(288));
        assert_eq!(g.steps_per(1000), None);
    }

    #[test]
    fn slice_is_clamped() {
        let s = Series::new(Grid::new(t(0, 0), 300, 0), (0..12).map(f64::from).collect());
        let part = s.slice_time(t(0, 10), t(0, 20));
        assert_eq!(part.values, vec![2.0, 3.0]);
        assert_eq!(part.grid.start, t(0, 10));
        assert_eq!(s.slice_time(t(0, 50), t(5, 0)).values, vec![10.0, 11.0]);
        assert!(s.slice_time(t(3, 0), t(4, 0)).is_empty());
    }
}
