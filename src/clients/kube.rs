//! A Kubernetes client from the user's kubeconfig or the pod's service account: the one way
//! pitcrew reaches a cluster, for the actuators, the Lease, the API server's identity checks
//! and `attach --kube-context`.

/// Why no client could be made: which configuration was tried, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoClient {
    /// Which configuration was tried.
    pub what: String,
    /// Why it failed.
    pub message: String,
}

impl std::fmt::Display for NoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot use {} (KUBECONFIG or ~/.kube/config): {}",
            self.what, self.message
        )
    }
}

/// A client of the cluster of the kubeconfig context `context`, read from `KUBECONFIG` or
/// `~/.kube/config`; with no context, the kubeconfig's current one or else the in-cluster
/// service account (kube's inference).
pub async fn client(context: Option<&str>) -> Result<kube::Client, NoClient> {
    let (what, config) = match context {
        Some(ctx) => {
            let opts = kube::config::KubeConfigOptions {
                context: Some(ctx.to_string()),
                ..Default::default()
            };
            let config = kube::Config::from_kubeconfig(&opts).await;
            (
                format!("the kubeconfig context {ctx}"),
                config.map_err(|e| e.to_string()),
            )
        }
        None => (
            "the current kubeconfig context or the in-cluster service account".to_string(),
            kube::Config::infer().await.map_err(|e| e.to_string()),
        ),
    };
    let config = config.map_err(|message| NoClient {
        what: what.clone(),
        message,
    })?;
    kube::Client::try_from(config).map_err(|e| NoClient {
        what,
        message: e.to_string(),
    })
}
