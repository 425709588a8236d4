//! The Kubernetes actuator and the Lease against an in-process fake API server.
//!
//! The fake (axum on 127.0.0.1:0) speaks the real Kubernetes JSON: objects are k8s-openapi
//! types serialised with serde_json, errors are `Status` objects with the right `reason` and
//! `code`, writes bump `resourceVersion`, a stale `resourceVersion` gives 409 Conflict, merge
//! patches are applied as RFC 7386 says, the scale subresource maps to `spec.replicas`, and
//! `dryRun=All` validates without storing. It records every request (method, path, query,
//! content type, JSON body) so the tests assert the exact requests.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, MicroTime, ObjectMeta, OwnerReference, Status, StatusDetails,
};
use pitcrew::actuators::kube::{KubeActuator, RBAC_RULES, rbac_role};
use pitcrew::actuators::lease::LeaseStatus;
use pitcrew::config::KubeConfig;
use pitcrew::domain::Action;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

// ----------------------------------------------------------------------------------------------
// The fake API server
// ----------------------------------------------------------------------------------------------

/// One recorded request.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    body: Option<Value>,
}

impl Req {
    fn dry_run(&self) -> bool {
        self.query.get("dryRun").map(String::as_str) == Some("All")
    }

    /// (verb, API group, resource with subresource), as RBAC sees the request.
    fn rbac(&self) -> (String, String, String) {
        let t = parse_path(&self.path).expect("a resource path");
        let resource = match &t.sub {
            Some(s) => format!("{}/{s}", t.resource),
            None => t.resource.clone(),
        };
        let verb = match (self.method.as_str(), t.name.is_some()) {
            ("GET", false) => "list",
            ("GET", true) => "get",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", _) => "delete",
            (m, _) => panic!("unexpected method {m}"),
        };
        (verb.to_string(), t.group, resource)
    }

    fn short(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A canned answer for the next matching requests.
struct Fault {
    method: &'static str,
    path: String,
    code: u16,
    times: usize,
    /// Stored (as a concurrent writer would) before answering.
    then_store: Option<(Key, Value)>,
}

/// (group/resource, namespace, name)
type Key = (String, String, String);

#[derive(Default)]
struct World {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    requests: Vec<Req>,
    faults: Vec<Fault>,
    /// (verb, resource with subresource) refused with 403.
    forbidden: Vec<(String, String)>,
}

struct Target {
    group: String,
    version: String,
    ns: String,
    resource: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match s.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    match rest {
        ["namespaces", ns, res, more @ ..] => Some(Target {
            group,
            version,
            ns: ns.to_string(),
            resource: res.to_string(),
            name: more.first().map(|n| n.to_string()),
            sub: more.get(1).map(|n| n.to_string()),
        }),
        _ => None,
    }
}

fn kind_of(resource: &str) -> &'static str {
    match resource {
        "deployments" => "Deployment",
        "replicasets" => "ReplicaSet",
        "leases" => "Lease",
        "cronjobs" => "CronJob",
        "jobs" => "Job",
        _ => "Unknown",
    }
}

fn status(code: u16, reason: &str, message: String, t: &Target) -> Response {
    let s = Status {
        code: Some(i32::from(code)),
        details: Some(StatusDetails {
            group: Some(t.group.clone()).filter(|g| !g.is_empty()),
            kind: Some(t.resource.clone()),
            name: t.name.clone(),
            ..StatusDetails::default()
        }),
        message: Some(message),
        reason: Some(reason.to_string()),
        status: Some("Failure".to_string()),
        ..Status::default()
    };
    let code = StatusCode::from_u16(code).expect("a status code");
    (
        code,
        [("content-type", "application/json")],
        serde_json::to_string(&s).expect("a Status serialises"),
    )
        .into_response()
}

fn ok(code: StatusCode, v: &Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

/// RFC 7386.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn qualified(t: &Target) -> String {
    if t.group.is_empty() {
        t.resource.clone()
    } else {
        format!("{}.{}", t.resource, t.group)
    }
}

fn key_of(t: &Target, name: &str) -> Key {
    (
        format!("{}/{}", t.group, t.resource),
        t.ns.clone(),
        name.to_string(),
    )
}

fn rv_of(v: &Value) -> Option<String> {
    v["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string)
}

fn conflict(t: &Target, name: &str) -> Response {
    status(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            qualified(t)
        ),
        t,
    )
}

impl World {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn put(&mut self, key: Key, mut v: Value) {
        let rv = self.next_rv();
        v["metadata"]["resourceVersion"] = json!(rv);
        self.objects.insert(key, v);
    }

    fn scale_of(&self, d: &Value) -> Value {
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1) as i32;
        let selector = d["spec"]["selector"]["matchLabels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let s = Scale {
            metadata: ObjectMeta {
                name: d["metadata"]["name"].as_str().map(str::to_string),
                namespace: d["metadata"]["namespace"].as_str().map(str::to_string),
                resource_version: rv_of(d),
                uid: d["metadata"]["uid"].as_str().map(str::to_string),
                ..ObjectMeta::default()
            },
            spec: Some(ScaleSpec {
                replicas: Some(replicas),
            }),
            status: Some(ScaleStatus {
                replicas,
                selector: Some(selector),
            }),
        };
        serde_json::to_value(s).expect("a Scale serialises")
    }

    fn handle(
        &mut self,
        method: &Method,
        uri: &Uri,
        content_type: Option<String>,
        body: Option<Value>,
    ) -> Response {
        let query: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://fake{uri}"))
            .expect("a URL")
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let req = Req {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: query.clone(),
            content_type: content_type.clone(),
            body: body.clone(),
        };
        self.requests.push(req.clone());
        let Some(t) = parse_path(uri.path()) else {
            return (StatusCode::NOT_FOUND, "404 page not found").into_response();
        };
        let (verb, _, resource) = req.rbac();
        if self.forbidden.contains(&(verb.clone(), resource.clone())) {
            let res = resource;
            return status(
                403,
                "Forbidden",
                format!(
                    "{} \"{}\" is forbidden: User \"system:serviceaccount:{}:pitcrew\" cannot {verb} resource \"{res}\" in API group \"{}\" in the namespace \"{}\"",
                    qualified(&t),
                    t.name.clone().unwrap_or_default(),
                    t.ns,
                    t.group,
                    t.ns
                ),
                &t,
            );
        }
        if let Some(i) = self
            .faults
            .iter()
            .position(|f| f.times > 0 && f.method == method.as_str() && f.path == uri.path())
        {
            self.faults[i].times -= 1;
            if let Some((k, v)) = self.faults[i].then_store.clone() {
                self.put(k, v);
            }
            let code = self.faults[i].code;
            let name = t.name.clone().unwrap_or_default();
            return match code {
                409 => conflict(&t, &name),
                c => status(c, "InternalError", "injected".into(), &t),
            };
        }
        let dry = req.dry_run();
        let name = t.name.clone();
        match (method.as_str(), name, t.sub.as_deref()) {
            ("GET", None, None) => {
                let sel: Vec<(String, String)> = query
                    .get("labelSelector")
                    .map(|s| {
                        s.split(',')
                            .filter_map(|kv| kv.split_once('='))
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let gr = format!("{}/{}", t.group, t.resource);
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|((g, ns, _), _)| *g == gr && *ns == t.ns)
                    .map(|(_, v)| v)
                    .filter(|v| {
                        sel.iter()
                            .all(|(k, val)| v["metadata"]["labels"][k].as_str() == Some(val))
                    })
                    .map(|v| {
                        // a real server leaves apiVersion and kind out of list items
                        let mut v = v.clone();
                        if let Some(o) = v.as_object_mut() {
                            o.remove("apiVersion");
                            o.remove("kind");
                        }
                        v
                    })
                    .collect();
                let api_version = if t.group.is_empty() {
                    t.version.clone()
                } else {
                    format!("{}/{}", t.group, t.version)
                };
                ok(
                    StatusCode::OK,
                    &json!({
                        "apiVersion": api_version,
                        "kind": format!("{}List", kind_of(&t.resource)),
                        "metadata": {"resourceVersion": self.rv.to_string()},
                        "items": items,
                    }),
                )
            }
            ("GET", Some(n), sub) => match self.objects.get(&key_of(&t, &n)) {
                None => not_found(&t, &n),
                Some(v) if sub == Some("scale") => ok(StatusCode::OK, &self.scale_of(v)),
                Some(v) => ok(StatusCode::OK, v),
            },
            ("POST", None, None) => {
                let Some(mut obj) = body else {
                    return status(400, "BadRequest", "no body".into(), &t);
                };
                let Some(n) = obj["metadata"]["name"].as_str().map(str::to_string) else {
                    return status(422, "Invalid", "metadata.name: Required value".into(), &t);
                };
                let k = key_of(&t, &n);
                if self.objects.contains_key(&k) {
                    return status(
                        409,
                        "AlreadyExists",
                        format!("{} \"{n}\" already exists", qualified(&t)),
                        &t,
                    );
                }
                obj["metadata"]["namespace"] = json!(t.ns);
                obj["metadata"]["uid"] = json!(format!("uid-{n}"));
                obj["metadata"]["creationTimestamp"] = json!("2026-12-01T08:00:00Z");
                if dry {
                    obj["metadata"]["resourceVersion"] = json!("");
                } else {
                    self.put(k.clone(), obj);
                    obj = self.objects[&k].clone();
                }
                ok(StatusCode::CREATED, &obj)
            }
            ("PUT", Some(n), None) => {
                let Some(mut obj) = body else {
                    return status(400, "BadRequest", "no body".into(), &t);
                };
                let k = key_of(&t, &n);
                let Some(cur) = self.objects.get(&k) else {
                    return not_found(&t, &n);
                };
                if let Some(rv) = rv_of(&obj)
                    && Some(rv) != rv_of(cur)
                {
                    return conflict(&t, &n);
                }
                obj["metadata"]["uid"] = cur["metadata"]["uid"].clone();
                if !dry {
                    self.put(k.clone(), obj);
                    obj = self.objects[&k].clone();
                }
                ok(StatusCode::OK, &obj)
            }
            ("PATCH", Some(n), sub) => {
                if content_type.as_deref() != Some("application/merge-patch+json") {
                    return status(
                        415,
                        "UnsupportedMediaType",
                        format!("the fake takes merge patches only, not {content_type:?}"),
                        &t,
                    );
                }
                let Some(patch) = body else {
                    return status(400, "BadRequest", "no body".into(), &t);
                };
                let k = key_of(&t, &n);
                let Some(cur) = self.objects.get(&k).cloned() else {
                    return not_found(&t, &n);
                };
                if let Some(rv) = rv_of(&patch)
                    && Some(rv) != rv_of(&cur)
                {
                    return conflict(&t, &n);
                }
                let mut new = cur.clone();
                let reply = match sub {
                    Some("scale") => {
                        let mut scale = self.scale_of(&cur);
                        merge(&mut scale, &patch);
                        new["spec"]["replicas"] = scale["spec"]["replicas"].clone();
                        Some(scale)
                    }
                    None => {
                        merge(&mut new, &patch);
                        None
                    }
                    Some(s) => return status(404, "NotFound", format!("no subresource {s}"), &t),
                };
                if !dry {
                    self.put(k.clone(), new.clone());
                    new = self.objects[&k].clone();
                }
                match reply {
                    Some(mut scale) => {
                        scale["metadata"]["resourceVersion"] =
                            new["metadata"]["resourceVersion"].clone();
                        ok(StatusCode::OK, &scale)
                    }
                    None => ok(StatusCode::OK, &new),
                }
            }
            _ => status(
                405,
                "MethodNotAllowed",
                format!("{method} {}", uri.path()),
                &t,
            ),
        }
    }
}

fn not_found(t: &Target, name: &str) -> Response {
    status(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", qualified(t)),
        t,
    )
}

type Shared = Arc<Mutex<World>>;

async fn handler(
    State(w): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => Some(v),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("not JSON: {e}")).into_response(),
        }
    };
    let mut w = w.lock().expect("the world lock");
    w.handle(&method, &uri, ct, body)
}

struct Fake {
    world: Shared,
    client: kube::Client,
    clock: Arc<Mutex<Timestamp>>,
}

const NS: &str = "ml";
const ME: &str = "alice@laptop/100 (console)";
const BOB: &str = "bob@build/7 (agent)";

fn t0() -> Timestamp {
    "2026-12-01T08:00:00Z".parse().expect("a timestamp")
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(t0().as_second() + secs).expect("a timestamp")
}

fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn kube_cfg() -> KubeConfig {
    KubeConfig {
        context: None,
        namespace: NS.to_string(),
        deployment_template: "{name}".to_string(),
        canary_template: "{name}-canary".to_string(),
        retrain_template: "{name}-retrain".to_string(),
        lease_name: "pitcrew-executor".to_string(),
        lease_seconds: 30,
    }
}

impl Fake {
    async fn start() -> Fake {
        let world: Shared = Arc::new(Mutex::new(World::default()));
        let app = Router::new().fallback(handler).with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let config = kube::Config::new(format!("http://{addr}").parse().expect("a loopback URL"));
        let client = kube::Client::try_from(config).expect("a client");
        let fake = Fake {
            world,
            client,
            clock: Arc::new(Mutex::new(t0())),
        };
        fake.seed();
        fake
    }

    fn actuator(&self, dry_run: bool) -> KubeActuator {
        self.actuator_as(ME, dry_run)
    }

    fn actuator_as(&self, id: &str, dry_run: bool) -> KubeActuator {
        let clock = self.clock.clone();
        KubeActuator::with_client(self.client.clone(), &kube_cfg(), dry_run)
            .with_identity(id.to_string())
            .with_clock(Arc::new(move || *clock.lock().expect("the clock")))
    }

    fn set_time(&self, t: Timestamp) {
        *self.clock.lock().expect("the clock") = t;
    }

    fn w(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("the world lock")
    }

    fn store<T: serde::Serialize>(&self, group_resource: &str, name: &str, obj: &T) {
        let v = serde_json::to_value(obj).expect("serialises");
        self.w().put(
            (group_resource.to_string(), NS.to_string(), name.to_string()),
            v,
        );
    }

    fn get(&self, group_resource: &str, name: &str) -> Option<Value> {
        self.w()
            .objects
            .get(&(group_resource.to_string(), NS.to_string(), name.to_string()))
            .cloned()
    }

    fn deployment(&self, name: &str) -> Deployment {
        serde_json::from_value(self.get("apps/deployments", name).expect("stored"))
            .expect("a Deployment")
    }

    fn lease(&self) -> Option<Lease> {
        self.get("coordination.k8s.io/leases", "pitcrew-executor")
            .map(|v| serde_json::from_value(v).expect("a Lease"))
    }

    fn requests(&self) -> Vec<Req> {
        self.w().requests.clone()
    }

    fn clear_requests(&self) {
        self.w().requests.clear();
    }

    /// Requests other than the Lease's.
    fn action_requests(&self) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| !r.path.contains("/leases"))
            .collect()
    }

    fn fault(&self, method: &'static str, path: &str, code: u16, times: usize) {
        self.w().faults.push(Fault {
            method,
            path: path.to_string(),
            code,
            times,
            then_store: None,
        });
    }

    fn forbid(&self, verb: &str, resource: &str) {
        self.w()
            .forbidden
            .push((verb.to_string(), resource.to_string()));
    }

    fn put_lease(&self, holder: Option<&str>, renewed: Timestamp, transitions: i32) {
        self.store(
            "coordination.k8s.io/leases",
            "pitcrew-executor",
            &lease_obj(holder, renewed, transitions),
        );
    }

    /// The model ml/fraud: Deployment fraud (revision 4, v3), its ReplicaSets (revisions 1, 2,
    /// 4), a stray ReplicaSet with the same labels at revision 3 owned by another Deployment,
    /// the canary Deployment fraud-canary, the CronJob fraud-retrain; ml/solo with a single
    /// revision.
    fn seed(&self) {
        self.store(
            "apps/deployments",
            "fraud",
            &deployment("fraud", 10, "4", "fraud:3", 3),
        );
        self.store(
            "apps/deployments",
            "fraud-canary",
            &deployment("fraud-canary", 0, "1", "fraud:3", 3),
        );
        for (rs, rev, image, version, owner) in [
            ("fraud-1111", "1", "fraud:1", 1, "fraud"),
            ("fraud-2222", "2", "fraud:2", 2, "fraud"),
            ("fraud-3333", "3", "stray:9", 9, "fraud-old"),
            ("fraud-4444", "4", "fraud:3", 3, "fraud"),
        ] {
            self.store(
                "apps/replicasets",
                rs,
                &replica_set(rs, owner, rev, image, version),
            );
        }
        self.store(
            "apps/deployments",
            "solo",
            &deployment("solo", 2, "1", "solo:1", 1),
        );
        self.store(
            "apps/replicasets",
            "solo-1111",
            &replica_set("solo-1111", "solo", "1", "solo:1", 1),
        );
        self.store(
            "batch/cronjobs",
            "fraud-retrain",
            &cron_job("fraud-retrain"),
        );
    }
}

fn template(app: &str, image: &str, version: u32, hash: Option<&str>) -> PodTemplateSpec {
    let mut labels = BTreeMap::from([("app".to_string(), app.to_string())]);
    if let Some(h) = hash {
        labels.insert("pod-template-hash".to_string(), h.to_string());
    }
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "pitcrew.dev/model-version".to_string(),
                version.to_string(),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "server".to_string(),
                image: Some(image.to_string()),
                env: Some(vec![EnvVar {
                    name: "MODEL_VERSION".to_string(),
                    value: Some(version.to_string()),
                    value_from: None,
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

fn deployment(name: &str, replicas: i32, revision: &str, image: &str, version: u32) -> Deployment {
    // the canary's pods carry the Service's label app=fraud too; its selector adds track=canary
    let app = name.trim_end_matches("-canary");
    let mut match_labels = BTreeMap::from([("app".to_string(), app.to_string())]);
    let mut t = template(app, image, version, None);
    if name.ends_with("-canary") {
        match_labels.insert("track".into(), "canary".into());
        if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.insert("track".into(), "canary".into());
        }
    }
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NS.to_string()),
            uid: Some(format!("uid-{name}")),
            annotations: Some(BTreeMap::from([(
                "deployment.kubernetes.io/revision".to_string(),
                revision.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(match_labels),
                match_expressions: None,
            },
            template: t,
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn replica_set(name: &str, owner: &str, revision: &str, image: &str, version: u32) -> ReplicaSet {
    let app = if owner == "fraud-old" { "fraud" } else { owner };
    let hash = name.rsplit('-').next().unwrap_or("0");
    let t = template(app, image, version, Some(hash));
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NS.to_string()),
            labels: t.metadata.as_ref().and_then(|m| m.labels.clone()),
            annotations: Some(BTreeMap::from([(
                "deployment.kubernetes.io/revision".to_string(),
                revision.to_string(),
            )])),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".to_string(),
                kind: "Deployment".to_string(),
                name: owner.to_string(),
                uid: format!("uid-{owner}"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            selector: LabelSelector::default(),
            template: Some(t),
            ..ReplicaSetSpec::default()
        }),
        status: None,
    }
}

fn cron_job(name: &str) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NS.to_string()),
            uid: Some(format!("uid-{name}")),
            ..ObjectMeta::default()
        },
        spec: CronJobSpec {
            schedule: "0 3 * * 0".to_string(),
            suspend: Some(true),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(BTreeMap::from([("app".into(), "fraud-retrain".into())])),
                    annotations: Some(BTreeMap::from([("team".into(), "risk".into())])),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(1),
                    template: PodTemplateSpec {
                        metadata: None,
                        spec: Some(PodSpec {
                            containers: vec![Container {
                                name: "train".into(),
                                image: Some("trainer:5".into()),
                                args: Some(vec!["--model".into(), "fraud".into()]),
                                ..Container::default()
                            }],
                            restart_policy: Some("Never".into()),
                            ..PodSpec::default()
                        }),
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        },
        status: None,
    }
}

fn lease_obj(holder: Option<&str>, renewed: Timestamp, transitions: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("pitcrew-executor".to_string()),
            namespace: Some(NS.to_string()),
            uid: Some("uid-lease".to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(30),
            acquire_time: Some(MicroTime(renewed)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

const SCALE_FRAUD: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud/scale";
const SCALE_CANARY: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud-canary/scale";
const DEPLOY_FRAUD: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud";
const DEPLOY_CANARY: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud-canary";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ml/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ml/leases/pitcrew-executor";

fn shorts(reqs: &[Req]) -> Vec<String> {
    reqs.iter().map(Req::short).collect()
}

fn replicas(f: &Fake, name: &str) -> i32 {
    f.deployment(name)
        .spec
        .and_then(|s| s.replicas)
        .expect("replicas")
}

fn template_of(f: &Fake, name: &str) -> PodTemplateSpec {
    f.deployment(name).spec.expect("a spec").template
}

// ----------------------------------------------------------------------------------------------
// Actions
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn scale_patches_the_scale_subresource_after_acquiring_the_lease() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    let reply = a
        .act("ml/fraud", &Action::Scale { replicas: 14 })
        .await
        .expect("scaled");
    assert_eq!(reply, "scaled deployment ml/fraud from 10 to 14 replicas");
    let reqs = f.requests();
    assert_eq!(
        shorts(&reqs),
        [
            format!("GET {LEASE}"),
            format!("POST {LEASES}"),
            format!("GET {SCALE_FRAUD}"),
            format!("PATCH {SCALE_FRAUD}"),
        ]
    );
    // the Lease acquire: created with us as the holder, the times and duration
    let create = &reqs[1];
    assert_eq!(create.content_type.as_deref(), Some("application/json"));
    let body = create.body.clone().expect("a body");
    assert_eq!(body["kind"], "Lease");
    assert_eq!(body["metadata"]["name"], "pitcrew-executor");
    assert_eq!(
        body["spec"],
        json!({
            "holderIdentity": ME,
            "leaseDurationSeconds": 30,
            "acquireTime": micro(t0()),
            "renewTime": micro(t0()),
            "leaseTransitions": 0,
        })
    );
    // the scale patch: merge patch of spec.replicas, nothing else
    let patch = &reqs[3];
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.body, Some(json!({"spec": {"replicas": 14}})));
    assert!(!patch.dry_run());
    assert_eq!(replicas(&f, "fraud"), 14);
    assert!(a.lease_status().borrow()["ml"].is_held());
}

#[tokio::test]
async fn restart_sets_the_kubectl_restarted_at_annotation() {
    let f = Fake::start().await;
    f.set_time(at(125));
    let a = f.actuator(false);
    let reply = a
        .act("ml/fraud", &Action::Restart)
        .await
        .expect("restarted");
    assert!(
        reply.starts_with("restarted deployment ml/fraud"),
        "{reply}"
    );
    let reqs = f.action_requests();
    assert_eq!(shorts(&reqs), [format!("PATCH {DEPLOY_FRAUD}")]);
    assert_eq!(
        reqs[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        reqs[0].body,
        Some(json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-12-01T08:02:05Z"
        }}}}}))
    );
    let t = template_of(&f, "fraud");
    let ann = t
        .metadata
        .expect("metadata")
        .annotations
        .expect("annotations");
    assert_eq!(
        ann["kubectl.kubernetes.io/restartedAt"],
        "2026-12-01T08:02:05Z"
    );
    assert_eq!(
        ann["pitcrew.dev/model-version"], "3",
        "the rest of the template stays"
    );
}

#[tokio::test]
async fn rollback_patches_the_previous_revisions_template_without_the_hash_label() {
    let f = Fake::start().await;
    let before = f.deployment("fraud");
    let rv = before
        .metadata
        .resource_version
        .clone()
        .expect("a resourceVersion");
    let a = f.actuator(false);
    let reply = a
        .act("ml/fraud", &Action::Rollback)
        .await
        .expect("rolled back");
    assert_eq!(
        reply,
        "rolled back deployment ml/fraud from revision 4 to revision 2 (model version 2)"
    );
    let reqs = f.action_requests();
    assert_eq!(
        shorts(&reqs),
        [
            format!("GET {DEPLOY_FRAUD}"),
            "GET /apis/apps/v1/namespaces/ml/replicasets".to_string(),
            format!("PATCH {DEPLOY_FRAUD}"),
        ]
    );
    assert_eq!(
        reqs[1].query.get("labelSelector").map(String::as_str),
        Some("app=fraud")
    );
    let patch = &reqs[2];
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let body = patch.body.clone().expect("a body");
    assert_eq!(
        body["metadata"],
        json!({"resourceVersion": rv}),
        "guarded by what was read"
    );
    // exactly the difference between revision 4 and revision 2
    assert_eq!(
        body["spec"],
        json!({"template": {
            "metadata": {"annotations": {"pitcrew.dev/model-version": "2"}},
            "spec": {"containers": [{
                "name": "server",
                "image": "fraud:2",
                "env": [{"name": "MODEL_VERSION", "value": "2"}],
            }]},
        }})
    );
    // the Deployment now has revision 2's template (not the stray revision 3), no hash label
    let want = template("fraud", "fraud:2", 2, None);
    assert_eq!(template_of(&f, "fraud"), want);
}

#[tokio::test]
async fn rollback_without_a_previous_revision_says_so_and_changes_nothing() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    let err = a
        .act("ml/solo", &Action::Rollback)
        .await
        .expect_err("nothing to roll back to");
    let msg = err.to_string();
    assert!(
        msg.contains("deployment ml/solo has no revision before 1")
            && msg.contains("revisions of its ReplicaSets: 1"),
        "{msg}"
    );
    assert!(f.action_requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn canary_splits_replicas_then_promotes() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    let canary = |share| Action::Canary { version: 4, share };

    // 10 % of 10 replicas: the canary's template gets v4, one canary pod, nine stable
    let reply = a.act("ml/fraud", &canary(0.1)).await.expect("canary 10 %");
    assert!(
        reply.starts_with(
            "canary v4 at 10 %: ml/fraud 10 → 9 replicas, ml/fraud-canary 0 → 1 replicas"
        ),
        "{reply}"
    );
    let reqs = f.action_requests();
    assert_eq!(
        shorts(&reqs),
        [
            format!("GET {SCALE_FRAUD}"),
            format!("GET {SCALE_CANARY}"),
            format!("GET {DEPLOY_CANARY}"),
            format!("PATCH {DEPLOY_CANARY}"),
            format!("PATCH {SCALE_CANARY}"),
            format!("PATCH {SCALE_FRAUD}"),
        ],
        "the canary grows before the stable shrinks"
    );
    let version_patch = reqs[3].body.clone().expect("a body");
    assert_eq!(
        version_patch["spec"]["template"]["metadata"],
        json!({"annotations": {"pitcrew.dev/model-version": "4"}})
    );
    assert_eq!(
        version_patch["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "MODEL_VERSION", "value": "4"}])
    );
    assert_eq!(reqs[4].body, Some(json!({"spec": {"replicas": 1}})));
    assert_eq!(reqs[5].body, Some(json!({"spec": {"replicas": 9}})));
    assert_eq!(
        (replicas(&f, "fraud"), replicas(&f, "fraud-canary")),
        (9, 1)
    );
    let ct = template_of(&f, "fraud-canary");
    assert_eq!(
        ct.spec.as_ref().expect("spec").containers[0]
            .image
            .as_deref(),
        Some("fraud:3"),
        "images never change"
    );

    // 50 %: 5 and 5; the template already carries v4
    f.clear_requests();
    a.act("ml/fraud", &canary(0.5)).await.expect("canary 50 %");
    let reqs = f.action_requests();
    assert_eq!(
        shorts(&reqs),
        [
            format!("GET {SCALE_FRAUD}"),
            format!("GET {SCALE_CANARY}"),
            format!("GET {DEPLOY_CANARY}"),
            format!("PATCH {SCALE_CANARY}"),
            format!("PATCH {SCALE_FRAUD}"),
        ]
    );
    assert_eq!(reqs[3].body, Some(json!({"spec": {"replicas": 5}})));
    assert_eq!(reqs[4].body, Some(json!({"spec": {"replicas": 5}})));

    // 100 %: promotion — the stable's template gets v4 and all 10 replicas, the canary 0
    f.clear_requests();
    let reply = a.act("ml/fraud", &canary(1.0)).await.expect("promoted");
    assert!(
        reply.starts_with("promote v4: ml/fraud 5 → 10 replicas, ml/fraud-canary 5 → 0 replicas"),
        "{reply}"
    );
    let reqs = f.action_requests();
    assert_eq!(
        shorts(&reqs),
        [
            format!("GET {SCALE_FRAUD}"),
            format!("GET {SCALE_CANARY}"),
            format!("GET {DEPLOY_FRAUD}"),
            format!("PATCH {DEPLOY_FRAUD}"),
            format!("PATCH {SCALE_FRAUD}"),
            format!("PATCH {SCALE_CANARY}"),
        ]
    );
    assert_eq!(reqs[4].body, Some(json!({"spec": {"replicas": 10}})));
    assert_eq!(reqs[5].body, Some(json!({"spec": {"replicas": 0}})));
    let st = template_of(&f, "fraud");
    assert_eq!(
        st.metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .expect("annotations")["pitcrew.dev/model-version"],
        "4"
    );
    let c = &st.spec.as_ref().expect("spec").containers[0];
    assert_eq!(c.env.as_ref().expect("env")[0].value.as_deref(), Some("4"));
    assert_eq!(c.image.as_deref(), Some("fraud:3"));
    assert_eq!(
        (replicas(&f, "fraud"), replicas(&f, "fraud-canary")),
        (10, 0)
    );
}

#[tokio::test]
async fn canary_share_zero_moves_all_replicas_back_to_the_stable() {
    let f = Fake::start().await;
    f.store(
        "apps/deployments",
        "fraud",
        &deployment("fraud", 3, "4", "fraud:3", 3),
    );
    f.store(
        "apps/deployments",
        "fraud-canary",
        &deployment("fraud-canary", 2, "1", "fraud:3", 4),
    );
    let a = f.actuator(false);
    a.act(
        "ml/fraud",
        &Action::Canary {
            version: 4,
            share: 0.0,
        },
    )
    .await
    .expect("traffic off the canary");
    let reqs = f.action_requests();
    assert_eq!(
        shorts(&reqs),
        [
            format!("GET {SCALE_FRAUD}"),
            format!("GET {SCALE_CANARY}"),
            format!("PATCH {SCALE_FRAUD}"),
            format!("PATCH {SCALE_CANARY}"),
        ],
        "the stable grows first; no template is touched"
    );
    assert_eq!(reqs[2].body, Some(json!({"spec": {"replicas": 5}})));
    assert_eq!(reqs[3].body, Some(json!({"spec": {"replicas": 0}})));
    assert_eq!(version_annotation(&f, "fraud"), "3");
}

fn version_annotation(f: &Fake, name: &str) -> String {
    template_of(f, name)
        .metadata
        .and_then(|m| m.annotations)
        .and_then(|a| a.get("pitcrew.dev/model-version").cloned())
        .expect("a version annotation")
}

#[tokio::test]
async fn retrain_creates_a_job_from_the_cronjob() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    let reply = a
        .act("ml/fraud", &Action::Retrain)
        .await
        .expect("job created");
    let job_name = format!("fraud-retrain-manual-{}", t0().as_second());
    assert_eq!(
        reply,
        format!("created job ml/{job_name} from cronjob ml/fraud-retrain")
    );
    let reqs = f.action_requests();
    assert_eq!(
        shorts(&reqs),
        [
            "GET /apis/batch/v1/namespaces/ml/cronjobs/fraud-retrain".to_string(),
            "POST /apis/batch/v1/namespaces/ml/jobs".to_string(),
        ]
    );
    let body = reqs[1].body.clone().expect("a body");
    assert_eq!(body["apiVersion"], "batch/v1");
    assert_eq!(body["kind"], "Job");
    assert_eq!(body["metadata"]["name"], job_name);
    assert_eq!(
        body["metadata"]["annotations"],
        json!({"cronjob.kubernetes.io/instantiate": "manual", "team": "risk"})
    );
    assert_eq!(body["metadata"]["labels"], json!({"app": "fraud-retrain"}));
    assert_eq!(
        body["metadata"]["ownerReferences"],
        json!([{
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "fraud-retrain",
            "uid": "uid-fraud-retrain",
            "controller": true,
            "blockOwnerDeletion": true,
        }])
    );
    let cron = f
        .get("batch/cronjobs", "fraud-retrain")
        .expect("the cronjob");
    assert_eq!(body["spec"], cron["spec"]["jobTemplate"]["spec"]);
    assert!(f.get("batch/jobs", &job_name).is_some(), "stored");
}

#[tokio::test]
async fn retrain_without_the_cronjob_names_it_and_the_template() {
    let f = Fake::start().await;
    f.store(
        "apps/deployments",
        "ghost",
        &deployment("ghost", 1, "1", "g:1", 1),
    );
    let a = f.actuator(false);
    let msg = a
        .act("ml/ghost", &Action::Retrain)
        .await
        .expect_err("no cronjob")
        .to_string();
    assert!(
        msg.contains("cronjob ml/ghost-retrain not found")
            && msg.contains("kubernetes.retrain_template = \"{name}-retrain\""),
        "{msg}"
    );
    assert!(f.action_requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn dry_run_sends_every_write_with_dry_run_all_and_stores_nothing() {
    let f = Fake::start().await;
    let before = f.w().objects.clone();
    let a = f.actuator(true);
    for action in [
        Action::Scale { replicas: 12 },
        Action::Restart,
        Action::Rollback,
        Action::Canary {
            version: 4,
            share: 0.1,
        },
        Action::Canary {
            version: 4,
            share: 1.0,
        },
        Action::Retrain,
    ] {
        let reply = a.act("ml/fraud", &action).await.expect("dry run");
        assert!(reply.starts_with("server-side dry run: would "), "{reply}");
    }
    let reqs = f.requests();
    let writes: Vec<&Req> = reqs.iter().filter(|r| r.method != "GET").collect();
    // 6 Lease creates, scale, restart, rollback, canary (version + 2 scales), promotion (the
    // stable's version; nothing was stored, so the replicas are already 10 and 0), job
    assert_eq!(
        writes.len(),
        6 + 1 + 1 + 1 + 3 + 1 + 1,
        "{:#?}",
        shorts(&reqs)
    );
    for w in &writes {
        assert!(w.dry_run(), "{} without dryRun=All", w.short());
    }
    assert_eq!(
        f.w().objects,
        before,
        "a server-side dry run stores nothing"
    );
    assert!(a.lease_status().borrow()["ml"].is_held());
}

// ----------------------------------------------------------------------------------------------
// Errors
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_conflict_is_read_again_and_retried() {
    let f = Fake::start().await;
    f.fault("PATCH", SCALE_FRAUD, 409, 1);
    let a = f.actuator(false);
    a.act("ml/fraud", &Action::Scale { replicas: 7 })
        .await
        .expect("scaled on the second attempt");
    assert_eq!(
        shorts(&f.action_requests()),
        [
            format!("GET {SCALE_FRAUD}"),
            format!("PATCH {SCALE_FRAUD}"),
            format!("GET {SCALE_FRAUD}"),
            format!("PATCH {SCALE_FRAUD}"),
        ]
    );
    assert_eq!(replicas(&f, "fraud"), 7);
}

#[tokio::test]
async fn a_template_change_is_recomputed_from_the_new_version_after_a_conflict() {
    let f = Fake::start().await;
    // someone else changes the Deployment (a new annotation) just before our patch lands
    let mut changed =
        serde_json::to_value(deployment("fraud", 10, "4", "fraud:3", 3)).expect("json");
    changed["spec"]["template"]["metadata"]["annotations"]["owner"] = json!("team-risk");
    f.w().faults.push(Fault {
        method: "PATCH",
        path: DEPLOY_FRAUD.to_string(),
        code: 409,
        times: 1,
        then_store: Some((
            ("apps/deployments".into(), NS.into(), "fraud".into()),
            changed,
        )),
    });
    let a = f.actuator(false);
    a.act("ml/fraud", &Action::Rollback)
        .await
        .expect("rolled back");
    let reqs = f.action_requests();
    let patches: Vec<&Req> = reqs.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 2, "{:#?}", shorts(&reqs));
    assert_eq!(
        reqs.iter()
            .filter(|r| r.short() == format!("GET {DEPLOY_FRAUD}"))
            .count(),
        2
    );
    let rv_now = f.deployment("fraud").metadata.resource_version.expect("rv");
    let second = patches[1].body.clone().expect("a body");
    assert_ne!(
        patches[0].body.clone().expect("a body")["metadata"],
        second["metadata"]
    );
    // the other writer's annotation is not in revision 2: the patch removes it
    assert_eq!(
        second["spec"]["template"]["metadata"]["annotations"]["owner"],
        Value::Null
    );
    assert!(
        second["spec"]["template"]["metadata"]["annotations"]
            .as_object()
            .expect("annotations")
            .contains_key("owner")
    );
    assert_eq!(
        template_of(&f, "fraud"),
        template("fraud", "fraud:2", 2, None)
    );
    assert_ne!(rv_now, "");
}

#[tokio::test]
async fn conflicts_are_retried_a_bounded_number_of_times() {
    let f = Fake::start().await;
    f.fault("PATCH", SCALE_FRAUD, 409, 100);
    let a = f.actuator(false);
    let msg = a
        .act("ml/fraud", &Action::Scale { replicas: 7 })
        .await
        .expect_err("gives up")
        .to_string();
    assert!(
        msg.contains("patch deployments/scale ml/fraud: 409 Conflict on each of 3 attempts"),
        "{msg}"
    );
    let patches = f
        .action_requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 3);
    assert_eq!(replicas(&f, "fraud"), 10);
}

#[tokio::test]
async fn forbidden_names_the_missing_verb_resource_and_namespace() {
    let f = Fake::start().await;
    f.forbid("patch", "deployments/scale");
    let a = f.actuator(false);
    let msg = a
        .act("ml/fraud", &Action::Scale { replicas: 7 })
        .await
        .expect_err("forbidden")
        .to_string();
    for want in [
        "403 Forbidden",
        "may not 'patch' the resource 'deployments/scale' of API group 'apps' in namespace ml",
        "`pitcrew rbac --namespace ml` prints the Role",
        "cannot patch resource \"deployments/scale\"",
    ] {
        assert!(msg.contains(want), "'{want}' missing in: {msg}");
    }
    assert_eq!(replicas(&f, "fraud"), 10);
}

#[tokio::test]
async fn a_missing_deployment_names_the_template_and_what_exists() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    let msg = a
        .act("ml/frud", &Action::Scale { replicas: 2 })
        .await
        .expect_err("not found")
        .to_string();
    assert!(
        msg.contains("deployment ml/frud not found: model ml/frud maps to it through kubernetes.deployment_template = \"{name}\""),
        "{msg}"
    );
    assert!(
        msg.contains("Deployments in ml: fraud, fraud-canary, solo"),
        "{msg}"
    );
    // the canary's Deployment: named with its own template
    let msg = a
        .act(
            "ml/solo",
            &Action::Canary {
                version: 2,
                share: 0.5,
            },
        )
        .await
        .expect_err("no canary deployment")
        .to_string();
    assert!(
        msg.contains("deployment ml/solo-canary not found")
            && msg.contains("kubernetes.canary_template = \"{name}-canary\""),
        "{msg}"
    );
}

// ----------------------------------------------------------------------------------------------
// The Lease
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_lease_is_renewed_with_its_resource_version() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    a.act("ml/fraud", &Action::Restart)
        .await
        .expect("first action");
    let rv = f
        .lease()
        .expect("created")
        .metadata
        .resource_version
        .expect("rv");
    f.clear_requests();
    f.set_time(at(12));
    a.act("ml/fraud", &Action::Restart)
        .await
        .expect("second action");
    let reqs = f.requests();
    assert_eq!(
        shorts(&reqs[..2]),
        [format!("GET {LEASE}"), format!("PUT {LEASE}")]
    );
    let body = reqs[1].body.clone().expect("a body");
    assert_eq!(reqs[1].content_type.as_deref(), Some("application/json"));
    assert_eq!(body["metadata"]["resourceVersion"], json!(rv));
    assert_eq!(
        body["spec"],
        json!({
            "holderIdentity": ME,
            "leaseDurationSeconds": 30,
            "acquireTime": micro(t0()),
            "renewTime": micro(at(12)),
            "leaseTransitions": 0,
        })
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let f = Fake::start().await;
    f.put_lease(Some(BOB), at(-31), 2);
    let a = f.actuator(false);
    a.act("ml/fraud", &Action::Scale { replicas: 11 })
        .await
        .expect("took over and acted");
    let reqs = f.requests();
    assert_eq!(
        shorts(&reqs[..2]),
        [format!("GET {LEASE}"), format!("PUT {LEASE}")]
    );
    let spec = reqs[1].body.clone().expect("a body")["spec"].clone();
    assert_eq!(
        spec,
        json!({
            "holderIdentity": ME,
            "leaseDurationSeconds": 30,
            "acquireTime": micro(t0()),
            "renewTime": micro(t0()),
            "leaseTransitions": 3,
        })
    );
    assert_eq!(replicas(&f, "fraud"), 11);
    let s = a.lease_status().borrow()["ml"].clone();
    assert!(
        matches!(&s, LeaseStatus::Held { how: pitcrew::actuators::lease::Acquired::TookOver { from: Some(b) }, transitions: 3, .. } if b == BOB),
        "{s:?}"
    );
}

#[tokio::test]
async fn a_fresh_lease_of_another_pitcrew_is_respected() {
    let f = Fake::start().await;
    f.put_lease(Some(BOB), at(-29), 2);
    let a = f.actuator(false);
    let msg = a
        .act("ml/fraud", &Action::Scale { replicas: 11 })
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        msg.starts_with(&format!("not executed: namespace ml is run by {BOB}")),
        "{msg}"
    );
    assert!(msg.contains("valid until 2026-12-01T08:00:01Z"), "{msg}");
    assert_eq!(
        shorts(&f.requests()),
        [format!("GET {LEASE}")],
        "nothing else is sent"
    );
    assert_eq!(replicas(&f, "fraud"), 10);
    let status = a.lease_status().borrow()["ml"].clone();
    assert_eq!(status.short(), format!("executor: {BOB}"));
    // once it expires, it is ours
    f.set_time(at(1));
    a.act("ml/fraud", &Action::Scale { replicas: 11 })
        .await
        .expect("taken over");
    assert_eq!(replicas(&f, "fraud"), 11);
}

#[tokio::test]
async fn losing_a_lease_race_reports_the_winner() {
    let f = Fake::start().await;
    f.put_lease(Some(BOB), at(-60), 2);
    // carol takes the expired Lease over just before our update lands
    let carol =
        serde_json::to_value(lease_obj(Some("carol@ops/3 (console)"), t0(), 3)).expect("json");
    f.w().faults.push(Fault {
        method: "PUT",
        path: LEASE.to_string(),
        code: 409,
        times: 1,
        then_store: Some((
            (
                "coordination.k8s.io/leases".into(),
                NS.into(),
                "pitcrew-executor".into(),
            ),
            carol,
        )),
    });
    let a = f.actuator(false);
    let msg = a
        .act("ml/fraud", &Action::Restart)
        .await
        .expect_err("carol won")
        .to_string();
    assert!(msg.contains("is run by carol@ops/3 (console)"), "{msg}");
    assert_eq!(
        shorts(&f.requests()),
        [
            format!("GET {LEASE}"),
            format!("PUT {LEASE}"),
            format!("GET {LEASE}")
        ]
    );
}

#[tokio::test]
async fn a_released_lease_can_be_taken_at_once() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    a.check_lease("ml").await;
    f.clear_requests();
    a.release_leases(&["ml".to_string()]).await;
    let reqs = f.requests();
    assert_eq!(
        shorts(&reqs),
        [format!("GET {LEASE}"), format!("PUT {LEASE}")]
    );
    let spec = reqs[1].body.clone().expect("a body")["spec"].clone();
    assert!(
        spec.get("holderIdentity").is_none(),
        "holder cleared: {spec}"
    );
    assert!(
        f.lease()
            .expect("kept")
            .spec
            .expect("spec")
            .holder_identity
            .is_none()
    );
    assert_eq!(a.lease_status().borrow()["ml"], LeaseStatus::Released);
    // bob (an agent) takes it without waiting for the duration
    let b = f.actuator_as(BOB, false);
    f.set_time(at(1));
    b.act("ml/fraud", &Action::Scale { replicas: 4 })
        .await
        .expect("bob acts");
    let l = f.lease().expect("lease").spec.expect("spec");
    assert_eq!(l.holder_identity.as_deref(), Some(BOB));
    assert_eq!(l.lease_transitions, Some(1));
    // and alice is now refused
    assert!(a.act("ml/fraud", &Action::Restart).await.is_err());
}

#[tokio::test]
async fn keep_leases_holds_until_cancelled_then_gives_up() {
    let f = Fake::start().await;
    let a = Arc::new(f.actuator(false));
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut rx = a.lease_status();
    let task = {
        let a = a.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { a.keep_leases(&["ml".to_string()], cancel).await })
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        rx.wait_for(|m| m.get("ml").is_some_and(LeaseStatus::is_held)),
    )
    .await
    .expect("held within 10 s")
    .expect("status channel open");
    assert_eq!(
        f.lease()
            .expect("lease")
            .spec
            .expect("spec")
            .holder_identity
            .as_deref(),
        Some(ME)
    );
    cancel.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("stops within 10 s")
        .expect("no panic");
    assert!(
        f.lease()
            .expect("lease")
            .spec
            .expect("spec")
            .holder_identity
            .is_none()
    );
    assert_eq!(a.lease_status().borrow()["ml"], LeaseStatus::Released);
}

// ----------------------------------------------------------------------------------------------
// RBAC: every request the actuator makes is covered by the printed Role, and the Role grants
// nothing that no request uses.
// ----------------------------------------------------------------------------------------------

/// (group, resource, verb) granted by the Role in `yaml` (the first document).
fn role_grants(yaml: &str) -> BTreeSet<(String, String, String)> {
    let role = yaml.split("\n---\n").next().expect("a Role document");
    assert!(role.contains("\nkind: Role\n"), "{role}");
    let list = |line: &str| -> Vec<String> {
        let (_, v) = line.split_once(':').expect("key: value");
        serde_json::from_str(v.trim()).expect("a flow list of strings")
    };
    let mut out = BTreeSet::new();
    let (mut groups, mut resources) = (Vec::new(), Vec::new());
    for line in role.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("- apiGroups:") {
            groups = list(&format!("x:{rest}"));
        } else if line.starts_with("resources:") {
            resources = list(line);
        } else if line.starts_with("verbs:") {
            for g in &groups {
                for r in &resources {
                    for v in list(line) {
                        out.insert((g.clone(), r.clone(), v));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_printed_role_covers_every_request_and_no_more() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    let b = f.actuator_as(BOB, false);
    // every action, a Lease create, renew, refusal, release and takeover, a 404 (lists)
    for action in [
        Action::Scale { replicas: 12 },
        Action::Restart,
        Action::Rollback,
        Action::Canary {
            version: 4,
            share: 0.2,
        },
        Action::Canary {
            version: 4,
            share: 1.0,
        },
        Action::Retrain,
    ] {
        a.act("ml/fraud", &action).await.expect("acts");
    }
    assert!(b.act("ml/fraud", &Action::Restart).await.is_err());
    a.release_leases(&["ml".to_string()]).await;
    b.act(
        "ml/fraud",
        &Action::Canary {
            version: 4,
            share: 0.0,
        },
    )
    .await
    .expect("bob acts");
    assert!(
        a.act("ml/ghost", &Action::Scale { replicas: 1 })
            .await
            .is_err()
    );
    b.act("ml/ghost", &Action::Scale { replicas: 1 })
        .await
        .expect_err("404 lists deployments");

    let grants = role_grants(&rbac_role(NS));
    assert_eq!(
        grants.len(),
        RBAC_RULES.iter().map(|r| r.verbs.len()).sum::<usize>(),
        "the YAML has every rule of RBAC_RULES"
    );
    let mut used = BTreeSet::new();
    for r in f.requests() {
        let t = parse_path(&r.path).expect("a resource path");
        assert_eq!(t.ns, NS, "{}: the Role is namespaced", r.short());
        let (verb, group, resource) = r.rbac();
        let k = (group, resource, verb);
        assert!(
            grants.contains(&k),
            "{} needs {k:?}, which the Role does not grant",
            r.short()
        );
        used.insert(k);
    }
    let unused: Vec<_> = grants.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the Role grants {unused:?}, which no request needs"
    );
}

#[tokio::test]
async fn an_unreachable_api_server_is_named_with_the_request() {
    // a loopback port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("an address").port()
    };
    let client = kube::Client::try_from(kube::Config::new(
        format!("http://127.0.0.1:{port}").parse().expect("a URL"),
    ))
    .expect("a client");
    let a = KubeActuator::with_client(client, &kube_cfg(), false);
    let msg = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        a.act("ml/fraud", &Action::Restart),
    )
    .await
    .expect("fails within 20 s")
    .expect_err("no server")
    .to_string();
    assert!(
        msg.starts_with("get leases ml/pitcrew-executor failed: ")
            && msg.contains("is the API server reachable"),
        "{msg}"
    );
    assert!(!a.lease_status().borrow()["ml"].is_held());
}

#[tokio::test]
async fn the_client_really_talks_to_the_fake_server() {
    // guards the fixture itself: a typed read through kube sees what the fake stores
    let f = Fake::start().await;
    let api: kube::Api<Deployment> = kube::Api::namespaced(f.client.clone(), NS);
    let d = api.get("fraud").await.expect("a Deployment");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(10));
    let list = api.list(&Default::default()).await.expect("a list");
    assert_eq!(list.items.len(), 3);
    let err = api.get("nope").await.expect_err("404");
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(s.message, "deployments.apps \"nope\" not found");
        }
        other => panic!("not an API error: {other}"),
    }
}
