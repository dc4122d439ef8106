mod healthz;
mod readyz;
mod webhooks;

pub use healthz::healthz;
pub use readyz::readyz;
pub use webhooks::{receive_webhook, MaxBodyBytes, SIGNATURE_HEADER};
