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

/// A benchmark's database on `BENCH_DATABASE_SERVER_URL` (default: the local server), dropped
/// first if an earlier run left it: its URL, and a pool on the maintenance database.
pub async fn fresh_database(name: &str) -> anyhow::Result<(String, sqlx::PgPool)> {
    let server = std::env::var("BENCH_DATABASE_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    Ok((format!("{server}/{name}"), admin))
}

/// The worker's pacing set to `rate` writes a second, as the fake GitHub's scaled limits are.
pub fn pace_at(settings: &mut deepsource_sync::configuration::Settings, rate: u64) {
    settings.github.min_write_interval = std::time::Duration::from_secs_f64(1.0 / rate as f64);
    settings.github.writes_per_minute = (rate * 60) as u32;
    settings.github.writes_per_hour = (rate * 3600) as u32;
}
