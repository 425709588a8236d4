//! Patches: proposals that answer a model's known vulnerabilities with the bumps that fix them
//! (the playbook whose `when.finding` is `fixable`), taken in the queue's order (deadline,
//! the model's priority, severity) and no more at once than the guardrails allow; and the
//! step from a patch's build to its canary once the build has registered its candidate.

use super::remedy::{Purpose, decider, execute};
use super::vulns::{queue, time_left};
use super::{Effect, Engine, Status};
use crate::domain::{Action, Bump, Severity, Signal};
use crate::policy::autonomy::ActionClass;
use crate::policy::playbook::{FindingCondition, Playbook};
use crate::policy::{RemState, Remediation};

/// Seconds of the engine's time between two looks at the findings for patches to propose.
const PATCH_CHECK_EVERY: f64 = 60.0;
/// Seconds after a patch proposal expired (nobody decided, or an incident came first) before
/// the same bumps are proposed again: the scans' interval.
const PATCH_AGAIN_AFTER: f64 = 3600.0;

impl Engine {
    /// Propose patches for the models whose findings a bump fixes, in the queue's order, while
    /// fewer patches than the guardrails allow are pending or running. A model with an
    /// incident or another remediation going on is left until it is quiet; bumps already
    /// tried (vetoed, failed, undone, succeeded) are not proposed again, an expired proposal
    /// only after a pause.
    pub(super) fn propose_from_findings(&mut self, t: f64) {
        if t - self.last_patch_check < PATCH_CHECK_EVERY
            || self.models.iter().all(|m| m.bumps.is_empty())
        {
            return;
        }
        self.last_patch_check = t;
        let Some(pb) = self
            .cfg
            .playbooks
            .iter()
            .find(|p| p.when.finding == Some(FindingCondition::Fixable))
            .cloned()
        else {
            return;
        };
        let live = self
            .remediations
            .iter()
            .filter(|r| {
                // a would-do (Foundation) rolls nothing out: it does not take a patch's room
                r.class == ActionClass::Patch && !r.state.is_final() && r.state != RemState::WouldDo
            })
            .count();
        let room = (self.cfg.guardrails.max_patches_at_once as usize).saturating_sub(live);
        if room == 0 {
            return;
        }
        let vulns = self.vulns();
        let mut chosen: Vec<usize> = Vec::new();
        for (key, _, _) in queue(&vulns, &self.cfg.deadlines, t) {
            let Some(&i) = self.index.get(key) else {
                continue;
            };
            let idx = i as usize;
            if chosen.contains(&idx) || !self.patchable(idx, t) {
                continue;
            }
            chosen.push(idx);
            if chosen.len() >= room {
                break;
            }
        }
        for idx in chosen {
            let (action, trigger, evidence, left) = self.patch_for(idx, t);
            self.propose(t, None, idx as u32, &pb, action, None, trigger, evidence);
            // a patch is not an emergency: it waits for a decision until its findings' deadline
            if let Some(r) = self.remediations.back_mut()
                && r.state == RemState::Proposed
                && let Some(left) = left
            {
                r.expires = r.expires.max(t + left);
            }
        }
    }

    /// Whether model `idx` may be given a patch proposal now: it has bumps to make, nothing else
    /// going on, the level a patch is judged against measured, and these bumps not tried.
    fn patchable(&self, idx: usize, t: f64) -> bool {
        let m = &self.models[idx];
        let busy = self
            .remediations
            .iter()
            .any(|r| r.model == idx as u32 && !r.state.is_final());
        if m.bumps.is_empty() || m.incident.is_some() || busy {
            return false;
        }
        // what "no regression" is measured against: data from half an hour to an hour ago
        let h = &m.history;
        let measured = [Signal::Accuracy, Signal::LatencyP95, Signal::ErrorRate]
            .into_iter()
            .all(|s| h.mean_between(s, t - 3600.0, t - 1800.0).is_finite());
        if !measured {
            return false;
        }
        // tried: every bump the model needs now was in one patch (a patch of requirements and
        // images is rescanned by each scanner in its own time: half of it is not new)
        !self.remediations.iter().any(|r| {
            r.model == idx as u32
                && m.bumps.iter().all(|b| r.bumps.contains(b))
                && (r.state != RemState::Expired || t - r.updated < PATCH_AGAIN_AFTER)
        })
    }

    /// The patch of model `idx`: its action, trigger and evidence, and the time left before
    /// the soonest deadline of what it fixes.
    fn patch_for(&self, idx: usize, t: f64) -> (Action, String, Vec<String>, Option<f64>) {
        let m = &self.models[idx];
        let fixed: Vec<_> = m
            .vulns
            .iter()
            .filter(|o| m.bumps.iter().any(|b| b.fixes(&o.found)))
            .collect();
        let unknown_severity = fixed.iter().any(|o| o.found.severity == Severity::Unknown);
        let worst = Severity::ORDER
            .into_iter()
            .find(|s| fixed.iter().any(|o| o.found.severity == *s));
        let soonest = fixed
            .iter()
            .filter_map(|o| time_left(o, &self.cfg.deadlines, t))
            .min_by(f64::total_cmp);
        let mut trigger = format!(
            "{} known {} a bump fixes (worst {})",
            fixed.len(),
            if fixed.len() == 1 {
                "vulnerability"
            } else {
                "vulnerabilities"
            },
            worst.map_or("unknown", Severity::name)
        );
        if let Some(left) = soonest {
            if left < 0.0 {
                trigger.push_str(&format!(", {:.0} h past its deadline", -left / 3600.0));
            } else {
                trigger.push_str(&format!(
                    ", {:.0} h left before its deadline",
                    left / 3600.0
                ));
            }
        }
        let mut evidence: Vec<String> = m.bumps.iter().map(describe_bump).collect();
        for o in &fixed {
            let v = &o.found;
            let cve = v
                .cve
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            evidence.push(format!(
                "{}{cve}: {} {} is affected, {} severity{}",
                v.advisory,
                v.package,
                v.installed,
                v.severity,
                v.fixed
                    .as_deref()
                    .map(|f| format!(", fixed in {f}"))
                    .unwrap_or_default()
            ));
        }
        (
            Action::Patch {
                bumps: m.bumps.clone(),
                unknown_severity,
            },
            trigger,
            evidence,
            soonest,
        )
    }

    /// A pending patch whose bumps the model's latest scan no longer asks for (what it would
    /// fix is closed, or another fix is now due) is no longer needed; one on a model with an
    /// open incident gives way to it (proposed again once the model is quiet).
    pub(super) fn patch_still_needed(&self, r: &Remediation) -> Result<(), &'static str> {
        let Action::Patch { bumps, .. } = &r.action else {
            return Ok(());
        };
        match self.models.get(r.model as usize) {
            Some(m) if m.incident.is_some() => {
                Err("an incident on the model comes first; proposed again once it is quiet")
            }
            Some(m) if m.bumps == *bumps => Ok(()),
            _ => Err("no longer needed: the latest scan asks for other bumps or none"),
        }
    }

    /// A patch's build: once the model has a candidate registered since the build started,
    /// its first canary stage runs (traffic back off the candidate is the undo); without one
    /// by the end of the build window, the patch failed. `true` when the remediation was a
    /// build in progress.
    pub(super) fn verify_build(
        &mut self,
        k: usize,
        t: f64,
        pb: &Playbook,
        fx: &mut Vec<Effect>,
    ) -> bool {
        if !matches!(self.remediations[k].action, Action::Patch { .. }) {
            return false;
        }
        let model = self.remediations[k].model as usize;
        let since = self.remediations[k].executed.unwrap_or(t);
        let until = self.remediations[k].verify_until.unwrap_or(t);
        let got = self.candidate_since(model, since);
        let first = pb
            .action
            .gates()
            .and_then(|g| g.stages.first().copied())
            .unwrap_or(1.0);
        if got.is_some() && self.models[model].incident.is_some() && t < until {
            // the candidate waits for the model's incident to close before any traffic
            return true;
        }
        match got {
            Some((version, acc)) => {
                let r = &mut self.remediations[k];
                r.stage += 1;
                r.action = Action::Canary {
                    version,
                    share: first,
                };
                r.undo = Some(if first >= 1.0 {
                    Action::Rollback
                } else {
                    Action::Canary {
                        version,
                        share: 0.0,
                    }
                });
                r.executed = Some(t);
                let who = decider(r);
                fx.push(execute(r, t, r.action.clone(), Purpose::Stage, who));
                let text = format!(
                    "the build registered v{version} (offline accuracy {acc:.3}); canary at {:.0} %",
                    first * 100.0
                );
                self.set_state(k, t, RemState::Executing, text, Status::Ok);
            }
            None if t >= until => {
                let mins = (until - since) / 60.0;
                self.fail_and_undo(
                    k,
                    t,
                    format!("the build registered no candidate within {mins:.0} min"),
                    fx,
                );
            }
            None => {}
        }
        true
    }
}

/// A bump in a few words: `pillow 9.5.0 → 10.3.0 (major)`.
fn describe_bump(b: &Bump) -> String {
    format!("{} ({})", b.describe(), b.kind.name())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testkit::run_until;
    use super::super::{Engine, EngineConfig};
    use crate::domain::{Action, BumpKind};
    use crate::harness::{self, Executed};
    use crate::policy::RemState;
    use crate::policy::autonomy::{ActionClass, Mode, Phase};
    use crate::sim::SimWorld;

    /// `models` simulated models in `phase` (at most `at_once` patches at once), their
    /// findings scanned and given to the engine. Of the first six, ranker-bert (1) runs
    /// fastapi 0.109.0 (high; 0.109.1 fixes it) and bid-shading (4) aiohttp 3.9.1 (high and
    /// medium; 3.9.2); thumbnail-crop (14) pillow 9.5.0 (unknown; 10.0.1, a major bump).
    fn fleet(phase: Phase, models: usize, at_once: u32) -> (SimWorld, Engine) {
        let mut cfg = EngineConfig {
            phase,
            ..EngineConfig::default()
        };
        cfg.guardrails.max_patches_at_once = at_once;
        let (mut w, mut e) = harness::start(7, models, 1.7e9, cfg);
        w.rescan = true;
        for ev in crate::sources::sim::findings(&w) {
            e.apply(ev);
        }
        (w, e)
    }

    fn patches(e: &Engine) -> Vec<&crate::policy::Remediation> {
        e.remediations()
            .filter(|r| r.class == ActionClass::Patch)
            .collect()
    }

    fn open_on(e: &Engine, model: u32) -> usize {
        e.vulns()
            .iter()
            .find(|m| m.model == model)
            .map_or(0, |m| m.open.len())
    }

    #[test]
    fn in_autonomy_a_patch_release_builds_rolls_out_through_the_canary_and_closes_the_finding() {
        let (mut w, mut e) = fleet(Phase::Autonomy, 6, 1);
        assert_eq!(open_on(&e, 1), 1, "ranker-bert's fastapi finding");
        let before = w.models[1].serving_version();
        let mut log: Vec<Executed> = Vec::new();
        let mut most_live = 0;
        let done = run_until(&mut w, &mut e, &mut log, |e| {
            patches(e).iter().filter(|r| r.state.is_final()).count() >= 2
        });
        // the guardrail (one at a time) held throughout: checked after the run from the
        // timelines, every patch's life within another's never overlapping
        let lives: Vec<(f64, f64)> = patches(&e)
            .iter()
            .filter_map(|r| r.executed.map(|_| (r.proposed, r.updated)))
            .collect();
        for (i, a) in lives.iter().enumerate() {
            let overlapping = lives[i + 1..]
                .iter()
                .filter(|b| b.0 < a.1 && a.0 < b.1)
                .count();
            most_live = most_live.max(overlapping + 1);
        }
        assert!(done, "{:#?}", patches(&e));
        assert_eq!(most_live, 1, "{lives:?}");
        let ps = patches(&e);
        // the queue's order: ranker-bert (priority 1) before bid-shading (priority 2)
        assert_eq!(
            (ps[0].model, ps[1].model),
            (1, 4),
            "{:#?}",
            ps.iter()
                .map(|r| (r.id, r.model, r.state, &r.timeline))
                .collect::<Vec<_>>()
        );
        let r = ps[0];
        assert_eq!(r.state, RemState::Succeeded, "{:#?}", r.timeline);
        assert_eq!(r.mode, Mode::Auto, "{}", r.policy);
        // build, then the canary's stages on the candidate it registered, then promotion
        let text: Vec<&str> = r.timeline.iter().map(|(_, s)| s.as_str()).collect();
        assert!(
            text.iter().any(|s| s.contains("fastapi 0.109.0 → 0.109.1")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|s| s.contains("the build registered")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|s| s.contains("stage 50 % passed")),
            "{text:#?}"
        );
        let stages = log.iter().filter(|x| x.id == r.id).count();
        assert_eq!(stages, 4, "build + 10 % + 50 % + 100 %: {log:?}");
        let Action::Canary { version, share } = r.action else {
            panic!("{:?}", r.action)
        };
        assert_eq!(share, 1.0);
        assert!(version > before);
        assert_eq!(w.models[1].serving_version(), version);
        assert!(w.models[1].requirements().contains("fastapi==0.109.1"));
        // the rescan of the version that now serves closed the finding
        assert_eq!(open_on(&e, 1), 0, "{:?}", e.vulns());
        assert_eq!(open_on(&e, 4), 0, "bid-shading patched next");
    }

    #[test]
    fn a_patched_build_that_regresses_is_stopped_at_the_canary_and_not_proposed_again() {
        let (mut w, mut e) = fleet(Phase::Autonomy, 6, 1);
        w.models[1].build_regresses = true;
        let before = w.models[1].serving_version();
        let mut log = Vec::new();
        assert!(run_until(&mut w, &mut e, &mut log, |e| {
            patches(e).first().is_some_and(|r| r.state.is_final())
        }));
        let r = patches(&e)[0];
        assert_eq!(
            (r.model, r.state),
            (1, RemState::Undone),
            "{:#?}",
            r.timeline
        );
        assert!(
            r.timeline
                .iter()
                .any(|(_, s)| s.contains("failed its gates")),
            "{:#?}",
            r.timeline
        );
        // traffic is back on the version that served; the finding stays open
        let start = e.time();
        run_until(&mut w, &mut e, &mut log, |e| e.time() > start + 1800.0);
        assert_eq!(w.models[1].serving_version(), before);
        assert_eq!(open_on(&e, 1), 1);
        let again = patches(&e).iter().filter(|r| r.model == 1).count();
        assert_eq!(again, 1, "the same bumps are not proposed again");
    }

    #[test]
    fn a_minor_or_major_bump_or_an_unknown_severity_waits_for_a_human() {
        // Evolution runs everything within guardrails, but not a major bump or an unknown
        // severity; Augmentation asks for each
        for phase in [Phase::Augmentation, Phase::Autonomy, Phase::Evolution] {
            let (mut w, mut e) = fleet(phase, 15, 15);
            let mut log = Vec::new();
            run_until(&mut w, &mut e, &mut log, |e| patches(e).len() >= 4);
            let ps = patches(&e);
            let pillow = ps.iter().find(|r| r.model == 14).unwrap();
            let Action::Patch {
                bumps,
                unknown_severity,
            } = &pillow.action
            else {
                panic!("{:?}", pillow.action)
            };
            assert!(*unknown_severity);
            assert_eq!(bumps[0].kind, BumpKind::Major);
            assert_eq!(pillow.mode, Mode::Approve, "{phase}: {}", pillow.policy);
            assert_eq!(pillow.state, RemState::Proposed);
            // it waits for a human until its deadline (unknown: the high one, 7 days), not the
            // approval timeout of an incident's answer
            let waits = pillow.expires - pillow.proposed;
            assert!(waits > 6.0 * 86_400.0 && waits <= 7.0 * 86_400.0, "{waits}");
            let fastapi = ps.iter().find(|r| r.model == 1).unwrap();
            let want = if phase == Phase::Augmentation {
                Mode::Approve
            } else {
                Mode::Auto
            };
            assert_eq!(fastapi.mode, want, "{phase}: {}", fastapi.policy);
            assert!(!log.iter().any(|x| x.id == pillow.id), "nothing ran");
        }
    }

    /// A critical finding in model 0's serving image (trivy names the Debian revision that
    /// fixes it), as the image scan gives it: its findings and the rebuild's bumps.
    fn image_scan(w: &SimWorld, found: bool) -> super::super::Event {
        image_scan_of(w, 0, found)
    }

    /// The same finding in model `idx`'s serving image.
    fn image_scan_of(w: &SimWorld, idx: usize, found: bool) -> super::super::Event {
        let v = crate::domain::Vulnerability {
            advisory: "CVE-2019-20367".into(),
            cve: Some("CVE-2019-20367".into()),
            package: "libbsd0".into(),
            installed: "0.9.1-2".into(),
            fixed: Some("0.9.1-2+deb10u1".into()),
            upgrade_to: Some("0.9.1-2+deb10u1".into()),
            severity: crate::domain::Severity::Critical,
            score: Some(9.1),
            title: "nlist() out-of-bounds read".into(),
            source: crate::domain::Source::Image {
                container: "server".into(),
                image: "registry.example/fraud:1".into(),
            },
        };
        let found: Vec<_> = if found { vec![v] } else { Vec::new() };
        super::super::Event::Findings {
            t: w.time(),
            model: w.models[idx].meta.key(),
            scanner: crate::domain::Scanner::Images,
            bumps: crate::security::bump::for_image(&found, crate::domain::Severity::Low),
            found,
        }
    }

    #[test]
    fn an_image_finding_is_patched_by_a_rebuild_through_the_canary() {
        let (mut w, mut e) = fleet(Phase::Autonomy, 6, 1);
        e.apply(image_scan(&w, true));
        assert_eq!(open_on(&e, 0), 1);
        let mut log = Vec::new();
        assert!(run_until(&mut w, &mut e, &mut log, |e| {
            patches(e).iter().any(|r| {
                r.model == 0 && matches!(r.action, Action::Canary { share, .. } if share >= 1.0)
            })
        }));
        let r = patches(&e)
            .into_iter()
            .find(|r| r.model == 0)
            .unwrap()
            .clone();
        // a Debian revision is a patch: Autonomy rebuilds it by itself, through the canary
        assert_eq!(r.mode, Mode::Auto, "{}", r.policy);
        assert_eq!(r.bumps.len(), 1);
        assert_eq!(r.bumps[0].to, "0.9.1-2+deb10u1");
        assert!(!r.bumps[0].source.is_requirements());
        assert!(
            r.why
                .evidence
                .iter()
                .any(|s| s.contains("libbsd0 0.9.1-2 → 0.9.1-2+deb10u1 in image")),
            "{:#?}",
            r.why.evidence
        );
        let Action::Canary { share, .. } = r.action else {
            panic!("{:?}", r.action)
        };
        assert_eq!(share, 1.0, "promoted");
        // the requirements' rescan of the new version leaves the image's bumps alone; the
        // image scan of the new rollout finds nothing: the finding closes
        for ev in crate::sources::sim::findings(&w) {
            e.apply(ev);
        }
        e.apply(image_scan(&w, false));
        assert_eq!(open_on(&e, 0), 0);
        assert!(run_until(&mut w, &mut e, &mut log, |e| {
            patches(e)
                .iter()
                .any(|r| r.model == 0 && r.state.is_final())
        }));
        let r = patches(&e).into_iter().find(|r| r.model == 0).unwrap();
        assert_eq!(r.state, RemState::Succeeded, "{:#?}", r.timeline);
    }

    #[test]
    fn a_patch_of_requirements_and_an_image_is_not_proposed_again_when_one_scan_comes_first() {
        // ranker-bert (1): fastapi in its requirements and libbsd0 in its image, one patch
        let (mut w, mut e) = fleet(Phase::Autonomy, 6, 1);
        e.apply(image_scan_of(&w, 1, true));
        let mut log = Vec::new();
        assert!(run_until(&mut w, &mut e, &mut log, |e| {
            patches(e)
                .iter()
                .any(|r| r.model == 1 && r.state.is_final())
        }));
        let first = patches(&e).into_iter().find(|r| r.model == 1).unwrap();
        assert_eq!(first.state, RemState::Succeeded, "{:#?}", first.timeline);
        assert_eq!(first.bumps.len(), 2, "{:?}", first.bumps);
        // the requirements were rescanned when the patched version started serving; the
        // image's report of the new rollout is not in yet: its bump is still asked for, and
        // was in the patch that succeeded
        let start = e.time();
        run_until(&mut w, &mut e, &mut log, |e| e.time() > start + 7200.0);
        let on_model: Vec<_> = patches(&e).into_iter().filter(|r| r.model == 1).collect();
        assert_eq!(on_model.len(), 1, "{on_model:#?}");
    }
}
