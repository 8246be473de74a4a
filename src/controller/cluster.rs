//! The Kubernetes side of the controller: read a target (a `get` of the
//! Deployment or StatefulSet object itself; the scale subresource is never
//! read), set its replicas by patching its scale subresource, set an HPA's floor (minReplicas) and restore its own, and
//! record Events.
//!
//! Every write is a JSON merge patch carrying the `resourceVersion` just read
//! (for a scale write, the target's: its scale subresource shares it), so the
//! API server refuses it with 409 Conflict when someone else wrote in between;
//! we then re-read and decide again, making at most [`MAX_ATTEMPTS`] writes in
//! all. A write is skipped when the re-read object already is as wanted (for a
//! restore: the HPA is gone or carries no remembered floor). The loop exists
//! once, in `write_with_retry`.

use std::future::Future;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};

use super::{Error, Result};
use crate::policy::{Target, TargetKind};

/// Attempts of one write before giving up on repeated 409 Conflicts.
pub const MAX_ATTEMPTS: u32 = 4;

/// Annotation on the target that stops planscale from writing to it (a person
/// took over): value `"true"`.
pub const PAUSE_ANNOTATION: &str = "planscale.io/paused";

/// Annotation planscale puts on an HPA in `hpa-floor` mode: the HPA's own
/// minReplicas before planscale first raised it, restored when the policy goes away.
pub const ORIGINAL_MIN_ANNOTATION: &str = "planscale.io/original-min-replicas";

/// Field manager name on every write.
pub const FIELD_MANAGER: &str = "planscale";

/// One Kubernetes API call as RBAC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiCall {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Resource, with `/subresource` if any.
    pub resource: &'static str,
    /// RBAC verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`).
    pub verb: &'static str,
}

/// The calls `hpa-floor` mode makes on HorizontalPodAutoscalers
/// (autoscaling/v2): read one by name, merge-patch it. The test API server
/// (v1.20) has no autoscaling/v2, so these cannot be read from its audit log
/// like the other calls; the mocked-API test `hpa_paths_make_exactly_hpa_calls`
/// records every request the HPA paths send and asserts they are exactly
/// these, and tests/kube_rbac.rs compares them with
/// deploy/components/hpa-floor.
pub const HPA_CALLS: [ApiCall; 2] = [
    ApiCall {
        group: "autoscaling",
        resource: "horizontalpodautoscalers",
        verb: "get",
    },
    ApiCall {
        group: "autoscaling",
        resource: "horizontalpodautoscalers",
        verb: "patch",
    },
];

/// The workload a policy scales, as the API knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub kind: TargetKind,
    pub namespace: String,
    pub name: String,
    pub hpa: Option<String>,
}

impl From<&Target> for TargetRef {
    fn from(t: &Target) -> Self {
        TargetRef {
            kind: t.kind,
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            hpa: t.hpa.clone(),
        }
    }
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl TargetRef {
    fn object_ref(&self, uid: Option<String>) -> ObjectReference {
        ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some(self.kind.to_string()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid,
            ..Default::default()
        }
    }
}

/// The target as read at the start of a loop iteration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `spec.replicas` of the Deployment or StatefulSet (the scale
    /// subresource's `spec.replicas` too; it is written, never read).
    pub replicas: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    /// The target carries `planscale.io/paused: "true"`.
    pub paused: bool,
    /// The target's UID, for Event references.
    pub uid: Option<String>,
    /// In `hpa-floor` mode: the HPA's current floor and ceiling.
    pub hpa: Option<HpaObserved>,
}

/// An HPA's bounds as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HpaObserved {
    /// `spec.minReplicas` (the API's default is 1).
    pub min: u32,
    /// `spec.maxReplicas`.
    pub max: u32,
    /// The floor before planscale first raised it, if planscale has raised it.
    pub original_min: Option<u32>,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Value before the write (as last re-read).
    pub from: u32,
    /// Value after the write.
    pub to: u32,
    /// Write attempts made (1 + retries after 409; 0 when nothing had to change).
    pub attempts: u32,
    /// Writes the API server refused with 409 Conflict (someone else wrote
    /// between our read and our write), each followed by a re-read.
    pub conflicts: u32,
}

impl EventNote {
    /// A Normal Event.
    pub fn normal(reason: &str, action: &str, note: String) -> Self {
        EventNote {
            reason: reason.into(),
            action: action.into(),
            note,
            warning: false,
        }
    }
}

impl Applied {
    fn new(from: u32, to: u32, w: Writes) -> Self {
        Applied {
            from,
            to,
            attempts: w.attempts,
            conflicts: w.conflicts,
        }
    }
}

/// An Event to record on a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNote {
    /// PascalCase reason, e.g. `ScaledUp`.
    pub reason: String,
    /// PascalCase action, e.g. `Scale`.
    pub action: String,
    /// The human-readable explanation (at most 1 kB is kept).
    pub note: String,
    pub warning: bool,
}

/// Reads and writes of the cluster the per-policy loop needs.
pub trait Cluster: Send + Sync + 'static {
    /// Read the target (and its HPA when `with_hpa`).
    fn observe(
        &self,
        t: &TargetRef,
        with_hpa: bool,
    ) -> impl Future<Output = Result<Observed>> + Send;
    /// Set the target's replicas through its scale subresource.
    fn set_replicas(
        &self,
        t: &TargetRef,
        replicas: u32,
    ) -> impl Future<Output = Result<Applied>> + Send;
    /// Set the HPA's minReplicas to `floor` (clamped to [original floor, maxReplicas]),
    /// remembering the original floor in an annotation.
    fn set_hpa_floor(
        &self,
        t: &TargetRef,
        floor: u32,
    ) -> impl Future<Output = Result<Applied>> + Send;
    /// Put the HPA's original floor back and drop the annotation (no-op if never raised).
    fn restore_hpa_floor(
        &self,
        t: &TargetRef,
    ) -> impl Future<Output = Result<Option<Applied>>> + Send;
    /// Record an Event (events.k8s.io/v1) on the target.
    fn event(
        &self,
        t: &TargetRef,
        uid: Option<String>,
        e: &EventNote,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// [`Cluster`] over a kube [`kube::Client`].
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    recorder: Recorder,
}

impl KubeCluster {
    /// `instance` names this controller replica in Events (its Pod name).
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "planscale".into(),
                instance,
            },
        );
        KubeCluster { client, recorder }
    }

    fn hpa_api(&self, t: &TargetRef) -> Api<HorizontalPodAutoscaler> {
        Api::namespaced(self.client.clone(), &t.namespace)
    }

    fn hpa_name<'a>(&self, t: &'a TargetRef) -> Result<&'a str> {
        t.hpa.as_deref().ok_or_else(|| Error::Unexpected {
            target: t.to_string(),
            expected: "an HPA name in target.hpa",
            found: "none".into(),
        })
    }

    async fn read_target(&self, t: &TargetRef) -> Result<(Observed, String)> {
        let (replicas, ready, meta) = match t.kind {
            TargetKind::Deployment => {
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), &t.namespace);
                let d = api
                    .get(&t.name)
                    .await
                    .map_err(|e| Error::kube("get", t, e))?;
                let spec = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let ready = d
                    .status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0);
                (spec, ready, d.metadata)
            }
            TargetKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &t.namespace);
                let s = api
                    .get(&t.name)
                    .await
                    .map_err(|e| Error::kube("get", t, e))?;
                let spec = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let ready = s
                    .status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0);
                (spec, ready, s.metadata)
            }
        };
        let paused = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(PAUSE_ANNOTATION))
            .is_some_and(|v| v == "true");
        let rv = meta.resource_version.clone().unwrap_or_default();
        Ok((
            Observed {
                replicas: non_negative(replicas),
                ready: non_negative(ready),
                paused,
                uid: meta.uid,
                hpa: None,
            },
            rv,
        ))
    }

    async fn read_hpa(&self, t: &TargetRef) -> Result<(HpaObserved, String)> {
        let name = self.hpa_name(t)?;
        let hpa = self
            .hpa_api(t)
            .get(name)
            .await
            .map_err(|e| Error::kube("get HPA", format!("{}/{name}", t.namespace), e))?;
        let spec = hpa.spec.as_ref().ok_or_else(|| Error::Unexpected {
            target: format!("HorizontalPodAutoscaler {}/{name}", t.namespace),
            expected: "a spec",
            found: "none".into(),
        })?;
        let original_min = hpa
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ORIGINAL_MIN_ANNOTATION))
            .and_then(|v| v.parse::<u32>().ok());
        Ok((
            HpaObserved {
                min: non_negative(spec.min_replicas.unwrap_or(1)),
                max: non_negative(spec.max_replicas),
                original_min,
            },
            hpa.metadata.resource_version.unwrap_or_default(),
        ))
    }

    /// [`Self::read_hpa`], with `None` when the HPA does not exist (404).
    async fn read_hpa_if_present(&self, t: &TargetRef) -> Result<Option<(HpaObserved, String)>> {
        match self.read_hpa(t).await {
            Ok(x) => Ok(Some(x)),
            Err(Error::Kube { source, .. }) if is_not_found(&source) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn patch_hpa(&self, t: &TargetRef, name: &str, body: Value) -> kube::Result<()> {
        self.hpa_api(t)
            .patch(name, &PatchParams::default(), &Patch::Merge(body))
            .await
            .map(|_| ())
    }

    async fn patch_scale(&self, t: &TargetRef, body: Value) -> kube::Result<()> {
        let pp = PatchParams::default();
        let patch = Patch::Merge(body);
        match t.kind {
            TargetKind::Deployment => {
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), &t.namespace);
                api.patch_scale(&t.name, &pp, &patch).await.map(|_| ())
            }
            TargetKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &t.namespace);
                api.patch_scale(&t.name, &pp, &patch).await.map(|_| ())
            }
        }
    }
}

fn non_negative(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The HPA floor planscale sets (the planner's rule, shared with the simulator).
pub use crate::plan::hpa_floor;

/// What a write loop does with the object it has just read.
enum Plan<T> {
    /// The object already is as wanted: write nothing and answer `T`.
    Skip(T),
    /// Merge-patch `patch` (a JSON object) with `resource_version` put into its
    /// `metadata`, and answer `then` once the API server accepts it.
    Write {
        resource_version: String,
        patch: Value,
        then: T,
    },
}

/// What [`write_with_retry`] did: writes sent, and how many of them got 409.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Writes {
    attempts: u32,
    conflicts: u32,
}

/// The optimistic-concurrency loop every write of [`KubeCluster`] goes through:
/// `read` the object, let `plan` decide from it, and `write` the patch carrying
/// the `resourceVersion` read. On 409 Conflict it reads and plans again, so a
/// re-read that already shows the wanted value writes nothing; after
/// [`MAX_ATTEMPTS`] refused writes it gives up with
/// [`Error::ConflictRetriesExhausted`]. Any other error is returned at once.
///
/// `op` and `target` name the write in errors and logs. Returns the plan's
/// answer, the writes made (0 when the first read already was as wanted) and
/// the writes refused with 409. Each 409 is logged at info: it means another
/// writer changed the object between our read and our write.
async fn write_with_retry<O, T, RF, WF>(
    op: &'static str,
    target: &str,
    mut read: impl FnMut() -> RF,
    mut plan: impl FnMut(O) -> Plan<T>,
    mut write: impl FnMut(Value) -> WF,
) -> Result<(T, Writes)>
where
    RF: Future<Output = Result<O>>,
    WF: Future<Output = kube::Result<()>>,
{
    let mut w = Writes::default();
    loop {
        let (resource_version, mut patch, then) = match plan(read().await?) {
            Plan::Skip(answer) => return Ok((answer, w)),
            Plan::Write {
                resource_version,
                patch,
                then,
            } => (resource_version, patch, then),
        };
        patch["metadata"]["resourceVersion"] = Value::String(resource_version);
        w.attempts += 1;
        match write(patch).await {
            Ok(()) => return Ok((then, w)),
            Err(e) if is_conflict(&e) && w.attempts < MAX_ATTEMPTS => {
                w.conflicts += 1;
                tracing::info!(target = %target, op, attempts = w.attempts,
                    "409 Conflict: the object changed between our read and our write; re-reading and deciding again");
            }
            Err(e) if is_conflict(&e) => {
                return Err(Error::ConflictRetriesExhausted {
                    op,
                    target: target.to_string(),
                    attempts: w.attempts,
                });
            }
            Err(e) => return Err(Error::kube(op, target, e)),
        }
    }
}

impl Cluster for KubeCluster {
    async fn observe(&self, t: &TargetRef, with_hpa: bool) -> Result<Observed> {
        let (mut o, _) = self.read_target(t).await?;
        if with_hpa {
            o.hpa = Some(self.read_hpa(t).await?.0);
        }
        Ok(o)
    }

    async fn set_replicas(&self, t: &TargetRef, replicas: u32) -> Result<Applied> {
        // The read is of the Deployment or StatefulSet itself: its scale
        // subresource carries the same resourceVersion, so the patch below is
        // refused with 409 when the object changed since this read.
        let ((from, to), w) = write_with_retry(
            "patch scale",
            &t.to_string(),
            || self.read_target(t),
            |(o, rv)| {
                let change = (o.replicas, replicas);
                if o.replicas == replicas {
                    return Plan::Skip(change);
                }
                Plan::Write {
                    resource_version: rv,
                    patch: json!({ "spec": { "replicas": replicas } }),
                    then: change,
                }
            },
            |patch| self.patch_scale(t, patch),
        )
        .await?;
        Ok(Applied::new(from, to, w))
    }

    async fn set_hpa_floor(&self, t: &TargetRef, floor: u32) -> Result<Applied> {
        let name = self.hpa_name(t)?;
        let ((from, to), w) = write_with_retry(
            "patch HPA",
            &format!("{}/{name}", t.namespace),
            || self.read_hpa(t),
            |(h, rv)| {
                let original = h.original_min.unwrap_or(h.min);
                let to = hpa_floor(floor, original, h.max);
                if h.min == to {
                    return Plan::Skip((h.min, to));
                }
                Plan::Write {
                    resource_version: rv,
                    patch: json!({
                        "metadata": {
                            "annotations": { ORIGINAL_MIN_ANNOTATION: original.to_string() },
                        },
                        "spec": { "minReplicas": to },
                    }),
                    then: (h.min, to),
                }
            },
            |patch| self.patch_hpa(t, name, patch),
        )
        .await?;
        Ok(Applied::new(from, to, w))
    }

    async fn restore_hpa_floor(&self, t: &TargetRef) -> Result<Option<Applied>> {
        let name = self.hpa_name(t)?;
        let (change, w) = write_with_retry(
            "restore HPA",
            &format!("{}/{name}", t.namespace),
            || self.read_hpa_if_present(t),
            |read| {
                // The HPA is gone, or planscale never raised it: nothing to restore.
                let Some((h, rv)) = read else {
                    return Plan::Skip(None);
                };
                let Some(original) = h.original_min else {
                    return Plan::Skip(None);
                };
                Plan::Write {
                    resource_version: rv,
                    patch: json!({
                        "metadata": { "annotations": { ORIGINAL_MIN_ANNOTATION: null } },
                        "spec": { "minReplicas": original },
                    }),
                    then: Some((h.min, original)),
                }
            },
            |patch| self.patch_hpa(t, name, patch),
        )
        .await?;
        Ok(change.map(|(from, to)| Applied::new(from, to, w)))
    }

    async fn event(&self, t: &TargetRef, uid: Option<String>, e: &EventNote) -> Result<()> {
        let mut note = e.note.clone();
        if note.len() > 1024 {
            let mut cut = 1021;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str("...");
        }
        let ev = Event {
            type_: if e.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: e.reason.clone(),
            note: Some(note),
            action: e.action.clone(),
            secondary: None,
        };
        self.recorder
            .publish(&ev, &t.object_ref(uid))
            .await
            .map_err(|err| Error::kube("create event", t, err))
    }
}

#[cfg(test)]
mod tests {
    //! The reconcile path against a mocked API server (tower-test): each
    //! request's method, path and body is asserted, and answers include 409,
    //! 403, 404 and 5xx.

    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};
    use tower_test::mock;

    use super::*;

    type Handle = mock::Handle<Request<Body>, Response<Body>>;

    fn cluster() -> (KubeCluster, Handle) {
        let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(svc, "default");
        (KubeCluster::new(client, Some("test-0".into())), handle)
    }

    fn target() -> TargetRef {
        TargetRef {
            kind: TargetKind::Deployment,
            namespace: "planning".into(),
            name: "worker".into(),
            hpa: Some("worker".into()),
        }
    }

    fn deployment(rv: &str, replicas: i32) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "worker", "namespace": "planning", "resourceVersion": rv, "uid": "u-1"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "worker"}},
                     "template": {"metadata": {"labels": {"app": "worker"}}, "spec": {"containers": []}}},
            "status": {"readyReplicas": replicas}
        })
    }

    fn hpa(rv: &str, min: i32, original: Option<&str>) -> Value {
        let mut meta = json!({"name": "worker", "namespace": "planning", "resourceVersion": rv});
        if let Some(o) = original {
            meta["annotations"] = json!({ ORIGINAL_MIN_ANNOTATION: o });
        }
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
            "spec": {"minReplicas": min, "maxReplicas": 10,
                     "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"}}
        })
    }

    fn status(code: u16, reason: &str) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("mock {reason}"), "reason": reason, "code": code})
    }

    /// Expect one request; check it; answer `code` with `body`. Returns the request body.
    async fn expect(h: &mut Handle, method: &str, path: &str, code: u16, body: Value) -> Value {
        let (req, send) = h.next_request().await.expect("a request");
        assert_eq!(req.method().as_str(), method, "method of {}", req.uri());
        assert_eq!(req.uri().path(), path);
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let sent = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        send.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
        );
        sent
    }

    const DEPLOY: &str = "/apis/apps/v1/namespaces/planning/deployments/worker";
    const SCALE: &str = "/apis/apps/v1/namespaces/planning/deployments/worker/scale";
    const HPA: &str = "/apis/autoscaling/v2/namespaces/planning/horizontalpodautoscalers/worker";

    #[tokio::test]
    async fn scale_retries_after_409_with_the_new_resource_version() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            expect(&mut h, "GET", DEPLOY, 200, deployment("1", 2)).await;
            let first = expect(&mut h, "PATCH", SCALE, 409, status(409, "Conflict")).await;
            assert_eq!(first["metadata"]["resourceVersion"], "1");
            assert_eq!(first["spec"]["replicas"], 6);
            expect(&mut h, "GET", DEPLOY, 200, deployment("2", 3)).await;
            let second = expect(
                &mut h,
                "PATCH",
                SCALE,
                200,
                json!({"spec": {"replicas": 6}}),
            )
            .await;
            assert_eq!(second["metadata"]["resourceVersion"], "2");
        });
        let a = c.set_replicas(&target(), 6).await.unwrap();
        assert_eq!(
            a,
            Applied {
                from: 3,
                to: 6,
                attempts: 2,
                conflicts: 1
            }
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn scale_gives_up_after_repeated_conflicts() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            for rv in 0..MAX_ATTEMPTS {
                expect(&mut h, "GET", DEPLOY, 200, deployment(&rv.to_string(), 2)).await;
                expect(&mut h, "PATCH", SCALE, 409, status(409, "Conflict")).await;
            }
        });
        let e = c.set_replicas(&target(), 6).await.unwrap_err();
        assert_eq!(e.kind(), "conflict_retries_exhausted");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_re_read_that_already_has_the_count_writes_nothing() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            expect(&mut h, "GET", DEPLOY, 200, deployment("7", 6)).await;
        });
        assert_eq!(c.set_replicas(&target(), 6).await.unwrap().attempts, 0);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn forbidden_is_not_retried() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            expect(&mut h, "GET", DEPLOY, 200, deployment("1", 2)).await;
            expect(&mut h, "PATCH", SCALE, 403, status(403, "Forbidden")).await;
        });
        let e = c.set_replicas(&target(), 6).await.unwrap_err();
        assert_eq!(e.kind(), "api_forbidden");
        assert_eq!(e.status(), Some(403));
        assert!(
            e.to_string()
                .contains("patch scale Deployment planning/worker"),
            "{e}"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn missing_target_and_server_errors_have_their_kinds() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            expect(&mut h, "GET", DEPLOY, 404, status(404, "NotFound")).await;
            expect(
                &mut h,
                "GET",
                DEPLOY,
                503,
                status(503, "ServiceUnavailable"),
            )
            .await;
        });
        assert_eq!(
            c.observe(&target(), false).await.unwrap_err().kind(),
            "api_not_found"
        );
        assert_eq!(
            c.observe(&target(), false).await.unwrap_err().kind(),
            "api_server_error"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn observe_reads_replicas_readiness_pause_and_hpa() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            let mut d = deployment("1", 4);
            d["metadata"]["annotations"] = json!({ PAUSE_ANNOTATION: "true" });
            d["status"]["readyReplicas"] = json!(3);
            expect(&mut h, "GET", DEPLOY, 200, d).await;
            expect(&mut h, "GET", HPA, 200, hpa("5", 2, Some("1"))).await;
        });
        let o = c.observe(&target(), true).await.unwrap();
        assert_eq!((o.replicas, o.ready, o.paused), (4, 3, true));
        assert_eq!(
            o.hpa,
            Some(HpaObserved {
                min: 2,
                max: 10,
                original_min: Some(1)
            })
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn hpa_floor_is_raised_remembering_the_original_then_restored() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            expect(&mut h, "GET", HPA, 200, hpa("1", 2, None)).await;
            let raise = expect(&mut h, "PATCH", HPA, 409, status(409, "Conflict")).await;
            assert_eq!(raise["spec"]["minReplicas"], 6);
            assert_eq!(
                raise["metadata"]["annotations"][ORIGINAL_MIN_ANNOTATION],
                "2"
            );
            expect(&mut h, "GET", HPA, 200, hpa("2", 2, None)).await;
            let raise = expect(&mut h, "PATCH", HPA, 200, hpa("3", 6, Some("2"))).await;
            assert_eq!(raise["metadata"]["resourceVersion"], "2");
            // Above maxReplicas it is clamped to 10.
            expect(&mut h, "GET", HPA, 200, hpa("3", 6, Some("2"))).await;
            let clamp = expect(&mut h, "PATCH", HPA, 200, hpa("4", 10, Some("2"))).await;
            assert_eq!(clamp["spec"]["minReplicas"], 10);
            assert_eq!(
                clamp["metadata"]["annotations"][ORIGINAL_MIN_ANNOTATION],
                "2"
            );
            // Restore: the original floor comes back and the annotation goes.
            expect(&mut h, "GET", HPA, 200, hpa("4", 10, Some("2"))).await;
            let restore = expect(&mut h, "PATCH", HPA, 200, hpa("5", 2, None)).await;
            assert_eq!(restore["spec"]["minReplicas"], 2);
            assert_eq!(
                restore["metadata"]["annotations"][ORIGINAL_MIN_ANNOTATION],
                Value::Null
            );
            // Restoring again: nothing planscale raised, nothing to do.
            expect(&mut h, "GET", HPA, 200, hpa("5", 2, None)).await;
            // A deleted HPA: nothing to restore.
            expect(&mut h, "GET", HPA, 404, status(404, "NotFound")).await;
        });
        let t = target();
        assert_eq!(
            c.set_hpa_floor(&t, 6).await.unwrap(),
            Applied {
                from: 2,
                to: 6,
                attempts: 2,
                conflicts: 1
            }
        );
        assert_eq!(c.set_hpa_floor(&t, 50).await.unwrap().to, 10);
        assert_eq!(
            c.restore_hpa_floor(&t).await.unwrap().map(|a| a.to),
            Some(2)
        );
        assert_eq!(c.restore_hpa_floor(&t).await.unwrap(), None);
        assert_eq!(c.restore_hpa_floor(&t).await.unwrap(), None);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn restore_retries_after_409_with_the_new_resource_version() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            expect(&mut h, "GET", HPA, 200, hpa("1", 6, Some("2"))).await;
            let first = expect(&mut h, "PATCH", HPA, 409, status(409, "Conflict")).await;
            assert_eq!(first["metadata"]["resourceVersion"], "1");
            assert_eq!(first["spec"]["minReplicas"], 2);
            // Someone moved the floor in between; the original is still remembered.
            expect(&mut h, "GET", HPA, 200, hpa("2", 7, Some("2"))).await;
            let second = expect(&mut h, "PATCH", HPA, 200, hpa("3", 2, None)).await;
            assert_eq!(second["metadata"]["resourceVersion"], "2");
            assert_eq!(second["spec"]["minReplicas"], 2);
            // Sent as null (which deletes it in a merge patch), not left out.
            assert_eq!(
                second["metadata"]["annotations"].get(ORIGINAL_MIN_ANNOTATION),
                Some(&Value::Null)
            );
        });
        assert_eq!(
            c.restore_hpa_floor(&target()).await.unwrap(),
            Some(Applied {
                from: 7,
                to: 2,
                attempts: 2,
                conflicts: 1
            })
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn restore_after_409_writes_nothing_when_the_re_read_has_no_original() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            expect(&mut h, "GET", HPA, 200, hpa("1", 6, Some("2"))).await;
            expect(&mut h, "PATCH", HPA, 409, status(409, "Conflict")).await;
            // Another writer already restored it: no second PATCH.
            expect(&mut h, "GET", HPA, 200, hpa("2", 2, None)).await;
        });
        assert_eq!(c.restore_hpa_floor(&target()).await.unwrap(), None);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn restore_gives_up_after_repeated_conflicts() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            for rv in 0..MAX_ATTEMPTS {
                expect(&mut h, "GET", HPA, 200, hpa(&rv.to_string(), 6, Some("2"))).await;
                expect(&mut h, "PATCH", HPA, 409, status(409, "Conflict")).await;
            }
        });
        let e = c.restore_hpa_floor(&target()).await.unwrap_err();
        assert_eq!(e.kind(), "conflict_retries_exhausted");
        assert!(
            e.to_string().starts_with(&format!(
                "restore HPA planning/worker: still conflicting after {MAX_ATTEMPTS} attempts"
            )),
            "{e}"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn events_are_created_in_the_targets_namespace_with_the_reason() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            let ev = expect(
                &mut h,
                "POST",
                "/apis/events.k8s.io/v1/namespaces/planning/events",
                201,
                json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "x"}, "eventTime": "2026-01-01T00:00:00.000000Z"}),
            )
            .await;
            assert_eq!(ev["reason"], "ScaledUp");
            assert_eq!(ev["action"], "Scale");
            assert_eq!(ev["regarding"]["kind"], "Deployment");
            assert_eq!(ev["regarding"]["name"], "worker");
            assert_eq!(ev["reportingController"], "planscale");
            assert!(ev["note"].as_str().unwrap().len() <= 1024);
        });
        let note = EventNote {
            reason: "ScaledUp".into(),
            action: "Scale".into(),
            note: "x".repeat(5000),
            warning: false,
        };
        c.event(&target(), Some("u-1".into()), &note).await.unwrap();
        server.await.unwrap();
    }

    /// The RBAC call a request is: group, resource[/subresource] and verb
    /// from its method and path (`/api/v1/...` or `/apis/GROUP/VERSION/...`).
    fn rbac_call(method: &str, path: &str) -> (String, String, String) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => panic!("not a resource path: {path}"),
        };
        let rest = match rest {
            ["namespaces", _ns, rest @ ..] => rest,
            rest => rest,
        };
        let (resource, named) = match rest {
            [resource] => (resource.to_string(), false),
            [resource, _name] => (resource.to_string(), true),
            [resource, _name, sub] => (format!("{resource}/{sub}"), true),
            _ => panic!("unexpected path: {path}"),
        };
        let verb = match (method, named) {
            ("GET", true) => "get",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", _) => "delete",
            _ => panic!("unexpected method {method} on {path}"),
        };
        (group.to_string(), resource, verb.to_string())
    }

    /// Every HPA request of the `hpa-floor` paths (observe with the HPA,
    /// raise the floor through a 409, restore it, restore a deleted HPA),
    /// answered by a small in-memory HPA, is one of [`HPA_CALLS`], and each
    /// of those is made: the list RBAC grants for `hpa-floor`
    /// (tests/kube_rbac.rs) is what the code sends.
    #[tokio::test]
    async fn hpa_paths_make_exactly_hpa_calls() {
        let (c, mut h) = cluster();
        let server = tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            let (mut rv, mut min, mut original) = (1u32, 2i64, None::<String>);
            let mut conflict_once = true;
            let mut deleted = false;
            while let Some((req, send)) = h.next_request().await {
                let (method, path) = (req.method().to_string(), req.uri().path().to_string());
                let bytes = req.into_body().collect_bytes().await.unwrap();
                let (code, body) = if path == DEPLOY {
                    (200, deployment("1", 2))
                } else if path != HPA {
                    panic!("unexpected request {method} {path}");
                } else if deleted {
                    (404, status(404, "NotFound"))
                } else if method == "GET" {
                    (200, hpa(&rv.to_string(), min as i32, original.as_deref()))
                } else if std::mem::take(&mut conflict_once) {
                    (409, status(409, "Conflict"))
                } else {
                    let sent: Value = serde_json::from_slice(&bytes).unwrap();
                    min = sent["spec"]["minReplicas"].as_i64().unwrap();
                    original = sent["metadata"]["annotations"][ORIGINAL_MIN_ANNOTATION]
                        .as_str()
                        .map(String::from);
                    rv += 1;
                    // The restore is the last write: the HPA is deleted after it.
                    deleted = original.is_none();
                    (200, hpa(&rv.to_string(), min as i32, original.as_deref()))
                };
                if path == HPA {
                    seen.insert(rbac_call(&method, &path));
                }
                send.send_response(
                    Response::builder()
                        .status(code)
                        .body(Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                );
            }
            seen
        });
        let t = target();
        assert!(c.observe(&t, true).await.unwrap().hpa.is_some());
        assert_eq!(c.set_hpa_floor(&t, 6).await.unwrap().conflicts, 1);
        assert!(c.restore_hpa_floor(&t).await.unwrap().is_some());
        assert_eq!(c.restore_hpa_floor(&t).await.unwrap(), None);
        drop(c);
        let seen = server.await.unwrap();
        let declared: std::collections::BTreeSet<(String, String, String)> = HPA_CALLS
            .iter()
            .map(|a| (a.group.into(), a.resource.into(), a.verb.into()))
            .collect();
        assert_eq!(seen, declared);
    }

    #[test]
    fn floor_stays_between_the_original_and_the_maximum() {
        assert_eq!(hpa_floor(6, 2, 10), 6);
        assert_eq!(hpa_floor(1, 2, 10), 2);
        assert_eq!(hpa_floor(50, 2, 10), 10);
    }
}
