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
    pub fn write_checkpoint(&self, w: &mut impl std::io::Write) -> Result<(), String> {
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
