//! Leader election on a coordination.k8s.io/v1 Lease (kube-lease-manager).
//!
//! Every replica computes decisions and exports metrics; only the holder of the
//! Lease writes (scale, HPA floor, Events). A holder that dies stops renewing,
//! and another replica takes the Lease once it has expired, within one lease
//! duration. On shutdown the holder releases the Lease, so a rolling update
//! hands over at once.

use std::time::Duration;

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
    /// Keeps the channel open when there is no Lease task.
    _always: Option<watch::Sender<bool>>,
}

impl Election {
    /// Start competing for the Lease in the background.
    pub async fn start(client: kube::Client, cfg: &LeaseConfig) -> Result<Election> {
        let manager = LeaseManagerBuilder::new(client, cfg.name.clone())
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
        let (rx, task) = manager.watch().await;
        Ok(Election {
            rx,
            task: Some(task),
            _always: None,
        })
    }

    /// No election: this process is always the leader (a single replica).
    pub fn always_leader() -> Election {
        let (tx, rx) = watch::channel(true);
        Election {
            rx,
            task: None,
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
