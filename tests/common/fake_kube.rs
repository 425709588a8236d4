//! A fake Kubernetes API server (axum on 127.0.0.1:0), shared by the actuator, Lease and
//! image-scan tests. It speaks the real Kubernetes JSON: objects are k8s-openapi
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
use pitcrew::actuators::kube::KubeActuator;
use pitcrew::config::KubeConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

// ----------------------------------------------------------------------------------------------
// The fake API server
// ----------------------------------------------------------------------------------------------

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

impl Req {
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").map(String::as_str) == Some("All")
    }

    /// (verb, API group, resource with subresource), as RBAC sees the request.
    pub fn rbac(&self) -> (String, String, String) {
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

    pub fn short(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A canned answer for the next matching requests.
pub struct Fault {
    pub method: &'static str,
    pub path: String,
    pub code: u16,
    pub times: usize,
    /// Stored (as a concurrent writer would) before answering.
    pub then_store: Option<(Key, Value)>,
}

/// (group/resource, namespace, name)
pub type Key = (String, String, String);

#[derive(Default)]
pub struct World {
    pub objects: BTreeMap<Key, Value>,
    pub rv: u64,
    pub requests: Vec<Req>,
    pub faults: Vec<Fault>,
    /// (verb, resource with subresource) refused with 403.
    pub forbidden: Vec<(String, String)>,
}

pub struct Target {
    pub group: String,
    pub version: String,
    pub ns: String,
    pub resource: String,
    pub name: Option<String>,
    pub sub: Option<String>,
}

pub fn parse_path(path: &str) -> Option<Target> {
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

pub fn kind_of(resource: &str) -> &'static str {
    match resource {
        "deployments" => "Deployment",
        "replicasets" => "ReplicaSet",
        "leases" => "Lease",
        "cronjobs" => "CronJob",
        "jobs" => "Job",
        "vulnerabilityreports" => "VulnerabilityReport",
        _ => "Unknown",
    }
}

pub fn status(code: u16, reason: &str, message: String, t: &Target) -> Response {
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

pub fn ok(code: StatusCode, v: &Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

/// RFC 7386.
pub fn merge(target: &mut Value, patch: &Value) {
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

pub fn qualified(t: &Target) -> String {
    if t.group.is_empty() {
        t.resource.clone()
    } else {
        format!("{}.{}", t.resource, t.group)
    }
}

pub fn key_of(t: &Target, name: &str) -> Key {
    (
        format!("{}/{}", t.group, t.resource),
        t.ns.clone(),
        name.to_string(),
    )
}

pub fn rv_of(v: &Value) -> Option<String> {
    v["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string)
}

pub fn conflict(t: &Target, name: &str) -> Response {
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
    pub fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    pub fn put(&mut self, key: Key, mut v: Value) {
        let rv = self.next_rv();
        v["metadata"]["resourceVersion"] = json!(rv);
        self.objects.insert(key, v);
    }

    pub fn scale_of(&self, d: &Value) -> Value {
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

    pub fn handle(
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

pub fn not_found(t: &Target, name: &str) -> Response {
    status(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", qualified(t)),
        t,
    )
}

pub type Shared = Arc<Mutex<World>>;

pub async fn handler(
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

pub struct Fake {
    pub world: Shared,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub client: kube::Client,
    pub clock: Arc<Mutex<Timestamp>>,
}

pub const NS: &str = "ml";
pub const ME: &str = "alice@laptop/100 (console)";
pub const BOB: &str = "bob@build/7 (agent)";

pub fn t0() -> Timestamp {
    "2026-12-01T08:00:00Z".parse().expect("a timestamp")
}

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(t0().as_second() + secs).expect("a timestamp")
}

pub fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn kube_cfg() -> KubeConfig {
    KubeConfig {
        context: None,
        namespace: NS.to_string(),
        deployment_template: "{name}".to_string(),
        canary_template: "{name}-canary".to_string(),
        retrain_template: "{name}-retrain".to_string(),
        build_template: "{name}-build".to_string(),
        lease_name: "pitcrew-executor".to_string(),
        lease_seconds: 30,
    }
}

impl Fake {
    pub async fn start() -> Fake {
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
            url: format!("http://{addr}"),
            world,
            client,
            clock: Arc::new(Mutex::new(t0())),
        };
        fake.seed();
        fake
    }

    pub fn actuator(&self, dry_run: bool) -> KubeActuator {
        self.actuator_as(ME, dry_run)
    }

    pub fn actuator_as(&self, id: &str, dry_run: bool) -> KubeActuator {
        let clock = self.clock.clone();
        KubeActuator::with_client(self.client.clone(), &kube_cfg(), dry_run)
            .with_identity(id.to_string())
            .with_clock(Arc::new(move || *clock.lock().expect("the clock")))
    }

    pub fn set_time(&self, t: Timestamp) {
        *self.clock.lock().expect("the clock") = t;
    }

    pub fn w(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("the world lock")
    }

    pub fn store<T: serde::Serialize>(&self, group_resource: &str, name: &str, obj: &T) {
        let v = serde_json::to_value(obj).expect("serialises");
        self.w().put(
            (group_resource.to_string(), NS.to_string(), name.to_string()),
            v,
        );
    }

    pub fn get(&self, group_resource: &str, name: &str) -> Option<Value> {
        self.w()
            .objects
            .get(&(group_resource.to_string(), NS.to_string(), name.to_string()))
            .cloned()
    }

    pub fn deployment(&self, name: &str) -> Deployment {
        serde_json::from_value(self.get("apps/deployments", name).expect("stored"))
            .expect("a Deployment")
    }

    pub fn lease(&self) -> Option<Lease> {
        self.get("coordination.k8s.io/leases", "pitcrew-executor")
            .map(|v| serde_json::from_value(v).expect("a Lease"))
    }

    pub fn requests(&self) -> Vec<Req> {
        self.w().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.w().requests.clear();
    }

    /// Requests other than the Lease's.
    pub fn action_requests(&self) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| !r.path.contains("/leases"))
            .collect()
    }

    pub fn fault(&self, method: &'static str, path: &str, code: u16, times: usize) {
        self.w().faults.push(Fault {
            method,
            path: path.to_string(),
            code,
            times,
            then_store: None,
        });
    }

    pub fn forbid(&self, verb: &str, resource: &str) {
        self.w()
            .forbidden
            .push((verb.to_string(), resource.to_string()));
    }

    pub fn put_lease(&self, holder: Option<&str>, renewed: Timestamp, transitions: i32) {
        self.store(
            "coordination.k8s.io/leases",
            "pitcrew-executor",
            &lease_obj(holder, renewed, transitions),
        );
    }

    /// The model ml/fraud: Deployment fraud (revision 4, v3), its ReplicaSets (revisions 1, 2,
    /// 4), a stray ReplicaSet with the same labels at revision 3 owned by another Deployment,
    /// the canary Deployment fraud-canary, the CronJobs fraud-retrain and fraud-build; ml/solo with a single
    /// revision.
    pub fn seed(&self) {
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
        self.store("batch/cronjobs", "fraud-build", &cron_job("fraud-build"));
    }
}

pub fn template(app: &str, image: &str, version: u32, hash: Option<&str>) -> PodTemplateSpec {
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

pub fn deployment(
    name: &str,
    replicas: i32,
    revision: &str,
    image: &str,
    version: u32,
) -> Deployment {
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

pub fn replica_set(
    name: &str,
    owner: &str,
    revision: &str,
    image: &str,
    version: u32,
) -> ReplicaSet {
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

pub fn cron_job(name: &str) -> CronJob {
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

pub fn lease_obj(holder: Option<&str>, renewed: Timestamp, transitions: i32) -> Lease {
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

pub const SCALE_FRAUD: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud/scale";
pub const SCALE_CANARY: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud-canary/scale";
pub const DEPLOY_FRAUD: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud";
pub const DEPLOY_CANARY: &str = "/apis/apps/v1/namespaces/ml/deployments/fraud-canary";
pub const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ml/leases";
pub const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ml/leases/pitcrew-executor";

pub fn shorts(reqs: &[Req]) -> Vec<String> {
    reqs.iter().map(Req::short).collect()
}

pub fn replicas(f: &Fake, name: &str) -> i32 {
    f.deployment(name)
        .spec
        .and_then(|s| s.replicas)
        .expect("replicas")
}

pub fn template_of(f: &Fake, name: &str) -> PodTemplateSpec {
    f.deployment(name).spec.expect("a spec").template
}
