//! The policy model: one file per application, YAML (or TOML), loaded with
//! serde and then validated. Every error names the file, the field path and
//! what was expected, and all errors of a file are reported together.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::duration::Duration;

use crate::calendar::{Calendar, CalendarSpec};
use crate::schedule::ScheduleSpec;

/// One application's scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unique name of the policy (a DNS label: lower-case letters, digits, '-').
    pub name: String,
    /// The workload that is scaled.
    pub target: Target,
    /// Bounds on the replica count.
    pub replicas: Replicas,
    /// What one ready replica can do, and how long a new one takes to get ready.
    pub capacity: Capacity,
    /// Where the demand comes from (recording columns and Prometheus queries).
    pub demand: Demand,
    /// The service level the scaling must keep.
    pub slo: Slo,
    #[serde(default)]
    pub forecast: ForecastSpec,
    #[serde(default)]
    pub scaling: Scaling,
    /// The clinic's appointment book, if the application's load follows it.
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// The clinic's working time: opening hours, public holidays, closures
    /// (docs/ARCHITECTURE.md, "Working time"). Resolved when the policy is
    /// loaded; [`Policy::calendar`] gives the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarSpec>,
}

/// The scaled workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub kind: TargetKind,
    pub namespace: String,
    pub name: String,
    /// Name of the HorizontalPodAutoscaler whose minReplicas `hpa-floor` mode sets.
    #[serde(default)]
    pub hpa: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetKind {
    Deployment,
    StatefulSet,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Deployment => "Deployment",
            TargetKind::StatefulSet => "StatefulSet",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replicas {
    pub min: u32,
    pub max: u32,
}

/// Throughput of one ready replica: `per_replica` demand units every `per`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Demand units one ready replica completes every `per`.
    pub per_replica: f64,
    /// The time unit of `per_replica` (default one minute).
    #[serde(default = "default_per")]
    pub per: Duration,
    /// Time from asking for a replica until it serves (image pull, model load).
    pub startup: Duration,
}

impl Capacity {
    /// Demand units per second of one ready replica.
    pub fn per_second(&self) -> f64 {
        self.per_replica / self.per.secs().max(1) as f64
    }
}

/// The windows a decision at `now` plans for (see `docs/ARCHITECTURE.md`,
/// "Planner"). From [`Policy::windows`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windows {
    /// Lead time, `capacity.startup`: the earliest a replica requested now
    /// can serve is `now + lead`.
    pub lead: chrono::TimeDelta,
    /// `scaling.interval`: the window after the lead that this decision alone
    /// provisions for (the next decision covers the one after).
    pub window: chrono::TimeDelta,
    /// How long work may queue before it starts, `scaling.queue_allowance ×
    /// slo.max_wait`, in seconds (used while the queue depth is observed).
    pub allowance_secs: f64,
    /// How far past the window the predictive term looks: twice the allowance.
    pub lookahead: chrono::TimeDelta,
    /// How far past `now` the forecast must reach for the planner to use the
    /// allowance in full: `lead + window + lookahead`.
    pub reach: chrono::TimeDelta,
}

/// Where the demand is measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// Name of the demand unit, for reports (e.g. `jobs`, `core-seconds`).
    #[serde(default = "default_unit")]
    pub unit: String,
    /// Work arriving per step (required).
    pub arrivals: SeriesRef,
    /// Work waiting in the queue (optional; used for the backlog term).
    #[serde(default)]
    pub queue_depth: Option<SeriesRef>,
    /// CPU utilisation of the workload as a fraction (optional; for the reactive floor).
    #[serde(default)]
    pub cpu: Option<SeriesRef>,
    /// Work this stage finishes per step (optional): what a downstream
    /// stage's forecast reads (`demand.upstream` of another policy).
    #[serde(default)]
    pub completions: Option<SeriesRef>,
    /// Stages whose finished work causes this stage's arrivals (a pipeline:
    /// contours approved, then dose calculated): the forecast learns the lag
    /// and ratio from their completions to this stage's arrivals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<Upstream>,
}

/// A stage before this one in a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// The upstream policy's `name` (it must declare `demand.completions`).
    pub policy: String,
    /// Longest delay from an upstream completion to the work it causes here
    /// (working time when the policy has a calendar); default 8h.
    #[serde(default = "default_upstream_lag")]
    pub max_lag: Duration,
}

fn default_upstream_lag() -> Duration {
    Duration::from_secs(8 * 3600)
}

/// A series by its recording column name and, for live use, its PromQL query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesRef {
    /// Column name in a recording.
    pub series: String,
    /// PromQL expression that yields this series (one series) at the forecast step.
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Longest acceptable wait in the queue before work starts.
    pub max_wait: Duration,
    /// Fraction of work that should start within `max_wait` (default 0.99).
    #[serde(default = "default_attainment")]
    pub attainment: f64,
}

/// How demand is forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSpec {
    /// Step of the demand series (and of the recording).
    #[serde(default = "default_step")]
    pub step: Duration,
    /// How much history the model is fitted on.
    #[serde(default = "default_history")]
    pub history: Duration,
    /// How far ahead it forecasts.
    #[serde(default = "default_horizon")]
    pub horizon: Duration,
    /// Which per-step forecast quantile `planscale forecast`, the forecast
    /// ledger and the metrics show, in (0, 1). The planner plans work per
    /// window at the level `slo.attainment` asks for (see `plan`).
    #[serde(default = "default_quantile")]
    pub quantile: f64,
    /// Seasonal periods (whole multiples of `step`).
    #[serde(default = "default_periods")]
    pub seasonal_periods: Vec<Duration>,
    /// How often the model is refitted.
    #[serde(default = "default_refit")]
    pub refit_every: Duration,
}

impl Default for ForecastSpec {
    fn default() -> Self {
        ForecastSpec {
            step: default_step(),
            history: default_history(),
            horizon: default_horizon(),
            quantile: default_quantile(),
            seasonal_periods: default_periods(),
            refit_every: default_refit(),
        }
    }
}

/// What planscale does with its decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Set the replica count through the scale subresource.
    Scale,
    /// Set minReplicas of an existing HPA; reactive scaling stays with the HPA.
    HpaFloor,
    /// Decide, explain and export metrics; write nothing.
    #[default]
    ForecastOnly,
    /// Write nothing; serve the decision to KEDA through its external
    /// scaler interface (`planscale run --keda-listen`), which scales the
    /// target through the HPA it creates.
    Keda,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Scale => "scale",
            Mode::HpaFloor => "hpa-floor",
            Mode::ForecastOnly => "forecast-only",
            Mode::Keda => "keda",
        })
    }
}

/// Scaling behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    #[serde(default)]
    pub mode: Mode,
    /// Time between decisions.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    #[serde(default = "default_scale_up")]
    pub scale_up: StepLimit,
    #[serde(default = "default_scale_down")]
    pub scale_down: StepLimit,
    /// How long a lower recommendation must persist before scaling down.
    #[serde(default = "default_stabilization")]
    pub stabilization: Duration,
    /// Target utilisation of ready replicas for the reactive floor, in (0, 1].
    #[serde(default = "default_reactive_target")]
    pub reactive_target: f64,
    /// Relative change of the reactive ratio ignored, as the HPA's tolerance.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Share of the SLO wait, in [0, 1), that the predictive term may plan
    /// as queueing: work forecast to arrive is provisioned to start within
    /// `queue_allowance × slo.max_wait`, not the instant it arrives. Used
    /// only while the queue depth is observed; 0 provisions for the peak
    /// forecast rate itself.
    #[serde(default = "default_queue_allowance")]
    pub queue_allowance: f64,
}

impl Default for Scaling {
    fn default() -> Self {
        Scaling {
            mode: Mode::default(),
            interval: default_interval(),
            scale_up: default_scale_up(),
            scale_down: default_scale_down(),
            stabilization: default_stabilization(),
            reactive_target: default_reactive_target(),
            tolerance: default_tolerance(),
            queue_allowance: default_queue_allowance(),
        }
    }
}

/// At most `max(pods, percent % of current)` replicas change per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLimit {
    pub pods: u32,
    pub percent: f64,
    pub period: Duration,
}

impl StepLimit {
    /// The largest change allowed from `base` replicas within one period.
    pub fn max_change(&self, base: u32) -> u32 {
        let by_percent = (f64::from(base) * self.percent / 100.0).ceil();
        self.pods.max(by_percent.min(f64::from(u32::MAX)) as u32)
    }
}

fn default_per() -> Duration {
    Duration::from_mins(1)
}
fn default_unit() -> String {
    "jobs".into()
}
fn default_attainment() -> f64 {
    0.99
}
fn default_step() -> Duration {
    Duration::from_mins(5)
}
fn default_history() -> Duration {
    Duration::from_days(28)
}
fn default_horizon() -> Duration {
    Duration::from_hours(48)
}
fn default_quantile() -> f64 {
    0.9
}
fn default_periods() -> Vec<Duration> {
    vec![Duration::from_days(1), Duration::from_days(7)]
}
fn default_refit() -> Duration {
    Duration::from_hours(1)
}
fn default_interval() -> Duration {
    Duration::from_mins(1)
}
fn default_scale_up() -> StepLimit {
    StepLimit {
        pods: 4,
        percent: 100.0,
        period: Duration::from_mins(1),
    }
}
fn default_scale_down() -> StepLimit {
    StepLimit {
        pods: 1,
        percent: 20.0,
        period: Duration::from_mins(1),
    }
}
fn default_stabilization() -> Duration {
    Duration::from_mins(10)
}
fn default_reactive_target() -> f64 {
    0.8
}
fn default_tolerance() -> f64 {
    0.1
}
fn default_queue_allowance() -> f64 {
    0.5
}

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: PathBuf,
    /// Dotted field path (`replicas.min`), or empty for the whole file.
    pub field: String,
    /// Line in the file, where the parser knows it.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

/// All problems found while loading policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// A policy with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPolicy {
    pub path: PathBuf,
    pub policy: Policy,
}

impl LoadedPolicy {
    /// Resolve a path written in the policy relative to the policy file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or_else(|| Path::new(".")).join(p)
        }
    }
}

/// Whether a file name looks like a policy file (by extension).
pub fn is_policy_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "toml")
    )
}

impl Policy {
    /// Parse and validate a policy from text; `file` is used in error messages
    /// and its extension chooses the format (`.toml` is TOML, anything else YAML).
    pub fn from_str_named(text: &str, file: &Path) -> Result<Policy, PolicyErrors> {
        let is_toml = file.extension().and_then(|e| e.to_str()) == Some("toml");
        let policy = if is_toml {
            let de = toml::Deserializer::parse(text)
                .map_err(|e| PolicyErrors(vec![toml_error(file, text, e.span(), e.message())]))?;
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let mut err = toml_error(file, text, inner.span(), inner.message());
                err.field = clean_path(&path);
                PolicyErrors(vec![err])
            })?
        } else {
            let de = serde_yaml::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let field = clean_path(&e.path().to_string());
                let inner = e.into_inner();
                let message = strip_location(&inner.to_string());
                // serde_yaml prefixes some messages with the path itself.
                let message = message
                    .strip_prefix(&format!("{field}: "))
                    .map(str::to_string)
                    .unwrap_or(message);
                PolicyErrors(vec![PolicyError {
                    file: file.to_path_buf(),
                    field,
                    line: inner.location().map(|l| l.line()),
                    message,
                }])
            })?
        };
        let mut policy: Policy = policy;
        let mut problems = policy.validate();
        if problems.is_empty() {
            let base = file.parent().unwrap_or_else(|| Path::new("."));
            problems = policy.resolve_calendar(base);
        }
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyErrors(
                problems
                    .into_iter()
                    .map(|(field, message)| PolicyError {
                        file: file.to_path_buf(),
                        field,
                        line: None,
                        message,
                    })
                    .collect(),
            ))
        }
    }

    /// Load and validate one policy file.
    pub fn load(path: &Path) -> Result<LoadedPolicy, PolicyErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                file: path.to_path_buf(),
                field: String::new(),
                line: None,
                message: format!("cannot read the policy file: {e}"),
            }])
        })?;
        Ok(LoadedPolicy {
            path: path.to_path_buf(),
            policy: Policy::from_str_named(&text, path)?,
        })
    }

    /// Semantic checks; each problem is `(field path, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut err = |field: &str, msg: String| p.push((field.to_string(), msg));

        if let Some(msg) = dns_label_problem(&self.name) {
            err("name", msg);
        }
        if let Some(msg) = dns_label_problem(&self.target.namespace) {
            err("target.namespace", msg);
        }
        if let Some(msg) = dns_subdomain_problem(&self.target.name) {
            err("target.name", msg);
        }
        if self.replicas.max == 0 {
            err("replicas.max", "expected at least 1, found 0".into());
        }
        if self.replicas.min > self.replicas.max {
            err(
                "replicas.min",
                format!(
                    "expected min <= max, found min {} > max {}",
                    self.replicas.min, self.replicas.max
                ),
            );
        }
        let c = &self.capacity;
        if !(c.per_replica.is_finite() && c.per_replica > 0.0) {
            err(
                "capacity.per_replica",
                format!("expected a positive number, found {}", c.per_replica),
            );
        }
        if c.per.is_zero() {
            err(
                "capacity.per",
                "expected a positive duration, found 0s".into(),
            );
        }
        if self.demand.arrivals.series.trim().is_empty() {
            err(
                "demand.arrivals.series",
                "expected a column name, found an empty string".into(),
            );
        }
        if let Some(c) = &self.demand.completions
            && c.series.trim().is_empty()
        {
            err(
                "demand.completions.series",
                "expected a column name, found an empty string".into(),
            );
        }
        for (i, u) in self.demand.upstream.iter().enumerate() {
            let field = format!("demand.upstream[{i}].policy");
            if u.policy == self.name {
                err(
                    &field,
                    format!(
                        "expected another policy's name, found this policy's own ({:?})",
                        u.policy
                    ),
                );
            } else if let Some(msg) = dns_label_problem(&u.policy) {
                err(&field, msg);
            } else if self.demand.upstream[..i]
                .iter()
                .any(|o| o.policy == u.policy)
            {
                err(
                    &field,
                    format!("expected each upstream once, found {:?} twice", u.policy),
                );
            }
            if u.max_lag.is_zero() {
                err(
                    &format!("demand.upstream[{i}].max_lag"),
                    "expected a positive duration, found 0s".into(),
                );
            }
        }
        if self.slo.max_wait.is_zero() {
            err(
                "slo.max_wait",
                "expected a positive duration, found 0s".into(),
            );
        }
        if !(self.slo.attainment > 0.0 && self.slo.attainment <= 1.0) {
            err(
                "slo.attainment",
                format!(
                    "expected a fraction in (0, 1], found {}",
                    self.slo.attainment
                ),
            );
        }
        let f = &self.forecast;
        if f.step.is_zero() {
            err(
                "forecast.step",
                "expected a positive duration, found 0s".into(),
            );
        }
        if !(f.quantile > 0.0 && f.quantile < 1.0) {
            err(
                "forecast.quantile",
                format!(
                    "expected a number strictly between 0 and 1, found {}",
                    f.quantile
                ),
            );
        }
        for (i, period) in f.seasonal_periods.iter().enumerate() {
            if f.step.secs() > 0 && (period.is_zero() || period.secs() % f.step.secs() != 0) {
                err(
                    &format!("forecast.seasonal_periods[{i}]"),
                    format!(
                        "expected a positive whole multiple of forecast.step ({}), found {period}",
                        f.step
                    ),
                );
            }
        }
        if f.history < f.step {
            err(
                "forecast.history",
                format!(
                    "expected at least one step ({}), found {}",
                    f.step, f.history
                ),
            );
        }
        if f.refit_every.is_zero() {
            err(
                "forecast.refit_every",
                "expected a positive duration, found 0s".into(),
            );
        }
        let s = &self.scaling;
        if s.interval.is_zero() {
            err(
                "scaling.interval",
                "expected a positive duration, found 0s".into(),
            );
        }
        // The forecast is made at a refit and used until the next one: it must
        // reach from the fit, one refit period back, past the decision's window.
        let w = self.windows();
        let need = f.refit_every.secs_i64() + (w.lead + w.window).num_seconds();
        if f.horizon.secs_i64() < need {
            err(
                "forecast.horizon",
                format!(
                    "expected at least forecast.refit_every + capacity.startup + scaling.interval ({}) so a forecast reaches past the lead time until the next refit, found {}",
                    Duration::from_secs(need.max(0) as u64),
                    f.horizon
                ),
            );
        }
        for (name, lim) in [
            ("scaling.scale_up", &s.scale_up),
            ("scaling.scale_down", &s.scale_down),
        ] {
            if lim.pods == 0 && lim.percent <= 0.0 {
                err(
                    &format!("{name}.pods"),
                    "expected pods > 0 or percent > 0: with both 0 the replica count could never change".into(),
                );
            }
            if !(lim.percent.is_finite() && lim.percent >= 0.0) {
                err(
                    &format!("{name}.percent"),
                    format!("expected a non-negative percentage, found {}", lim.percent),
                );
            }
            if lim.period.is_zero() {
                err(
                    &format!("{name}.period"),
                    "expected a positive duration, found 0s".into(),
                );
            }
        }
        if !(s.reactive_target > 0.0 && s.reactive_target <= 1.0) {
            err(
                "scaling.reactive_target",
                format!(
                    "expected a utilisation in (0, 1], found {}",
                    s.reactive_target
                ),
            );
        }
        if !(s.tolerance >= 0.0 && s.tolerance < 1.0) {
            err(
                "scaling.tolerance",
                format!("expected a fraction in [0, 1), found {}", s.tolerance),
            );
        }
        if !(s.queue_allowance >= 0.0 && s.queue_allowance < 1.0) {
            err(
                "scaling.queue_allowance",
                format!(
                    "expected a fraction of slo.max_wait in [0, 1), found {}",
                    s.queue_allowance
                ),
            );
        }
        if s.mode == Mode::HpaFloor && self.target.hpa.is_none() {
            err(
                "target.hpa",
                "mode hpa-floor needs the name of the HorizontalPodAutoscaler to set".into(),
            );
        }
        if let Some(schedule) = &self.schedule {
            for (field, msg) in schedule.validate() {
                err(&format!("schedule.{field}"), msg);
            }
        }
        if let Some(calendar) = &self.calendar {
            for (field, msg) in calendar.validate(self.schedule_timezone()) {
                err(&format!("calendar.{field}"), msg);
            }
        }
        p
    }

    fn schedule_timezone(&self) -> Option<&str> {
        self.schedule.as_ref().map(|s| s.timezone.as_str())
    }

    /// The clinic's calendar as resolved when the policy was loaded: opening
    /// hours, public holidays, the listed closures and those of a file
    /// source. `None` without a `calendar:` section (or for a policy built
    /// in code that has not been through [`Policy::resolve_calendar`]). A URL
    /// source's closures are not in it: the binary fetches them and merges
    /// them with [`CalendarSpec::with_closed`].
    pub fn calendar(&self) -> Option<&Calendar> {
        self.calendar.as_ref()?.resolved()
    }

    /// Resolve the `calendar:` section (a file source is read relative to
    /// `base_dir`, the policy file's folder): `(field path, message)` for
    /// each problem. `Policy::load` and `Policy::from_str_named` call it.
    pub fn resolve_calendar(&mut self, base_dir: &Path) -> Vec<(String, String)> {
        let tz = self.schedule.as_ref().map(|s| s.timezone.clone());
        match self.calendar.as_mut() {
            Some(c) => c
                .resolve(tz.as_deref(), base_dir)
                .into_iter()
                .map(|(f, m)| (format!("calendar.{f}"), m))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Forecast step in seconds.
    pub fn step_secs(&self) -> i64 {
        self.forecast.step.secs_i64().max(1)
    }

    /// `forecast.horizon` in steps (at least one).
    pub fn horizon_steps(&self) -> usize {
        (self.forecast.horizon.secs_i64() / self.step_secs()).max(1) as usize
    }

    /// One job's service time by one ready replica, in units of `unit_secs`
    /// (a step, a tick), rounded: how much later a job finishes than it starts.
    pub fn service_in(&self, unit_secs: i64) -> usize {
        ((1.0 / self.capacity.per_second().max(1e-12)) / unit_secs.max(1) as f64).round() as usize
    }

    /// The names of the stages in `demand.upstream`, in order.
    pub fn upstream_names(&self) -> Vec<&str> {
        self.demand
            .upstream
            .iter()
            .map(|u| u.policy.as_str())
            .collect()
    }

    /// The time windows every decision plans for: the one definition the
    /// planner, the autoscaler (how far to forecast) and validation use.
    pub fn windows(&self) -> Windows {
        let lead = chrono::TimeDelta::seconds(self.capacity.startup.secs_i64());
        let window = chrono::TimeDelta::seconds(self.scaling.interval.secs_i64().max(1));
        let allowance_secs = self.slo.max_wait.secs() as f64 * self.scaling.queue_allowance;
        let lookahead = chrono::TimeDelta::milliseconds((2.0 * allowance_secs * 1000.0) as i64);
        Windows {
            lead,
            window,
            allowance_secs,
            lookahead,
            reach: lead + window + lookahead,
        }
    }

    /// Seasonal periods in steps (those that divide evenly).
    pub fn periods_in_steps(&self) -> Vec<usize> {
        let step = self.forecast.step.secs().max(1);
        self.forecast
            .seasonal_periods
            .iter()
            .filter(|p| p.secs() > 0 && p.secs() % step == 0)
            .map(|p| (p.secs() / step) as usize)
            .collect()
    }
}

/// Load every policy in the given files and directories (non-recursive for
/// directories; files ending in .yaml, .yml or .toml). Returns the valid
/// policies and every error, so that one bad file does not hide the others.
pub fn load_paths(paths: &[PathBuf]) -> (Vec<LoadedPolicy>, Vec<PolicyError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.is_file() && is_policy_file(f))
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        errors.push(PolicyError {
                            file: p.clone(),
                            field: String::new(),
                            line: None,
                            message: "no policy files (*.yaml, *.yml, *.toml) in this directory"
                                .into(),
                        });
                    }
                    files.extend(found);
                }
                Err(e) => errors.push(PolicyError {
                    file: p.clone(),
                    field: String::new(),
                    line: None,
                    message: format!("cannot read the directory: {e}"),
                }),
            }
        } else {
            files.push(p.clone());
        }
    }
    let mut policies: Vec<LoadedPolicy> = Vec::new();
    for f in files {
        match Policy::load(&f) {
            Ok(lp) => {
                if let Some(other) = policies.iter().find(|o| o.policy.name == lp.policy.name) {
                    errors.push(PolicyError {
                        file: f.clone(),
                        field: "name".into(),
                        line: None,
                        message: format!(
                            "expected a unique policy name, found {:?} also in {}",
                            lp.policy.name,
                            other.path.display()
                        ),
                    });
                } else {
                    policies.push(lp);
                }
            }
            Err(PolicyErrors(es)) => errors.extend(es),
        }
    }
    // A stage whose upstream is unknown or invalid, lacks a completions
    // metric, is on another step or lies on a cycle is invalid; so, in
    // turn, are the stages after it. The rest load.
    let mut invalid: Vec<(String, PathBuf)> = Vec::new();
    loop {
        let problems = problems_beside(&policies, &invalid);
        if problems.is_empty() {
            break;
        }
        let bad: Vec<PathBuf> = problems.iter().map(|e| e.file.clone()).collect();
        errors.extend(problems);
        invalid.extend(
            policies
                .iter()
                .filter(|lp| bad.contains(&lp.path))
                .map(|lp| (lp.policy.name.clone(), lp.path.clone())),
        );
        policies.retain(|lp| !bad.contains(&lp.path));
    }
    (policies, errors)
}

/// What is wrong with the pipeline the policies form: an upstream name that
/// no policy has, an upstream without `demand.completions`, and cycles
/// (every policy on one is named, in order). One error per problem, on the
/// downstream policy's file and its `demand.upstream[i].policy` field.
pub fn pipeline_problems(policies: &[LoadedPolicy]) -> Vec<PolicyError> {
    problems_beside(policies, &[])
}

/// [`pipeline_problems`], where `invalid` names policies that were loaded
/// with these but are invalid (an upstream among them is said to be so).
fn problems_beside(policies: &[LoadedPolicy], invalid: &[(String, PathBuf)]) -> Vec<PolicyError> {
    let index = |name: &str| policies.iter().position(|lp| lp.policy.name == name);
    let mut errors = Vec::new();
    let mut names: Vec<&str> = policies.iter().map(|lp| lp.policy.name.as_str()).collect();
    names.sort_unstable();
    for lp in policies {
        for (i, u) in lp.policy.demand.upstream.iter().enumerate() {
            let field = format!("demand.upstream[{i}].policy");
            let invalid_one = invalid.iter().find(|(n, _)| *n == u.policy);
            match index(&u.policy) {
                None if invalid_one.is_some() => errors.push(PolicyError {
                    file: lp.path.clone(),
                    field,
                    line: None,
                    message: format!(
                        "expected a valid upstream, found {:?}, which is invalid ({}: see its errors)",
                        u.policy,
                        invalid_one.map(|(_, f)| f.display().to_string()).unwrap_or_default()
                    ),
                }),
                None => errors.push(PolicyError {
                    file: lp.path.clone(),
                    field,
                    line: None,
                    message: format!(
                        "expected the name of a policy loaded with this one, found {:?} (loaded: {})",
                        u.policy,
                        names.join(", ")
                    ),
                }),
                Some(j) if policies[j].policy.demand.completions.is_none() => {
                    errors.push(PolicyError {
                        file: lp.path.clone(),
                        field,
                        line: None,
                        message: format!(
                            "expected an upstream that declares demand.completions, found {:?} ({}) without it",
                            u.policy,
                            policies[j].path.display()
                        ),
                    })
                }
                Some(j) if policies[j].policy.step_secs() != lp.policy.step_secs() => {
                    errors.push(PolicyError {
                        file: lp.path.clone(),
                        field,
                        line: None,
                        message: format!(
                            "expected an upstream on this policy's forecast.step ({}), found {:?} on {}",
                            lp.policy.forecast.step,
                            u.policy,
                            policies[j].policy.forecast.step
                        ),
                    })
                }
                Some(_) => {}
            }
        }
    }
    // Every policy on a cycle is an error (each names one cycle through it
    // and the smallest name of its cycles' component, the same for all).
    for (member, cycle) in pipeline_cycles(policies) {
        let lp = &policies[member];
        let at = cycle.iter().position(|&k| k == member).unwrap_or(0);
        let next = &policies[cycle[(at + 1) % cycle.len()]].policy.name;
        let i = lp
            .policy
            .demand
            .upstream
            .iter()
            .position(|u| &u.policy == next)
            .unwrap_or(0);
        let mut path: Vec<&str> = cycle
            .iter()
            .map(|&k| policies[k].policy.name.as_str())
            .collect();
        path.push(path[0]);
        errors.push(PolicyError {
            file: lp.path.clone(),
            field: format!("demand.upstream[{i}].policy"),
            line: None,
            message: format!(
                "expected a pipeline without cycles, found the cycle {}",
                path.join(" -> upstream ")
            ),
        });
    }
    errors
}

/// Every policy that lies on a cycle of the upstream graph, with a cycle
/// through its component's first member (in the order given): for a
/// component, the shortest path from that member back to itself. Linear
/// in the graph per policy (reachability by breadth-first search), so a
/// long chain without cycles costs nothing like enumerating its paths.
fn pipeline_cycles(policies: &[LoadedPolicy]) -> Vec<(usize, Vec<usize>)> {
    let n = policies.len();
    let ups: Vec<Vec<usize>> = policies
        .iter()
        .map(|lp| {
            lp.policy
                .demand
                .upstream
                .iter()
                .filter_map(|u| policies.iter().position(|o| o.policy.name == u.policy))
                .collect()
        })
        .collect();
    // Breadth-first from `s`: the predecessor of every node reached.
    let search = |s: usize| {
        let mut prev: Vec<Option<usize>> = vec![None; n];
        let mut queue = std::collections::VecDeque::from([s]);
        let mut seen = vec![false; n];
        while let Some(v) = queue.pop_front() {
            for &w in &ups[v] {
                if prev[w].is_none() {
                    prev[w] = Some(v);
                }
                if !seen[w] {
                    seen[w] = true;
                    queue.push_back(w);
                }
            }
        }
        (seen, prev)
    };
    let reach: Vec<(Vec<bool>, Vec<Option<usize>>)> = (0..n).map(search).collect();
    let mut out = Vec::new();
    for m in 0..n {
        if !reach[m].0[m] {
            continue;
        }
        // Its component: the nodes it reaches that reach it back.
        let first = (0..n)
            .find(|&j| reach[m].0[j] && reach[j].0[m])
            .unwrap_or(m);
        // The shortest cycle through `first`: walk the predecessors back.
        let prev = &reach[first].1;
        let mut cycle = vec![first];
        let mut v = prev[first];
        while let Some(p) = v {
            if p == first || cycle.len() > n {
                break;
            }
            cycle.push(p);
            v = prev[p];
        }
        cycle.reverse();
        cycle.rotate_right(1);
        out.push((m, cycle));
    }
    out
}

/// The policies in pipeline order (every upstream before its downstream;
/// otherwise as given). `None` when they hold a cycle
/// ([`pipeline_problems`] names it).
pub fn pipeline_order(policies: &[Policy]) -> Option<Vec<usize>> {
    let mut order = Vec::with_capacity(policies.len());
    let mut placed = vec![false; policies.len()];
    while order.len() < policies.len() {
        let ready = (0..policies.len()).find(|&i| {
            !placed[i]
                && policies[i].demand.upstream.iter().all(|u| {
                    policies
                        .iter()
                        .position(|o| o.name == u.policy)
                        .is_none_or(|j| placed[j])
                })
        })?;
        placed[ready] = true;
        order.push(ready);
    }
    Some(order)
}

fn dns_label_problem(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    (!ok).then(|| {
        format!("expected a DNS label (1-63 lower-case letters, digits or '-', not starting or ending with '-'), found {s:?}")
    })
}

fn dns_subdomain_problem(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| dns_label_problem(part).is_none());
    (!ok).then(|| {
        format!("expected a Kubernetes object name (lower-case DNS subdomain), found {s:?}")
    })
}

/// serde_path_to_error prints `.` for the root; we print nothing.
fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

/// serde_yaml appends " at line L column C"; we print the line separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn toml_error(
    file: &Path,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> PolicyError {
    let line = span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    PolicyError {
        file: file.to_path_buf(),
        field: String::new(),
        line,
        message: message.trim().to_string(),
    }
}

/// Test support: a valid policy to start from and builder methods that read
/// like sentences (`Policy::test().min(2).max(10)`), for unit tests, the
/// integration tests in `tests/` and the benchmarks.
pub mod fixtures {
    use super::*;

    impl Policy {
        /// A valid policy for tests: one replica serves 1 job/min, 2 min start-up.
        pub fn test() -> Policy {
            Policy {
                name: "test".into(),
                target: Target {
                    kind: TargetKind::Deployment,
                    namespace: "planning".into(),
                    name: "worker".into(),
                    hpa: None,
                },
                replicas: Replicas { min: 1, max: 20 },
                capacity: Capacity {
                    per_replica: 1.0,
                    per: Duration::from_mins(1),
                    startup: Duration::from_mins(2),
                },
                demand: Demand {
                    unit: "jobs".into(),
                    arrivals: SeriesRef {
                        series: "arrivals".into(),
                        query: None,
                    },
                    queue_depth: None,
                    cpu: None,
                    completions: None,
                    upstream: Vec::new(),
                },
                slo: Slo {
                    max_wait: Duration::from_mins(5),
                    attainment: 0.99,
                },
                forecast: ForecastSpec::default(),
                scaling: Scaling::default(),
                schedule: None,
                calendar: None,
            }
        }

        pub fn min(mut self, n: u32) -> Self {
            self.replicas.min = n;
            self
        }

        pub fn max(mut self, n: u32) -> Self {
            self.replicas.max = n;
            self
        }

        pub fn startup(mut self, d: Duration) -> Self {
            self.capacity.startup = d;
            self
        }

        pub fn per_replica(mut self, per_minute: f64) -> Self {
            self.capacity.per_replica = per_minute;
            self.capacity.per = Duration::from_mins(1);
            self
        }

        pub fn queue_allowance(mut self, fraction: f64) -> Self {
            self.scaling.queue_allowance = fraction;
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name: dose\ntarget: { kind: Deployment, namespace: planning, name: dosecalc }\nreplicas: { min: 1, max: 10 }\ncapacity: { per_replica: 1, per: 1m, startup: 2m }\ndemand: { arrivals: { series: jobs } }\nslo: { max_wait: 5m }\n";

    #[test]
    fn the_calendar_is_resolved_at_load_and_takes_the_schedules_zone() {
        let yaml = format!(
            "{BASE}schedule: {{ source: {{ type: csv, path: s.csv }}, timezone: America/Chicago }}\ncalendar:\n  hours: {{ mon-fri: \"07:00-16:00\" }}\n  holidays: [US]\n  closures: [2026-11-27]\n"
        );
        let p = Policy::from_str_named(&yaml, Path::new("p.yaml")).unwrap();
        let c = p.calendar().unwrap();
        assert_eq!(c.timezone, chrono_tz::America::Chicago);
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(c.is_exceptional_closure(d("2026-11-26")), "Thanksgiving");
        assert!(c.is_exceptional_closure(d("2026-11-27")), "listed");
        assert!(
            Policy::from_str_named(BASE, Path::new("p.yaml"))
                .unwrap()
                .calendar()
                .is_none()
        );
    }

    #[test]
    fn calendar_errors_name_the_file_and_field_and_come_together() {
        let yaml = format!(
            "{BASE}calendar: {{ timezone: Mars/Olympus, hours: {{ mon: \"9-5\" }}, closures: [2026-13-01] }}\n"
        );
        let e = Policy::from_str_named(&yaml, Path::new("p.yaml")).unwrap_err();
        let shown: Vec<String> = e.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("p.yaml: calendar.timezone: expected an IANA"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("p.yaml: calendar.hours.mon: expected local opening hours"),
            "{shown:?}"
        );
        assert!(
            shown[2].starts_with("p.yaml: calendar.closures[0]: expected a date"),
            "{shown:?}"
        );
        let e = Policy::from_str_named(
            &format!("{BASE}calendar: {{ timezone: UTC, hours: {{ mon: \"09:00-17:00\" }}, closures: [{{ from: 2026-01-01 }}] }}\n"),
            Path::new("p.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("calendar.closures[0]") && e.contains("missing field `to`"),
            "{e}"
        );
        let e = Policy::from_str_named(
            &format!("{BASE}calendar: {{ timezone: UTC }}\n"),
            Path::new("p.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("calendar: missing field `hours`"), "{e}");
    }

    #[test]
    fn toml_dates_need_no_quotes() {
        let toml = "name = \"dose\"\n[target]\nkind = \"Deployment\"\nnamespace = \"planning\"\nname = \"dosecalc\"\n\
                    [replicas]\nmin = 1\nmax = 10\n[capacity]\nper_replica = 1.0\nstartup = \"2m\"\n\
                    [demand.arrivals]\nseries = \"jobs\"\n[slo]\nmax_wait = \"5m\"\n\
                    [calendar]\ntimezone = \"Europe/Berlin\"\nholidays = [\"DE\"]\n\
                    closures = [2026-12-24, { from = 2026-12-28, to = \"2026-12-29\" }]\n\
                    [calendar.hours]\nmon-fri = \"08:00-17:00\"\n";
        let p = Policy::from_str_named(toml, Path::new("p.toml")).unwrap();
        assert_eq!(p.calendar().unwrap().closed.len(), 3);
    }

    /// A stage named `name` with `upstream` and, if `done`, a completions metric.
    fn stage(name: &str, upstream: &[&str], done: bool) -> LoadedPolicy {
        let mut yaml = BASE.replace("name: dose\n", &format!("name: {name}\n"));
        if done || !upstream.is_empty() {
            let ups: Vec<String> = upstream
                .iter()
                .map(|u| format!("{{ policy: {u} }}"))
                .collect();
            let completions = if done {
                ", completions: { series: done }"
            } else {
                ""
            };
            yaml = yaml.replace(
                "demand: { arrivals: { series: jobs } }",
                &format!(
                    "demand: {{ arrivals: {{ series: jobs }}{completions}, upstream: [{}] }}",
                    ups.join(", ")
                ),
            );
        }
        let path = PathBuf::from(format!("{name}.yaml"));
        LoadedPolicy {
            policy: Policy::from_str_named(&yaml, &path).unwrap(),
            path,
        }
    }

    fn problems(ps: &[LoadedPolicy]) -> Vec<String> {
        pipeline_problems(ps)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// `lp` written as `dir/name` (YAML).
    fn write_policy(dir: &Path, name: &str, lp: &LoadedPolicy) {
        let text = serde_yaml::to_string(&lp.policy).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn a_pipeline_in_order_has_no_problems() {
        let ps = vec![
            stage("plan", &["dose"], false),
            stage("dose", &["contour"], true),
            stage("contour", &[], true),
        ];
        assert!(pipeline_problems(&ps).is_empty());
        let plain: Vec<Policy> = ps.iter().map(|p| p.policy.clone()).collect();
        assert_eq!(pipeline_order(&plain), Some(vec![2, 1, 0]));
        let u = &ps[0].policy.demand.upstream[0];
        assert_eq!(u.max_lag, Duration::from_secs(8 * 3600), "default lag");
    }

    #[test]
    fn unknown_upstreams_and_missing_completions_name_the_file_and_the_names() {
        let ps = vec![
            stage("dose", &["contouring"], true),
            stage("plan", &["dose", "ghost"], false),
            stage("contour", &[], false),
        ];
        let shown = problems(&ps);
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("dose.yaml: demand.upstream[0].policy: expected the name of a policy loaded with this one, found \"contouring\" (loaded: contour, dose, plan)"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("plan.yaml: demand.upstream[1].policy:")
                && shown[1].contains("\"ghost\""),
            "{shown:?}"
        );
        let ps = vec![
            stage("dose", &["contour"], true),
            stage("contour", &[], false),
        ];
        let shown = pipeline_problems(&ps)[0].to_string();
        assert!(
            shown.contains("expected an upstream that declares demand.completions, found \"contour\" (contour.yaml) without it"),
            "{shown}"
        );
    }

    #[test]
    fn cycles_are_named_once_each() {
        let ps = vec![
            stage("a", &["c"], true),
            stage("b", &["a"], true),
            stage("c", &["b"], true),
            stage("d", &["d2"], true),
            stage("d2", &["d"], true),
            stage("e", &["a"], true),
        ];
        let shown = problems(&ps);
        // Every member of each cycle; e (only downstream of one) is not on it.
        assert_eq!(shown.len(), 5, "{shown:?}");
        assert!(
            shown[0].starts_with("a.yaml: demand.upstream[0].policy: expected a pipeline without cycles, found the cycle a -> upstream c -> upstream b -> upstream a"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("b.yaml: demand.upstream[0].policy:")
                && shown[1].contains("a -> upstream c"),
            "{shown:?}"
        );
        assert!(
            shown[2].starts_with("c.yaml: demand.upstream[0].policy:"),
            "{shown:?}"
        );
        assert!(
            shown[3].contains("d -> upstream d2 -> upstream d")
                && shown[4].starts_with("d2.yaml")
                && shown[4].contains("d -> upstream d2 -> upstream d"),
            "{shown:?}"
        );
        let plain: Vec<Policy> = ps.iter().map(|p| p.policy.clone()).collect();
        assert_eq!(pipeline_order(&plain), None);
        // A long chain without a cycle, each stage naming every later one: no
        // path enumeration (this took 2^29 steps before).
        let names: Vec<String> = (0..30).map(|k| format!("s{k}")).collect();
        let chain: Vec<LoadedPolicy> = (0..30)
            .map(|k| {
                let later: Vec<&str> = names[k + 1..].iter().map(String::as_str).collect();
                stage(&names[k], &later, true)
            })
            .collect();
        assert!(problems(&chain).is_empty());
    }

    #[test]
    fn a_stage_after_an_invalid_one_and_a_stage_on_another_step_are_invalid_too() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, lp: &LoadedPolicy| write_policy(dir.path(), name, lp);
        // a and b form a cycle; c follows b; d is on a 15-minute step after e.
        write("a.yaml", &stage("a", &["b"], true));
        write("b.yaml", &stage("b", &["a"], true));
        write("c.yaml", &stage("c", &["b"], true));
        let mut d = stage("d", &["e"], true);
        d.policy.forecast.step = Duration::from_mins(15);
        write("d.yaml", &d);
        write("e.yaml", &stage("e", &[], true));
        let (ok, errors) = load_paths(&[dir.path().to_path_buf()]);
        let names: Vec<&str> = ok.iter().map(|lp| lp.policy.name.as_str()).collect();
        assert_eq!(names, vec!["e"]);
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert!(shown.iter().any(|e| e.contains("d.yaml: demand.upstream[0].policy: expected an upstream on this policy's forecast.step (15m), found \"e\" on 5m")), "{shown:?}");
        assert!(shown.iter().any(|e| e.contains("c.yaml: demand.upstream[0].policy: expected a valid upstream, found \"b\", which is invalid")), "{shown:?}");
    }

    #[test]
    fn an_upstream_of_its_own_twice_or_without_a_lag_is_invalid() {
        let yaml = BASE.replace(
            "demand: { arrivals: { series: jobs } }",
            "demand: { arrivals: { series: jobs }, completions: { series: \" \" }, upstream: [{ policy: dose }, { policy: x, max_lag: 0s }, { policy: x }] }",
        );
        let e = Policy::from_str_named(&yaml, Path::new("p.yaml")).unwrap_err();
        let shown: Vec<String> = e.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert!(
            shown[0].contains("demand.completions.series: expected a column name"),
            "{shown:?}"
        );
        assert!(shown[1].contains("demand.upstream[0].policy: expected another policy's name, found this policy's own (\"dose\")"), "{shown:?}");
        assert!(
            shown[2].contains("demand.upstream[1].max_lag: expected a positive duration"),
            "{shown:?}"
        );
        assert!(
            shown[3].contains(
                "demand.upstream[2].policy: expected each upstream once, found \"x\" twice"
            ),
            "{shown:?}"
        );
    }

    #[test]
    fn loading_a_directory_drops_the_stages_with_pipeline_problems() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, lp: &LoadedPolicy| write_policy(dir.path(), name, lp);
        write("a.yaml", &stage("contour", &[], true));
        write("b.yaml", &stage("dose", &["contour"], true));
        write("c.yaml", &stage("plan", &["dosage"], false));
        let (ok, errors) = load_paths(&[dir.path().to_path_buf()]);
        let names: Vec<&str> = ok.iter().map(|lp| lp.policy.name.as_str()).collect();
        assert_eq!(names, vec!["contour", "dose"]);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].file.ends_with("c.yaml") && errors[0].message.contains("\"dosage\""),
            "{}",
            errors[0]
        );
    }
}
