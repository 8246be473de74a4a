//! Leader election on a coordination.k8s.io/v1 Lease (kube-lease-manager).
//!
//! Every replica computes decisions and exports metrics; only the holder of the
//! Lease writes (scale, HPA floor, Events). A holder that dies stops renewing,
//! and another replica takes the Lease once it has expired: at most one lease
//! duration plus one renew period after the dead holder's last renewal (see
//! docs/ARCHITECTURE.md, "Leader election"). On shutdown the holder releases
//! the Lease, so a rolling update hands over at once.
//!
//! **The fence.** kube-lease-manager reports a change of holder, but while it
//! cannot reach the API server it keeps reporting the last state: a holder
//! cut off from the server (or one whose server restarted) would go on
//! believing it leads after its Lease has expired on the server, and its
//! manager retries with a backoff of up to 30 s once the server is back. So
//! the flag the policy loops read is the manager's "holder" *and* the Lease
//! as last read from the server names this replica and has not expired: a
//! small task reads the Lease every [`fence_period`] and turns the flag off
//! at the expiry it last saw, whether or not the server answers.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Result;

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (its Pod name).
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub duration: Duration,
    /// How long before expiry the holder renews.
    pub grace: Duration,
}

/// Who may write: either a Lease (two or more replicas) or always (one replica,
/// election disabled).
pub struct Election {
    rx: watch::Receiver<bool>,
    task: Option<
        JoinHandle<std::result::Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    >,
    /// The fence task (holds a receiver of the manager's channel).
    fence: Option<JoinHandle<()>>,
    /// Keeps the channel open when there is no Lease task.
    _always: Option<watch::Sender<bool>>,
}

impl Election {
    /// Start competing for the Lease in the background.
    pub async fn start(client: kube::Client, cfg: &LeaseConfig) -> Result<Election> {
        let manager = LeaseManagerBuilder::new(client.clone(), cfg.name.clone())
            .with_namespace(cfg.namespace.clone())
            .with_identity(cfg.identity.clone())
            .with_duration(cfg.duration.as_secs().max(2))
            .with_grace(
                cfg.grace
                    .as_secs()
                    .clamp(1, cfg.duration.as_secs().max(2) - 1),
            )
            .with_field_manager(super::cluster::FIELD_MANAGER)
            .build()
            .await?;
        let (holder, task) = manager.watch().await;
        let (tx, rx) = watch::channel(false);
        let leases: Api<Lease> = Api::namespaced(client, &cfg.namespace);
        let fence = tokio::spawn(fence(leases, cfg.clone(), holder, tx));
        Ok(Election {
            rx,
            task: Some(task),
            fence: Some(fence),
            _always: None,
        })
    }

    /// No election: this process is always the leader (a single replica).
    pub fn always_leader() -> Election {
        let (tx, rx) = watch::channel(true);
        Election {
            rx,
            task: None,
            fence: None,
            _always: Some(tx),
        }
    }

    /// Whether this replica holds the Lease now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// A receiver that sees every change of leadership.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Stop competing and release the Lease if held (waits for the release).
    pub async fn stop(mut self) -> Result<()> {
        let task = self.task.take();
        // The manager releases the Lease once every receiver of its channel
        // is gone: the fence holds one.
        if let Some(f) = self.fence.take() {
            f.abort();
            let _ = f.await;
        }
        drop(self);
        if let Some(task) = task {
            match task.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(join) => tracing::warn!(error = %join, "lease task ended abnormally"),
            }
        }
        Ok(())
    }
}

/// How often the fence reads the Lease: half the grace (the time between a
/// holder's renewal and its Lease's expiry), at least 1 s.
pub fn fence_period(cfg: &LeaseConfig) -> Duration {
    (cfg.grace / 2).max(Duration::from_secs(1))
}

/// Until when `lease` makes `identity` the holder: its `renewTime` plus its
/// `leaseDurationSeconds`, if it names `identity` as holder; else `None`.
pub fn held_until(lease: &Lease, identity: &str) -> Option<SystemTime> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    let renewed: SystemTime = spec.renew_time.as_ref()?.0.into();
    let secs = u64::try_from(spec.lease_duration_seconds?).ok()?;
    renewed.checked_add(Duration::from_secs(secs))
}

/// Publish `holder && the Lease is ours and unexpired` to `tx` (on change),
/// reading the Lease every [`fence_period`] while the manager says holder.
async fn fence(
    leases: Api<Lease>,
    cfg: LeaseConfig,
    mut holder: watch::Receiver<bool>,
    tx: watch::Sender<bool>,
) {
    let period = fence_period(&cfg);
    let mut until: Option<SystemTime> = None;
    loop {
        let holds = *holder.borrow_and_update();
        if holds {
            match leases.get_opt(&cfg.name).await {
                Ok(lease) => until = lease.as_ref().and_then(|l| held_until(l, &cfg.identity)),
                // Unreachable: keep the expiry last seen, which ends the lead in time.
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the Lease; leading until it expires")
                }
            }
        } else {
            until = None;
        }
        let now = SystemTime::now();
        let leads = holds && until.is_some_and(|u| now < u);
        let was = *tx.borrow();
        if leads != was {
            if !leads && holds {
                tracing::warn!(lease = %cfg.name, identity = %cfg.identity,
                    "the Lease has expired and could not be renewed: not writing until it is ours again");
            }
            tx.send_replace(leads);
        }
        // Wake at the next read, or exactly when the Lease seen expires.
        let wait = until
            .filter(|_| leads)
            .and_then(|u| u.duration_since(now).ok())
            .map_or(period, |left| left.min(period));
        tokio::select! {
            changed = holder.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(wait) => {}
            _ = tx.closed() => break,
        }
    }
    tx.send_replace(false);
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    use super::*;

    fn lease(holder: Option<&str>, renewed: Option<SystemTime>, secs: Option<i32>) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                renew_time: renewed.map(|t| MicroTime(t.try_into().unwrap())),
                lease_duration_seconds: secs,
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn a_lease_is_held_until_its_renewal_plus_its_duration_by_its_holder_only() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            held_until(&lease(Some("a"), Some(t), Some(6)), "a"),
            Some(t + Duration::from_secs(6))
        );
        assert_eq!(held_until(&lease(Some("b"), Some(t), Some(6)), "a"), None);
        assert_eq!(held_until(&lease(None, Some(t), Some(6)), "a"), None);
        assert_eq!(held_until(&lease(Some("a"), None, Some(6)), "a"), None);
        assert_eq!(held_until(&lease(Some("a"), Some(t), None), "a"), None);
        assert_eq!(held_until(&lease(Some("a"), Some(t), Some(-1)), "a"), None);
        assert_eq!(held_until(&Lease::default(), "a"), None);
    }

    #[test]
    fn the_fence_reads_at_half_the_grace_and_at_least_every_second() {
        let cfg = |grace| LeaseConfig {
            namespace: "n".into(),
            name: "l".into(),
            identity: "a".into(),
            duration: Duration::from_secs(15),
            grace: Duration::from_secs(grace),
        };
        assert_eq!(fence_period(&cfg(5)), Duration::from_millis(2500));
        assert_eq!(fence_period(&cfg(1)), Duration::from_secs(1));
    }
}
