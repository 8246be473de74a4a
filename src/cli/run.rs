//! `planscale run`: arguments and the entry point the CLI calls.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::controller::prom::PrometheusMetrics;
use crate::controller::settings::Settings;
use crate::controller::sources::{PolicySchedule, SharedSchedule};

/// Arguments of `planscale run`. Each flag overrides the settings file and the
/// `PLANSCALE_*` environment variable of the same name.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Directory of policy files (reloaded when it changes).
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// Settings file (YAML or TOML); see docs/ARCHITECTURE.md, "Controller".
    #[arg(long, env = "PLANSCALE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Prometheus base URL, e.g. http://prometheus.monitoring:9090.
    #[arg(long)]
    pub prometheus_url: Option<String>,
    /// Override every policy's scaling.interval (e.g. 15s).
    #[arg(long)]
    pub interval: Option<String>,
    /// Namespaces whose targets may be managed (comma-separated; default any).
    #[arg(long)]
    pub namespaces: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long)]
    pub lease_name: Option<String>,
    /// Namespace of the Lease (default: POD_NAMESPACE, else `default`).
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// Lease duration, e.g. 15s: a failover takes at most this long.
    #[arg(long)]
    pub lease_duration: Option<String>,
    /// This replica's identity (default: POD_NAME, else planscale-<pid>).
    #[arg(long)]
    pub identity: Option<String>,
    /// Run without leader election (a single replica only).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Listen address of /metrics, /healthz, /readyz, e.g. 0.0.0.0:8080.
    #[arg(long)]
    pub listen: Option<String>,
    /// How often each schedule source is read (one read serves every policy naming it), e.g. 5m.
    #[arg(long)]
    pub schedule_refresh: Option<String>,
    /// How long the last good schedule is used while its source is down, e.g. 2h;
    /// then forecasts are schedule-blind, with a Warning Event.
    #[arg(long)]
    pub schedule_max_staleness: Option<String>,
    /// Serve KEDA's external scaler (gRPC) on this address, e.g. 0.0.0.0:9090,
    /// for policies in `keda` mode.
    #[arg(long)]
    pub keda_listen: Option<String>,
    /// TLS certificate (PEM) of the KEDA scaler (with --keda-tls-key).
    #[arg(long)]
    pub keda_tls_cert: Option<PathBuf>,
    /// TLS key (PEM) of the KEDA scaler.
    #[arg(long)]
    pub keda_tls_key: Option<PathBuf>,
    /// CA (PEM) of KEDA's client certificates: mutual TLS.
    #[arg(long)]
    pub keda_tls_client_ca: Option<PathBuf>,
}

impl RunArgs {
    fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut o = Vec::new();
        let mut put = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                o.push((k, v.clone()));
            }
        };
        put(
            "policies",
            &self.policies.as_ref().map(|p| p.display().to_string()),
        );
        put("prometheus_url", &self.prometheus_url);
        put("interval", &self.interval);
        put("lease_name", &self.lease_name);
        put("lease_namespace", &self.lease_namespace);
        put("lease_duration", &self.lease_duration);
        put("identity", &self.identity);
        put("listen", &self.listen);
        put("schedule_refresh", &self.schedule_refresh);
        put("schedule_max_staleness", &self.schedule_max_staleness);
        put("keda_listen", &self.keda_listen);
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        put("keda_tls_cert", &path(&self.keda_tls_cert));
        put("keda_tls_key", &path(&self.keda_tls_key));
        put("keda_tls_client_ca", &path(&self.keda_tls_client_ca));
        if self.no_leader_election {
            o.push(("leader_election", "false".into()));
        }
        o
    }
}

/// Load the settings, connect, and run until SIGTERM or Ctrl-C.
pub fn main(args: &RunArgs) -> Result<ExitCode> {
    let flags = args.overrides();
    let mut settings = Settings::load(args.config.as_deref(), std::env::vars(), &flags)?;
    if let Some(ns) = &args.namespaces {
        settings.namespaces = ns
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (KUBECONFIG or in-cluster service account)")?;
        let schedule = SharedSchedule::new(
            PolicySchedule,
            std::time::Duration::from_secs(settings.schedule_refresh.secs()),
        );
        let shutdown = shutdown_signal();
        match &settings.prometheus_url {
            Some(url) => {
                let metrics = PrometheusMetrics::new(url)?;
                crate::controller::run(settings.clone(), client, metrics, schedule, shutdown).await?;
            }
            None => {
                tracing::warn!("no prometheus_url: every metric is missing, every policy holds its replica count");
                crate::controller::run(settings.clone(), client, crate::controller::sources::NoMetrics, schedule, shutdown).await?;
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGTERM (the kubelet stopping the Pod) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
