//! Values parsed at the edge, so handlers and storage only ever see valid ones.
mod delivery_id;
mod envelope;
mod nul;
mod repo_slug;
mod repository_ref;
mod signature;

pub use delivery_id::DeliveryId;
pub use envelope::{Envelope, EnvelopeError, EventTime, AUTOFIX_EVENT_TYPE, SYNC_EVENT_TYPES};
pub use nul::strip_nul;
pub use repo_slug::RepoSlug;
pub use repository_ref::RepositoryRef;
pub use signature::{Signature, SignatureError, SignatureVerifier, WebhookSecret};
