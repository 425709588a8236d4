//! The registry logic on a client with the configured aliases: champion, promote, rollback.

use super::*;

/// The files MLflow logs with a model version that name its Python dependencies, in the order
/// they are read: the pip requirements, else the conda environment, else the virtualenv one.
pub const REQUIREMENTS_FILES: [&str; 3] = ["requirements.txt", "conda.yaml", "python_env.yaml"];

/// A file a model version logged, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedFile {
    /// The version it was read from.
    pub version: String,
    /// Which of [`REQUIREMENTS_FILES`].
    pub file: &'static str,
    /// Its text.
    pub text: String,
}

/// The registry logic on an [`MlflowClient`] with the configured aliases.
#[derive(Debug, Clone)]
pub struct Registry {
    client: MlflowClient,
    template: String,
    champion_alias: String,
    challenger_alias: String,
    previous_alias: String,
}

impl Registry {
    /// From the `[mlflow]` config.
    pub fn new(cfg: &MlflowConfig) -> Result<Self, MlflowError> {
        Ok(Self::with_client(MlflowClient::new(cfg)?, cfg))
    }

    /// On a client built elsewhere, with the config's template and aliases.
    pub fn with_client(client: MlflowClient, cfg: &MlflowConfig) -> Self {
        Registry {
            client,
            template: cfg.model_name_template.clone(),
            champion_alias: cfg.champion_alias.clone(),
            challenger_alias: cfg.challenger_alias.clone(),
            previous_alias: PREVIOUS_CHAMPION_ALIAS.to_string(),
        }
    }

    /// The client.
    pub fn client(&self) -> &MlflowClient {
        &self.client
    }

    /// The registered model name of a served model (`model_name_template`).
    pub fn registered_name(&self, namespace: &str, name: &str) -> String {
        fill_template(&self.template, namespace, name)
    }

    /// The champion alias.
    pub fn champion_alias(&self) -> &str {
        &self.champion_alias
    }

    /// The challenger alias.
    pub fn challenger_alias(&self) -> &str {
        &self.challenger_alias
    }

    /// The champion version of a registered model (None when the alias is not set).
    pub async fn champion(&self, model: &str) -> Result<Option<ModelVersion>, MlflowError> {
        self.client
            .get_model_version_by_alias(model, &self.champion_alias)
            .await
    }

    /// What the serving version of a registered model logged about its Python dependencies:
    /// the champion (else the highest version number), and the first of
    /// [`REQUIREMENTS_FILES`] it holds, read through the artifact API. `None` when the model
    /// has no version, or its serving version logged none of them.
    pub async fn logged_requirements(
        &self,
        model: &str,
    ) -> Result<Option<LoggedFile>, MlflowError> {
        let version = match self.champion(model).await? {
            Some(v) => v,
            None => {
                let versions = self.client.search_model_versions(model).await?;
                match versions.into_iter().max_by_key(|v| v.number()) {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
        };
        for file in REQUIREMENTS_FILES {
            if let Some(text) = self
                .client
                .model_version_artifact(model, &version.version, file)
                .await?
            {
                return Ok(Some(LoggedFile {
                    version: version.version,
                    file,
                    text,
                }));
            }
        }
        Ok(None)
    }

    /// [`Registry::logged_requirements`] of each registered model named, eight at a time, in
    /// the order given.
    pub async fn logged_requirements_of(
        &self,
        models: Vec<String>,
    ) -> Vec<(String, Result<Option<LoggedFile>, MlflowError>)> {
        use futures::StreamExt;
        futures::stream::iter(models)
            .map(|m| async move {
                let logged = self.logged_requirements(&m).await;
                (m, logged)
            })
            .buffered(8)
            .collect()
            .await
    }

    async fn run_metrics(&self, run_id: &str) -> Result<RunMetrics, MlflowError> {
        if run_id.is_empty() {
            return Ok(RunMetrics::default());
        }
        match self.client.get_run(run_id).await {
            Ok(run) => Ok(RunMetrics::from_run(&run)),
            // A deleted run: no metrics, not a broken registry.
            Err(e) if e.is_not_found() => Ok(RunMetrics::default()),
            Err(e) => Err(e),
        }
    }

    /// The registered model's champion, challenger, rollback target and candidates with their
    /// run metrics.
    pub async fn state(&self, model: &str) -> Result<RegistryState, MlflowError> {
        let rm = self.client.get_registered_model(model).await?;
        let versions = self.client.search_model_versions(model).await?;
        let champion = rm.alias(&self.champion_alias);
        let challenger = rm.alias(&self.challenger_alias);
        let previous = rm.alias(&self.previous_alias);
        let run_of = |n: u64| {
            versions
                .iter()
                .find(|v| v.number() == Some(n))
                .map(|v| v.run_id.clone())
                .unwrap_or_default()
        };
        let champion_metrics = match champion {
            Some(c) => self.run_metrics(&run_of(c)).await?,
            None => RunMetrics::default(),
        };
        let mut candidates = Vec::new();
        for n in candidate_versions(champion, challenger, &versions) {
            let run_id = run_of(n);
            let metrics = self.run_metrics(&run_id).await?;
            candidates.push(Candidate {
                version: n,
                run_id,
                better: is_better(metrics.accuracy, champion_metrics.accuracy),
                metrics,
                challenger: Some(n) == challenger,
            });
        }
        Ok(RegistryState {
            model: model.to_string(),
            champion,
            champion_metrics,
            challenger,
            previous_champion: previous,
            rollback_to: champion.and_then(|c| rollback_target(c, previous, &versions)),
            candidates,
        })
    }

    /// Make `version` the champion: `previous-champion` is pointed at the old champion first,
    /// then `champion` at `version`, and the version is tagged [`TAG_PROMOTED_AT`] (and loses
    /// [`TAG_ROLLED_BACK_AT`]). The version must exist and be READY. Promoting the champion
    /// changes nothing. Should a step fail, the ones before it stay done; each is safe alone
    /// (`previous-champion` pointing at the still-serving champion is ignored by rollback).
    pub async fn promote(&self, model: &str, version: u64) -> Result<AliasMove, MlflowError> {
        let v = version.to_string();
        let target = self.client.get_model_version(model, &v).await?;
        if !target.is_ready() {
            return Err(MlflowError::NotReady {
                model: model.to_string(),
                version,
                status: target.status,
            });
        }
        let from = self.champion(model).await?.and_then(|c| c.number());
        if from == Some(version) {
            return Ok(AliasMove {
                model: model.to_string(),
                from,
                to: version,
                changed: false,
            });
        }
        if let Some(old) = from {
            self.client
                .set_alias(model, &self.previous_alias, &old.to_string())
                .await?;
        }
        self.client
            .set_alias(model, &self.champion_alias, &v)
            .await?;
        self.client
            .set_model_version_tag(model, &v, TAG_PROMOTED_AT, &unix_ms_now())
            .await?;
        if target.is_rolled_back() {
            // promoted again on purpose (e.g. the undo of a rollback): it may serve again
            self.client
                .delete_model_version_tag(model, &v, TAG_ROLLED_BACK_AT)
                .await?;
        }
        Ok(AliasMove {
            model: model.to_string(),
            from,
            to: version,
            changed: true,
        })
    }

    /// Move `champion` back ([`rollback_target`]): the old champion is tagged
    /// [`TAG_ROLLED_BACK_AT`] (no longer a candidate), `champion` points at the target and
    /// `previous-champion` is removed (it was used up).
    pub async fn rollback(&self, model: &str) -> Result<AliasMove, MlflowError> {
        let champion = self
            .champion(model)
            .await?
            .and_then(|c| c.number())
            .ok_or_else(|| MlflowError::NoChampion {
                model: model.to_string(),
                alias: self.champion_alias.clone(),
            })?;
        let previous = self
            .client
            .get_model_version_by_alias(model, &self.previous_alias)
            .await?
            .and_then(|v| v.number());
        let versions = self.client.search_model_versions(model).await?;
        let to = rollback_target(champion, previous, &versions).ok_or_else(|| {
            MlflowError::NoRollbackTarget {
                model: model.to_string(),
                champion,
            }
        })?;
        self.client
            .set_model_version_tag(
                model,
                &champion.to_string(),
                TAG_ROLLED_BACK_AT,
                &unix_ms_now(),
            )
            .await?;
        self.client
            .set_alias(model, &self.champion_alias, &to.to_string())
            .await?;
        self.client
            .delete_alias(model, &self.previous_alias)
            .await?;
        Ok(AliasMove {
            model: model.to_string(),
            from: Some(champion),
            to,
            changed: true,
        })
    }

    /// Point the challenger alias at `version` (a canary started on it).
    pub(crate) async fn set_challenger(
        &self,
        model: &str,
        version: u64,
    ) -> Result<(), MlflowError> {
        self.client
            .set_alias(model, &self.challenger_alias, &version.to_string())
            .await
    }
}
