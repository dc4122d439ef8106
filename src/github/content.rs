//! What GitHub shows of an issue the service writes: its title, its labels and its body, and the
//! hashes stored to skip an update that would change nothing.
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueContent {
    pub title: String,
    pub labels: Vec<String>,
    pub body: String,
}

impl IssueContent {
    /// Changes when anything GitHub shows changes; stored to skip needless updates.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.title.as_bytes());
        for label in &self.labels {
            hasher.update(b"\n");
            hasher.update(label.as_bytes());
        }
        hasher.update(b"\n\n");
        hasher.update(self.body.as_bytes());
        hex::encode(hasher.finalize())
    }

    /// Of the title and body alone: labels are written apart from them (`sync/labels.rs`).
    pub fn text_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.title.as_bytes());
        hasher.update(b"\n\n");
        hasher.update(self.body.as_bytes());
        hex::encode(hasher.finalize())
    }
}
