//! The appointments that are not in the book yet: same-day bookings and
//! reschedules that will fill slots in the horizon after the forecast is
//! made.
//!
//! The schedule models are fitted on the history's appointments as they
//! finally were, and forecast from the book as it is now; without a term for
//! what is still to be booked, their mean is low by that work wherever a
//! share of the appointments is booked late (docs/PERFORMANCE.md, "Windows
//! by forecast mean"). From the booking times of the history's appointments
//! ([`LateStart`]) this estimates, for each appointment row, how many
//! appointments per step start at each phase of the period having been
//! booked less than a horizon ahead, and the share of those booked less than
//! `j` steps ahead; the expected count still to be booked at lead `j` is
//! their product. Added to the booked counts, the kernels turn it into the
//! work it causes (they are linear in the counts).
//!
//! The factorisation (a profile by phase times one lead distribution per
//! row) assumes late bookings keep the same lead whatever the time of week;
//! it needs only the booking lead of each late appointment and is O(late
//! bookings + period).

use super::kernel::smoothed_profile;
use crate::series::LateStart;

/// Expected appointments still to be booked, per row and lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Unbooked {
    /// Per row: appointments booked less than `horizon` steps before their
    /// start, per step, by absolute phase of the period (steps since the
    /// Unix epoch modulo the period); empty for a row left out.
    profile: Vec<Vec<f64>>,
    /// Per row: the share of those booked less than `j` steps before their
    /// start, `j = 0..=horizon` (rising to 1 at `horizon`).
    share: Vec<Vec<f64>>,
}

/// What [`Unbooked::estimate`] reads besides the late bookings.
pub struct Window<'a> {
    /// Covariate rows.
    pub rows: usize,
    /// Rows that are not appointments (an upstream's completions).
    pub skip: &'a dyn Fn(usize) -> bool,
    /// Steps of history (from 0) to learn from: bookings of appointments
    /// that start before `upto`.
    pub upto: usize,
    /// Longest lead counted as late, in steps (the forecast horizon).
    pub horizon: usize,
    /// Absolute phase of step 0 (steps since the Unix epoch).
    pub phase0: usize,
    /// Period of the profile in steps (a week, or a day).
    pub period: usize,
    /// Neighbouring phases pooled either side.
    pub pool: usize,
    /// Steps the clinic is closed for a closure (no appointments expected).
    pub closed: &'a dyn Fn(usize) -> bool,
}

impl Unbooked {
    /// Learns from the late bookings of appointments starting in
    /// `w.horizon..w.upto`: from `w.horizon` on, every appointment booked
    /// less than a horizon ahead was booked after the history's start and
    /// is in `late` ([`crate::series::Covariates::late_within`]); before it
    /// one booked ahead of the history is not. `None` when nothing was booked
    /// late (no booking times, or none within a horizon) or the history is
    /// shorter than a horizon and a day.
    pub fn estimate(late: &[LateStart], w: &Window) -> Option<Unbooked> {
        let (h, period) = (w.horizon, w.period.max(1));
        if h == 0 || w.upto <= h || late.is_empty() {
            return None;
        }
        let mut cnt = vec![0usize; period];
        let mut ph = (w.phase0 + h) % period;
        for t in h..w.upto {
            if !(w.closed)(t) {
                cnt[ph] += 1;
            }
            ph += 1;
            if ph == period {
                ph = 0;
            }
        }
        let mut sums = vec![vec![0.0; period]; w.rows];
        // Per row, late bookings by lead: lead[0] those known only after
        // their start step began, lead[1 + l] those known `l` steps ahead.
        let mut leads = vec![vec![0usize; h + 1]; w.rows];
        let mut any = false;
        for l in late {
            if l.row >= w.rows || (w.skip)(l.row) || !(h..w.upto).contains(&l.step) {
                continue;
            }
            if (w.closed)(l.step) {
                continue;
            }
            // Known at an origin `c` iff `known_from <= c`: unknown at lead
            // `j = step − c` iff `step − known_from < j`.
            let lead = l.step as i64 - l.known_from as i64;
            if lead >= h as i64 {
                continue;
            }
            let slot = (lead.max(-1) + 1) as usize;
            leads[l.row][slot] += 1;
            sums[l.row][(w.phase0 + l.step) % period] += 1.0;
            any = true;
        }
        if !any {
            return None;
        }
        let profile = (0..w.rows)
            .map(|r| {
                if leads[r].iter().all(|c| *c == 0) {
                    Vec::new()
                } else {
                    smoothed_profile(&sums[r], &cnt, w.pool)
                }
            })
            .collect();
        let share = leads
            .iter()
            .map(|by| {
                let total = by.iter().sum::<usize>().max(1) as f64;
                // share[j]: leads below j, i.e. slots 0..=j (slot 0 below 0).
                let mut acc = 0usize;
                let mut out = Vec::with_capacity(h + 1);
                for b in by.iter().take(h) {
                    acc += b;
                    out.push(acc as f64 / total);
                }
                out.push(1.0);
                out
            })
            .collect();
        Some(Unbooked { profile, share })
    }

    /// The expected appointments still to be booked at step `t` of row `row`
    /// for a forecast made at step `origin` (0 at and before it: none of
    /// those steps is ahead), `phase0` the absolute phase of step 0.
    pub fn expected(&self, row: usize, t: usize, origin: usize, phase0: usize) -> f64 {
        let (Some(p), Some(s)) = (self.profile.get(row), self.share.get(row)) else {
            return 0.0;
        };
        if p.is_empty() || s.is_empty() {
            return 0.0;
        }
        // At lead 0 only bookings made within the origin's step are unknown.
        let j = (t.saturating_sub(origin)).min(s.len() - 1);
        p[(phase0 + t) % p.len()] * s[j]
    }

    /// Adds the expected appointments still to be booked to `counts` at
    /// steps `from..to` (indices of `counts`), for a forecast made at step
    /// `origin`; `closed(t)` steps get none.
    pub fn add_to(
        &self,
        counts: &mut [Vec<f64>],
        origin: usize,
        from: usize,
        to: usize,
        phase0: usize,
        closed: &dyn Fn(usize) -> bool,
    ) {
        for (row, c) in counts.iter_mut().enumerate() {
            if self.profile.get(row).is_none_or(Vec::is_empty) {
                continue;
            }
            for t in from..to.min(c.len()) {
                if !closed(t) {
                    c[t] += self.expected(row, t, origin, phase0);
                }
            }
        }
    }

    /// Expected appointments per step still to be booked a whole horizon
    /// ahead, summed over the rows and averaged over the period: the size of
    /// the term, for notes.
    pub fn per_step(&self) -> f64 {
        self.profile
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p.iter().sum::<f64>() / p.len() as f64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn late(row: usize, step: usize, lead: i64) -> LateStart {
        LateStart {
            row,
            step,
            known_from: (step as i64 - lead) as usize,
        }
    }

    fn window<'a>(
        upto: usize,
        horizon: usize,
        period: usize,
        skip: &'a dyn Fn(usize) -> bool,
        closed: &'a dyn Fn(usize) -> bool,
    ) -> Window<'a> {
        Window {
            rows: 2,
            skip,
            upto,
            horizon,
            phase0: 0,
            period,
            pool: 0,
            closed,
        }
    }

    #[test]
    fn late_bookings_give_a_profile_by_phase_and_a_share_by_lead() {
        let no = |_: usize| false;
        // Period 4, horizon 4, 40 steps: 9 cycles from step 4 on. At phase 1
        // of every cycle one appointment booked 1 step ahead, at phase 2 one
        // booked 3 steps ahead; one booked 10 steps ahead (not late within
        // the horizon); one before step 4 (not counted: the history's start
        // censors its lead).
        let mut l = Vec::new();
        for c in 1..10 {
            l.push(late(0, 4 * c + 1, 1));
            l.push(late(0, 4 * c + 2, 3));
        }
        l.push(late(0, 7, 10));
        l.push(late(0, 1, 0));
        let u = Unbooked::estimate(&l, &window(40, 4, 4, &no, &no)).expect("late bookings");
        assert_eq!(u.profile[0], vec![0.0, 1.0, 1.0, 0.0]);
        assert!(u.profile[1].is_empty(), "no late bookings in row 1");
        // Leads 1 and 3, half each: below 0 none, below 2 a half, below 4 all.
        assert_eq!(u.share[0], vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        // Made at step 40 (phase 0): step 41 (phase 1) at lead 1 expects
        // none (its late one is booked 1 step ahead, known by then), step 45
        // (phase 1, lead 5 ≥ horizon) all of it, step 42 (phase 2, lead 2)
        // half.
        assert_eq!(u.expected(0, 41, 40, 0), 0.0);
        assert_eq!(u.expected(0, 45, 40, 0), 1.0);
        assert_eq!(u.expected(0, 42, 40, 0), 0.5);
        assert_eq!(u.expected(0, 40, 40, 0), 0.0, "nothing unknown at lead 0");
        assert_eq!(u.expected(1, 42, 40, 0), 0.0);
        let mut counts = vec![vec![2.0; 48], vec![0.0; 48]];
        u.add_to(&mut counts, 40, 40, 48, 0, &|t| t == 46);
        assert_eq!(counts[0][..40], vec![2.0; 40][..], "the past is known");
        assert_eq!(counts[0][40..], [2.0, 2.0, 2.5, 2.0, 2.0, 3.0, 2.0, 2.0]);
        assert_eq!(counts[1], vec![0.0; 48]);
    }

    #[test]
    fn a_booking_made_within_its_start_step_is_unknown_at_lead_zero() {
        let no = |_: usize| false;
        let l: Vec<LateStart> = (1..10).map(|c| late(0, 2 * c, -1)).collect();
        let u = Unbooked::estimate(&l, &window(20, 2, 2, &no, &no)).unwrap();
        assert_eq!(u.share[0], vec![1.0, 1.0, 1.0]);
        assert_eq!(u.expected(0, 20, 20, 0), 1.0);
    }

    #[test]
    fn skipped_rows_closures_and_no_booking_times_give_nothing() {
        let no = |_: usize| false;
        let skip0 = |r: usize| r == 0;
        let l: Vec<LateStart> = (1..10).map(|c| late(0, 4 * c + 1, 1)).collect();
        assert_eq!(Unbooked::estimate(&[], &window(40, 4, 4, &no, &no)), None);
        assert_eq!(Unbooked::estimate(&l, &window(40, 4, 4, &skip0, &no)), None);
        // Closed at every step from 20 on: only the 4 cycles before count,
        // and the appointments in closed steps are not learnt from.
        let closed = |t: usize| t >= 20;
        let u = Unbooked::estimate(&l, &window(40, 4, 4, &no, &closed)).unwrap();
        assert_eq!(u.profile[0], vec![0.0, 1.0, 0.0, 0.0]);
        // Shorter than a horizon: nothing to learn from.
        assert_eq!(Unbooked::estimate(&l, &window(4, 4, 4, &no, &no)), None);
    }
}
