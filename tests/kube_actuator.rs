//! The Kubernetes actuator and the Lease against an in-process fake API server
//! (`common::fake_kube`), which records every request so the tests assert the exact requests.

mod common;

use common::fake_kube::*;
use k8s_openapi::api::apps::v1::Deployment;
use pitcrew::actuators::kube::{KubeActuator, RBAC_RULES, rbac_role};
use pitcrew::actuators::lease::LeaseStatus;
use pitcrew::domain::Action;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

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

/// A patch of fraud's requirements (two bumps) and of its serving image (one package).
fn patch() -> Action {
    let bump = |package: &str, from: &str, to: &str, kind| pitcrew::domain::Bump {
        package: package.into(),
        from: from.into(),
        to: to.into(),
        kind,
        source: pitcrew::domain::Source::Requirements,
    };
    Action::Patch {
        bumps: vec![
            bump(
                "aiohttp",
                "3.9.1",
                "3.9.2",
                pitcrew::domain::BumpKind::Patch,
            ),
            bump(
                "pillow",
                "9.5.0",
                "10.0.1",
                pitcrew::domain::BumpKind::Major,
            ),
            pitcrew::domain::Bump {
                source: pitcrew::domain::Source::Image {
                    container: "server".into(),
                    image: "registry.example/fraud:1".into(),
                },
                ..bump(
                    "libbsd0",
                    "0.9.1-2",
                    "0.9.1-2+deb10u1",
                    pitcrew::domain::BumpKind::Patch,
                )
            },
        ],
        unknown_severity: false,
    }
}

#[tokio::test]
async fn a_patch_creates_a_build_job_from_the_build_cronjob_told_its_pins() {
    let f = Fake::start().await;
    let a = f.actuator(false);
    let reply = a.act("ml/fraud", &patch()).await.expect("job created");
    let job_name = format!("fraud-build-manual-{}", t0().as_second());
    assert_eq!(
        reply,
        format!("created job ml/{job_name} from cronjob ml/fraud-build")
    );
    let reqs = f.action_requests();
    assert_eq!(
        shorts(&reqs),
        [
            "GET /apis/batch/v1/namespaces/ml/cronjobs/fraud-build".to_string(),
            "POST /apis/batch/v1/namespaces/ml/jobs".to_string(),
        ]
    );
    let body = reqs[1].body.clone().expect("a body");
    assert_eq!(body["metadata"]["name"], job_name);
    let pins = "aiohttp==3.9.2 pillow==10.0.1";
    assert_eq!(body["metadata"]["annotations"]["pitcrew.dev/pins"], pins);
    let fixes = "server:libbsd0=0.9.1-2+deb10u1";
    assert_eq!(
        body["metadata"]["annotations"]["pitcrew.dev/image-fixes"],
        fixes
    );
    assert_eq!(
        body["metadata"]["ownerReferences"][0]["name"],
        "fraud-build"
    );
    // the CronJob's job, its one container told the pins and the image's fixes
    let cron = f.get("batch/cronjobs", "fraud-build").expect("the cronjob");
    let mut want = cron["spec"]["jobTemplate"]["spec"].clone();
    want["template"]["spec"]["containers"][0]["env"] = json!([
        {"name": "PITCREW_PINS", "value": pins},
        {"name": "PITCREW_IMAGE_FIXES", "value": fixes}
    ]);
    assert_eq!(body["spec"], want);
    // no build CronJob: said with the setting that names it; nothing written
    let f = Fake::start().await;
    f.store(
        "apps/deployments",
        "ghost",
        &deployment("ghost", 1, "1", "g:1", 1),
    );
    let msg = f
        .actuator(false)
        .act("ml/ghost", &patch())
        .await
        .expect_err("no cronjob")
        .to_string();
    assert!(
        msg.contains(
            "cronjob ml/ghost-build not found: building a patched version of model ml/ghost"
        ) && msg.contains("kubernetes.build_template = \"{name}-build\""),
        "{msg}"
    );
    assert!(f.action_requests().iter().all(|r| r.method == "GET"));
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
        patch(),
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
    // the image scan's reads
    let scanned =
        pitcrew::sources::images::scan(&f.client, &kube_cfg(), &["ml/fraud".into()]).await;
    assert!(scanned.models[0].1.is_ok());

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
