//! planscale's pure core: everything between data coming in and a replica
//! count going out, with no network, no async runtime and no Kubernetes.
//!
//! Data enters as a [`policy`], a [`recording`] or live [`series`], and a
//! [`schedule`]; [`autoscale::Autoscaler`] is the one step from history to a
//! decision (the [`forecast`] engine, then the [`plan`]ner); [`sim`] replays
//! a recording through that same step against a simulated cluster. The
//! binary crate (`planscale`) holds the I/O edge: metric sources, the
//! controller, telemetry and the command line. See `docs/ARCHITECTURE.md`.

pub mod autoscale;
pub mod calendar;
pub mod duration;
pub mod example;
pub mod figure;
pub mod forecast;
pub mod plan;
pub mod policy;
pub mod recording;
pub mod schedule;
pub mod series;
pub mod sim;
