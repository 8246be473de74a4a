//! Decisions in words a clinician reads: what planscale did, and why, from
//! the planner's `Decision` (its winning term, every term's value, the limit
//! that applied, the forecast quantile and the queue it saw) and the policy
//! (its SLO, start-up, bounds and rate limits). The words are built here from
//! those fields only, so every sentence can be checked against the numbers
//! beside it in the report.

use chrono::TimeDelta;

use super::TraceEntry;
use super::report::fmt_wait;
use crate::plan::{Limit, Term};
use crate::policy::Policy;

/// One decision, explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// "Asked for 10 replicas (was 6)."
    pub action: String,
    /// Why, in one or two sentences: the signal that decided, then what held it back.
    pub why: String,
}

fn replicas(n: u32) -> String {
    if n == 1 {
        "1 replica".into()
    } else {
        format!("{n} replicas")
    }
}

/// "9 in 10" for 0.9, "19 in 20" for 0.95, else a percentage.
fn odds(q: f64) -> String {
    for n in [10u32, 20, 100] {
        let k = q * f64::from(n);
        if (k - k.round()).abs() < 1e-9 {
            return format!("{} in {n}", k.round() as u32);
        }
    }
    format!("{:.0} %", q * 100.0)
}

/// Explain one traced decision under its policy.
pub fn explain(e: &TraceEntry, p: &Policy) -> Explanation {
    let d = &e.decision;
    let action = match d.desired.cmp(&d.current) {
        std::cmp::Ordering::Greater => {
            format!("Asked for {} (was {}).", replicas(d.desired), d.current)
        }
        std::cmp::Ordering::Less => {
            format!("Reduced to {} (was {}).", replicas(d.desired), d.current)
        }
        std::cmp::Ordering::Equal => format!("Kept {}.", replicas(d.current)),
    };
    let unit = &p.demand.unit;
    let per_min = p.capacity.per_second() * 60.0;
    let startup = p.capacity.startup;
    let slo = fmt_wait(p.slo.max_wait.secs() as f64);
    let ready_by = d.at + TimeDelta::seconds(startup.secs_i64());
    let tz = p.schedule.as_ref().map_or(chrono_tz::Tz::UTC, |s| s.tz());
    let ready_by = ready_by.with_timezone(&tz).format("%H:%M");
    let asked = match d.term {
        Term::Predictive => d.terms.predictive,
        Term::Reactive => d.terms.reactive,
        Term::Backlog => d.terms.backlog,
        Term::Minimum | Term::Hold => None,
    };
    let asked = asked.map_or(String::new(), |n| format!(" needs {}", replicas(n)));
    let mut why = match d.term {
        Term::Predictive => {
            let rate = d.forecast_rate.map_or(0.0, |r| r * 60.0);
            format!(
                "The forecast decided: a replica asked for now is ready at {ready_by} ({startup} start-up), \
                 and up to {rate:.2} {unit}/min are expected then (the p{q:.0} forecast: demand stays below it \
                 {odds} times); serving that, with work allowed to wait part of the {slo} SLO,{asked}.",
                q = d.quantile * 100.0,
                odds = odds(d.quantile),
            )
        }
        Term::Backlog => format!(
            "The queue decided: {q:.1} {unit} were waiting; starting them, and the work arriving now, within the \
             {slo} SLO{asked} (one replica does {per_min:.2} {unit}/min).",
            q = e.queue_depth
        ),
        Term::Reactive => format!(
            "Utilisation decided: the ready replicas were {u:.0} % busy; at the {t:.0} % target that{asked}.",
            u = e.utilisation.unwrap_or(0.0) * 100.0,
            t = p.scaling.reactive_target * 100.0
        ),
        Term::Minimum => format!(
            "Nothing asked for more than the policy's minimum of {}.",
            replicas(p.replicas.min)
        ),
        Term::Hold => "No signal was usable, so the count was kept.".into(),
    };
    let show = |v: Option<u32>| v.map_or("none".to_string(), |n| n.to_string());
    why.push_str(&format!(
        " (Asked for: forecast {}, queue {}, utilisation {}.)",
        show(d.terms.predictive),
        show(d.terms.backlog),
        show(d.terms.reactive)
    ));
    if let Some(l) = d.limit {
        why.push(' ');
        why.push_str(&limit_words(l, d, p));
    }
    if let Some(n) = d.no_forecast {
        why.push_str(&format!(
            " No forecast was used: {}; the queue and utilisation decide alone.",
            n.explain()
        ));
    }
    Explanation { action, why }
}

fn limit_words(l: Limit, d: &crate::plan::Decision, p: &Policy) -> String {
    let s = &p.scaling;
    let (desired, recommended) = (d.desired, d.recommended);
    let pods = |n: u32| {
        if n == 1 {
            "1 pod".to_string()
        } else {
            format!("{n} pods")
        }
    };
    match l {
        Limit::MaxReplicas => format!(
            "Capped at the policy's maximum of {}.",
            replicas(p.replicas.max)
        ),
        Limit::MinReplicas => format!(
            "Raised to the policy's minimum of {}.",
            replicas(p.replicas.min)
        ),
        Limit::ScaleUpRate => format!(
            "The scale-up rate limit ({} or {} % more per {}) allowed {desired} now, not the {recommended} asked for.",
            pods(s.scale_up.pods),
            s.scale_up.percent,
            s.scale_up.period
        ),
        Limit::ScaleDownRate => format!(
            "The scale-down rate limit ({} or {} % fewer per {}) allowed {desired} now, not {recommended}.",
            pods(s.scale_down.pods),
            s.scale_down.percent,
            s.scale_down.period
        ),
        Limit::Stabilisation => format!(
            "Kept at {desired}, not {recommended}: that many were recommended within the last {} \
             (stabilisation keeps the highest recent recommendation, so one quiet minute does not remove replicas).",
            s.stabilization
        ),
        Limit::ForecastRise => format!(
            "Kept at {desired}, not {recommended}: the forecast rises within the next {} — a replica removed now \
             could not be back in time.",
            fmt_wait((p.capacity.startup.secs() + p.scaling.interval.secs()) as f64)
        ),
        Limit::MissingMetrics => format!(
            "Kept at {desired}: metrics were missing, and planscale does not scale down on a guess."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Decision, Terms};
    use chrono::{TimeZone, Utc};

    fn entry(term: Term, current: u32, desired: u32, limit: Option<Limit>) -> TraceEntry {
        let at = Utc.with_ymd_and_hms(2026, 4, 14, 6, 10, 0).unwrap();
        TraceEntry {
            at,
            current,
            ready: current,
            utilisation: Some(0.95),
            queue_depth: 3.0,
            decision: Decision {
                at,
                current,
                desired,
                recommended: desired + 2,
                term,
                terms: Terms {
                    predictive: Some(desired + 2),
                    reactive: Some(current),
                    backlog: Some(4),
                },
                limit,
                forecast_rate: Some(2.4 / 60.0),
                quantile: 0.9,
                utilisation: Some(0.95),
                queue_depth: Some(3.0),
                no_forecast: None,
                forecast_at_lead: Some(12.0),
                planned: None,
            },
        }
    }

    #[test]
    fn a_forecast_scale_up_names_the_quantile_the_time_and_the_limit() {
        let p = Policy::test().min(1).max(24);
        let x = explain(
            &entry(Term::Predictive, 6, 10, Some(Limit::ScaleUpRate)),
            &p,
        );
        assert_eq!(x.action, "Asked for 10 replicas (was 6).");
        assert!(x.why.starts_with("The forecast decided"), "{}", x.why);
        assert!(x.why.contains("2.40"), "{}", x.why);
        assert!(
            x.why.contains("p90") && x.why.contains("9 in 10"),
            "{}",
            x.why
        );
        assert!(x.why.contains("needs 12 replicas"), "{}", x.why);
        assert!(
            x.why.contains("forecast 12, queue 4, utilisation 6"),
            "{}",
            x.why
        );
        assert!(
            x.why.contains("scale-up rate limit (4 pods")
                && x.why.contains("allowed 10 now, not the 12"),
            "{}",
            x.why
        );
    }

    #[test]
    fn a_queue_decision_names_what_was_waiting() {
        let p = Policy::test();
        let x = explain(&entry(Term::Backlog, 4, 4, None), &p);
        assert_eq!(x.action, "Kept 4 replicas.");
        assert!(x.why.starts_with("The queue decided: 3.0"), "{}", x.why);
    }

    #[test]
    fn odds_read_as_counts() {
        assert_eq!(odds(0.9), "9 in 10");
        assert_eq!(odds(0.95), "19 in 20");
        assert_eq!(odds(0.99), "99 in 100");
        assert_eq!(odds(0.333), "33 %");
    }
}
