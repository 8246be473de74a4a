//! Settings of `planscale run`, layered with the `config` crate: defaults, then
//! a settings file (YAML or TOML), then `PLANSCALE_*` environment variables,
//! then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::policy::Duration;

/// Process settings of the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Directory of policy files (a mounted ConfigMap in-cluster).
    pub policies: PathBuf,
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus:9090`.
    /// Without one every metric is missing and every policy holds its count.
    pub prometheus_url: Option<String>,
    /// Overrides every policy's `scaling.interval` (for dry runs and tests).
    pub interval: Option<Duration>,
    /// How often the policy directory is checked for changes.
    pub reload_interval: Duration,
    /// Namespaces whose targets may be managed; empty means any.
    pub namespaces: Vec<String>,
    /// Whether to elect a leader through a Lease (off only for a single replica).
    pub leader_election: bool,
    /// Name of the coordination.k8s.io Lease.
    pub lease_name: String,
    /// Namespace of the Lease (defaults to `POD_NAMESPACE`, else `default`).
    pub lease_namespace: Option<String>,
    /// How long the Lease stays valid after its last renewal; failover takes at most this long.
    pub lease_duration: Duration,
    /// This replica's identity in the Lease and in Events (defaults to `POD_NAME`, else host-pid).
    pub identity: Option<String>,
    /// Address of the `/metrics`, `/healthz`, `/readyz` server.
    pub listen: SocketAddr,
    /// How often a schedule source (file, calendar feed, FHIR server) is
    /// read; one read per source and period serves every policy that names it.
    pub schedule_refresh: Duration,
    /// How long the last good schedule snapshot is used while its source is
    /// down; after that forecasts are schedule-blind (with a Warning Event).
    pub schedule_max_staleness: Duration,
    /// Address of KEDA's external scaler (gRPC); none: not served.
    pub keda_listen: Option<SocketAddr>,
    /// TLS certificate and key (PEM) of the KEDA scaler; both or neither.
    pub keda_tls_cert: Option<PathBuf>,
    pub keda_tls_key: Option<PathBuf>,
    /// CA (PEM) that signs KEDA's client certificates: mutual TLS when set.
    pub keda_tls_client_ca: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policies: PathBuf::from("/etc/planscale/policies"),
            prometheus_url: None,
            interval: None,
            reload_interval: Duration::from_secs(10),
            namespaces: Vec::new(),
            leader_election: true,
            lease_name: "planscale-leader".into(),
            lease_namespace: None,
            lease_duration: Duration::from_secs(15),
            identity: None,
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            schedule_refresh: Duration::from_secs(300),
            schedule_max_staleness: Duration::from_secs(2 * 3600),
            keda_listen: None,
            keda_tls_cert: None,
            keda_tls_key: None,
            keda_tls_client_ca: None,
        }
    }
}

/// Environment variable names that belong to the CLI's global flags, not to `run`.
const NOT_SETTINGS: [&str; 2] = ["log", "log_format"];

impl Settings {
    /// Layer defaults, the optional file, `PLANSCALE_*` from `env`, then `flags`
    /// (`(key, value)` pairs, e.g. `("prometheus_url", "http://...")`).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(&str, String)],
    ) -> Result<Settings> {
        let defaults = config::Config::try_from(&Settings::default())
            .map_err(|e| Error::Settings(format!("defaults: {e}")))?;
        let mut b = config::Config::builder().add_source(defaults);
        if let Some(f) = file {
            b = b.add_source(config::File::from(f).required(true));
        }
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("PLANSCALE_")?.to_ascii_lowercase();
                (!NOT_SETTINGS.contains(&key.as_str()))
                    .then(|| (format!("PLANSCALE_{}", key.to_ascii_uppercase()), v))
            })
            .collect();
        b = b.add_source(
            config::Environment::with_prefix("PLANSCALE")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("namespaces")
                .source(Some(vars)),
        );
        for (k, v) in flags {
            b = b
                .set_override(*k, v.clone())
                .map_err(|e| Error::Settings(format!("flag {k}: {e}")))?;
        }
        let where_ = file
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "environment".into());
        let s: Settings = b
            .build()
            .map_err(|e| Error::Settings(format!("{where_}: {e}")))?
            .try_deserialize()
            .map_err(|e| Error::Settings(format!("{where_}: {e}")))?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        if self.lease_duration.secs() < 2 {
            return Err(Error::Settings(format!(
                "lease_duration: expected at least 2s, found {}",
                self.lease_duration
            )));
        }
        if self.reload_interval.is_zero() {
            return Err(Error::Settings(
                "reload_interval: expected a positive duration, found 0s".into(),
            ));
        }
        if self.schedule_refresh.is_zero() {
            return Err(Error::Settings(
                "schedule_refresh: expected a positive duration, found 0s".into(),
            ));
        }
        if let Some(i) = self.interval
            && i.is_zero()
        {
            return Err(Error::Settings(
                "interval: expected a positive duration, found 0s".into(),
            ));
        }
        match (&self.keda_tls_cert, &self.keda_tls_key) {
            (Some(_), None) => {
                return Err(Error::Settings(
                    "keda_tls_key: expected the key (PEM) of keda_tls_cert, found none".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::Settings(
                    "keda_tls_cert: expected the certificate (PEM) of keda_tls_key, found none"
                        .into(),
                ));
            }
            _ => {}
        }
        if self.keda_tls_client_ca.is_some() && self.keda_tls_cert.is_none() {
            return Err(Error::Settings(
                "keda_tls_client_ca: mutual TLS needs the server's keda_tls_cert and keda_tls_key too"
                    .into(),
            ));
        }
        if (self.keda_tls_cert.is_some() || self.keda_tls_client_ca.is_some())
            && self.keda_listen.is_none()
        {
            return Err(Error::Settings(
                "keda_tls_*: set keda_listen too (TLS for a KEDA scaler that is not served)".into(),
            ));
        }
        if let Some(u) = &self.prometheus_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(Error::Settings(format!(
                "prometheus_url: expected an http:// or https:// URL, found {u:?}"
            )));
        }
        Ok(())
    }

    /// The Lease namespace: the setting, else `POD_NAMESPACE`, else `default`.
    pub fn lease_namespace(&self) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into())
    }

    /// The KEDA scaler's TLS files, when set.
    pub fn keda_tls(&self) -> Option<crate::keda::Tls> {
        Some(crate::keda::Tls {
            cert: self.keda_tls_cert.clone()?,
            key: self.keda_tls_key.clone()?,
            client_ca: self.keda_tls_client_ca.clone(),
        })
    }

    /// This replica's identity: the setting, else `POD_NAME`, else `planscale-<pid>`.
    pub fn identity(&self) -> String {
        self.identity
            .clone()
            .or_else(|| std::env::var("POD_NAME").ok())
            .unwrap_or_else(|| format!("planscale-{}", std::process::id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("planscale.yaml");
        std::fs::write(
            &f,
            "prometheus_url: http://prom:9090\nlease_name: from-file\nnamespaces: [a]\nreload_interval: 30s\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&f),
            env(&[
                ("PLANSCALE_LEASE_NAME", "from-env"),
                ("PLANSCALE_NAMESPACES", "planning,imaging"),
                ("PLANSCALE_LOG_FORMAT", "json"),
                ("HOME", "/root"),
            ]),
            &[("listen", "127.0.0.1:9000".into())],
        )
        .unwrap();
        assert_eq!(s.prometheus_url.as_deref(), Some("http://prom:9090"));
        assert_eq!(s.lease_name, "from-env");
        assert_eq!(
            s.namespaces,
            vec!["planning".to_string(), "imaging".to_string()]
        );
        assert_eq!(s.reload_interval, Duration::from_secs(30));
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert!(s.leader_election);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Settings::load(None, env(&[("PLANSCALE_LEASE_DURATION", "1s")]), &[]).unwrap_err();
        assert!(e.to_string().contains("lease_duration"), "{e}");
        let e = Settings::load(None, env(&[("PLANSCALE_PROMETHEUS_URL", "prom:9090")]), &[])
            .unwrap_err();
        assert!(e.to_string().contains("prometheus_url"), "{e}");
        let e = Settings::load(None, env(&[("PLANSCALE_RELOAD_INTERVAL", "10")]), &[]).unwrap_err();
        assert!(e.to_string().contains("reload_interval"), "{e}");
        let e =
            Settings::load(None, env(&[("PLANSCALE_KEDA_LISTEN", "nowhere")]), &[]).unwrap_err();
        assert!(e.to_string().contains("keda_listen"), "{e}");
        let e = Settings::load(
            None,
            env(&[
                ("PLANSCALE_KEDA_LISTEN", "0.0.0.0:9090"),
                ("PLANSCALE_KEDA_TLS_CERT", "/tls/tls.crt"),
            ]),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("keda_tls_key"), "{e}");
        let e = Settings::load(
            None,
            env(&[("PLANSCALE_KEDA_TLS_CLIENT_CA", "/ca.crt")]),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("keda_tls_client_ca"), "{e}");
        let s =
            Settings::load(None, env(&[("PLANSCALE_KEDA_LISTEN", "0.0.0.0:9090")]), &[]).unwrap();
        assert_eq!(s.keda_listen, Some("0.0.0.0:9090".parse().unwrap()));
        assert!(s.keda_tls().is_none());
    }
}
