//! GitHub's REST API as the service uses it: the client and its answers, what an answer means,
//! the write budget replicas share, the call counters, finding what an interrupted call made, and
//! reading CODEOWNERS. It knows nothing of findings, their tables or the worker.
pub mod call;
pub mod client;
pub mod codeowners;
pub mod content;
pub mod errors;
pub mod home;
pub mod observe;
pub mod pacing;
pub mod search;
pub mod sub_issues;
