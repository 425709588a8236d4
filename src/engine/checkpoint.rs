//! Checkpoints of the engine: its state as bytes, the fleet state that the events determine, and restoring from them with a consistency check.

use super::*;

impl Engine {
    /// The engine's state (all but its settings) as bytes, for a journal checkpoint: a
    /// compact binary encoding that keeps every value exactly (NaN and infinities included).
    /// What the console said of itself is in it as it is in the log: notices are events.
    pub fn checkpoint(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.write_checkpoint(&mut out)?;
        Ok(out)
    }

    /// [`Engine::checkpoint`] written to `w` as it is encoded (no copy of the state is built).
    pub(crate) fn write_checkpoint(&self, w: &mut impl std::io::Write) -> Result<(), String> {
        rmp_serde::encode::write(w, self).map_err(|e| format!("engine checkpoint: {e}"))
    }

    /// The state of the fleet that the events determine, as bytes: [`Engine::checkpoint`]
    /// without the log and the notices ([`Event::Notice`]: what the console said of itself,
    /// which a session that lost its journal could not record).
    pub fn fleet_state(&self) -> Result<Vec<u8>, String> {
        let mut e = self.clone();
        e.log.clear();
        e.seq = 0;
        e.notices.clear();
        e.checkpoint()
    }

    /// This engine's state with other settings (an agent resumed with this session's config):
    /// what [`Engine::restore`] does, without encoding the state.
    pub fn with_config(mut self, cfg: EngineConfig) -> Engine {
        self.cfg = cfg;
        self
    }

    /// An engine from a [`Engine::checkpoint`] and the settings it ran with.
    pub fn restore(cfg: EngineConfig, bytes: &[u8]) -> Result<Engine, String> {
        let mut e: Engine =
            rmp_serde::from_slice(bytes).map_err(|e| format!("engine checkpoint: {e}"))?;
        e.consistent()
            .map_err(|why| format!("engine checkpoint is inconsistent: {why}"))?;
        e.cfg = cfg;
        Ok(e)
    }

    /// The cross-references a restored state relies on hold: indices of models in range,
    /// rings that fit their buffers, detectors whose arrays fit their bins.
    pub(super) fn consistent(&self) -> Result<(), String> {
        let n = self.models.len();
        if self.index.len() != n {
            return Err(format!("{} models, {} in the index", n, self.index.len()));
        }
        for (key, &i) in &self.index {
            if self
                .models
                .get(i as usize)
                .is_none_or(|m| m.meta.key() != *key)
            {
                return Err(format!("index entry {key} → {i}"));
            }
        }
        if let Some(m) = self.models.iter().find(|m| !m.history.consistent()) {
            return Err(format!("history of {}", m.meta.key()));
        }
        if let Some(m) = self.models.iter().find(|m| !m.watch.consistent()) {
            return Err(format!("detectors of {}", m.meta.key()));
        }
        if let Some(i) = self.incidents.iter().find(|i| i.model as usize >= n) {
            return Err(format!("incident #{} on model {}", i.id, i.model));
        }
        if let Some(r) = self.remediations.iter().find(|r| r.model as usize >= n) {
            return Err(format!("remediation R{} on model {}", r.id, r.model));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::tests::{drive, drive_on};
    use super::*;

    #[test]
    fn a_notice_is_an_event_and_a_checkpoint_keeps_it_as_the_log_numbers_it() {
        let mut live = drive(3, 150);
        let said = "journal write failed, journaling stopped";
        assert!(
            live.apply(Event::Notice {
                t: live.time(),
                text: said.into(),
            })
            .is_empty()
        );
        let seq = live.log_seq();
        drive_on(&mut live, 3, 150, 300);
        let s = live.snapshot(None, 1000);
        assert_eq!(s.notices.last().map(String::as_str), Some(said));
        let line = s.log.iter().find(|l| l.text == said).unwrap();
        assert_eq!((line.seq, line.status), (seq, Status::Warn));
        // restored from its checkpoint, the session is the same, notice and numbering included
        let restored =
            Engine::restore(EngineConfig::default(), &live.checkpoint().unwrap()).unwrap();
        assert_eq!(format!("{restored:?}"), format!("{live:?}"));
        // and the fleet is the one of a session that was never told anything
        let quiet = drive(3, 300);
        assert_ne!(format!("{live:?}"), format!("{quiet:?}"));
        assert_eq!(live.fleet_state().unwrap(), quiet.fleet_state().unwrap());
    }

    #[test]
    fn an_inconsistent_checkpoint_is_refused_not_run() {
        let e = drive(3, 50);
        let mut bad = e.clone();
        bad.index.insert("ghost/model".into(), 99);
        let err = Engine::restore(EngineConfig::default(), &bad.checkpoint().unwrap()).unwrap_err();
        assert!(err.contains("index"), "{err}");
        let mut bad = e.clone();
        bad.models[2].history = History::new();
        bad.models[2].history.break_ring_for_test();
        let err = Engine::restore(EngineConfig::default(), &bad.checkpoint().unwrap()).unwrap_err();
        assert!(err.contains("history of"), "{err}");
        let mut bad = e.clone();
        bad.models[1].watch.break_for_test();
        let err = Engine::restore(EngineConfig::default(), &bad.checkpoint().unwrap()).unwrap_err();
        assert!(err.contains("detectors of"), "{err}");
        assert!(Engine::restore(EngineConfig::default(), &e.checkpoint().unwrap()).is_ok());
        assert!(Engine::restore(EngineConfig::default(), b"\x93\x01").is_err());
    }
}
