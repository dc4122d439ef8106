//! What the benchmarks share: their secret, settings from the environment, signed sample events.
#![allow(dead_code)]

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET: &str = "bench-secret-0123456789abcdef";

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The published introduced sample with event id `id` and, when given, its own finding.
pub fn event(id: &str, finding: Option<&str>) -> Vec<u8> {
    let sample = include_bytes!("../../tests/fixtures/deepsource/repository_issue_introduced.json");
    let mut value: serde_json::Value = serde_json::from_slice(sample).unwrap();
    value["id"] = id.into();
    if let Some(finding) = finding {
        value["data"]["object"]["id"] = finding.into();
    }
    serde_json::to_vec(&value).unwrap()
}

pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
