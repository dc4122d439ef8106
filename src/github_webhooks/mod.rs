//! GitHub's `issues` webhooks: how the service learns what people do to its issues (closed as
//! not planned, reopened, deleted, transferred). Deliveries are verified, stored once by
//! `X-GitHub-Delivery` as DeepSource's are, and applied to the finding whose issue they name in
//! the transaction that stores them.
mod event;
mod store;

pub use event::{DeliveryHeaders, GitHubEvent, GitHubEventError};
pub use store::{store_delivery, Stored};

use crate::domain::{SignatureVerifier, WebhookSecret};

/// The secret GitHub signs with (`GITHUB_WEBHOOK_SECRET`); without one, the endpoint is off.
#[derive(Clone, Debug)]
pub struct GitHubWebhooks {
    pub verifier: Option<SignatureVerifier>,
}

impl GitHubWebhooks {
    pub fn new(secret: Option<WebhookSecret>) -> Self {
        Self {
            verifier: secret.map(|s| SignatureVerifier::new(vec![s])),
        }
    }
}
