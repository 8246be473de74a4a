//! What a decision at a given time can know of the appointment book: the
//! appointments booked by then ([`Appointment::known_at`]). A live schedule
//! is that already; a replay of a whole exported book (`simulate`, the
//! backtests, `forecast --at`) must cut it, or it forecasts with bookings
//! that were made later (same-day add-ons, reschedules).

use chrono::{DateTime, Utc};

use super::Appointment;

/// The appointments of `appointments` booked at or before `t`, in their order.
pub fn known_at(appointments: &[Appointment], t: DateTime<Utc>) -> Vec<Appointment> {
    appointments
        .iter()
        .filter(|a| a.known_at(t))
        .cloned()
        .collect()
}

/// The book as a replay sees it at a moving decision time: [`Booked::at`]
/// gives the appointments booked by then, sorted (by start first, see
/// [`Appointment`]). Each appointment is added once, when its booking time is
/// reached, so a replay that asks at every interval pays per booking, not
/// per interval × book. Asking for an earlier time than the last starts over.
#[derive(Debug, Clone)]
pub struct Booked<'a> {
    /// Every appointment, in the order they become known (unknown booking
    /// times first: they count as booked long ago).
    pending: Vec<&'a Appointment>,
    /// `pending[..next]` are in `known`.
    next: usize,
    known: Vec<Appointment>,
    last: Option<DateTime<Utc>>,
}

/// Above this many new appointments at once, [`Booked::at`] appends and sorts
/// instead of inserting one by one (the first call takes everything booked
/// before the replay starts).
const BATCH: usize = 32;

impl<'a> Booked<'a> {
    /// A view of `appointments` (any order).
    pub fn new(appointments: &'a [Appointment]) -> Self {
        let mut pending: Vec<&Appointment> = appointments.iter().collect();
        // `None < Some(_)`: unknown booking times come first.
        pending.sort_by_key(|a| a.booked_at);
        Booked {
            pending,
            next: 0,
            known: Vec::new(),
            last: None,
        }
    }

    /// The appointments booked at or before `t`, sorted.
    pub fn at(&mut self, t: DateTime<Utc>) -> &[Appointment] {
        if self.last.is_some_and(|l| t < l) {
            self.known.clear();
            self.next = 0;
        }
        self.last = Some(t);
        let first = self.next;
        let upto = first + self.pending[first..].partition_point(|a| a.known_at(t));
        self.next = upto;
        let new = &self.pending[first..upto];
        if new.len() > BATCH {
            self.known.extend(new.iter().map(|a| (*a).clone()));
            self.known.sort();
        } else {
            for a in new {
                let i = self.known.partition_point(|k| k <= *a);
                self.known.insert(i, (*a).clone());
            }
        }
        &self.known
    }

    /// How many appointments are not yet known at the last time asked.
    pub fn not_yet_booked(&self) -> usize {
        self.pending.len() - self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use rand::{RngExt, SeedableRng};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
    }

    fn book(n: usize, seed: u64) -> Vec<Appointment> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v: Vec<Appointment> = (0..n)
            .map(|_| {
                let start = t0() + TimeDelta::minutes(rng.random_range(0..20_000));
                let booked_at = match rng.random_range(0..4) {
                    0 => None,
                    _ => Some(start - TimeDelta::minutes(rng.random_range(-60..10_000))),
                };
                Appointment {
                    start,
                    end: start + TimeDelta::minutes(20),
                    kind: ["CT-SIM", "MR-SIM"][rng.random_range(0..2)].into(),
                    resource: None,
                    booked_at,
                }
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn at_every_time_it_is_exactly_what_was_booked_by_then_sorted() {
        let all = book(400, 3);
        let mut view = Booked::new(&all);
        let mut checked_growth = false;
        for k in -200..400 {
            let t = t0() + TimeDelta::minutes(k * 37);
            let got = view.at(t).to_vec();
            let want = known_at(&all, t);
            assert_eq!(got, want, "at {t}");
            checked_growth |= !want.is_empty() && want.len() < all.len();
        }
        assert!(checked_growth, "the test never saw a partly known book");
        assert!(view.not_yet_booked() > 0);
        assert_eq!(view.at(t0() + TimeDelta::days(30)).len(), all.len());
        assert_eq!(view.not_yet_booked(), 0);
    }

    #[test]
    fn an_unknown_booking_time_is_known_from_the_start_and_going_back_starts_over() {
        let all = book(200, 4);
        let unknown = all.iter().filter(|a| a.booked_at.is_none()).count();
        assert!(unknown > 0);
        let mut view = Booked::new(&all);
        let early = t0() - TimeDelta::days(365);
        assert_eq!(view.at(early).len(), unknown);
        let late = t0() + TimeDelta::days(30);
        assert_eq!(view.at(late).len(), all.len());
        assert_eq!(view.at(t0()).to_vec(), known_at(&all, t0()));
    }

    #[test]
    fn booked_at_the_decision_instant_is_known() {
        let mut a = book(1, 5).remove(0);
        a.booked_at = Some(t0());
        assert!(a.known_at(t0()));
        assert!(!a.known_at(t0() - TimeDelta::seconds(1)));
    }
}
