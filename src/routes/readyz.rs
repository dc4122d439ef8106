use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};

use crate::db::schema_is_current;
use crate::error::ApiError;
use crate::ingest::Ingestor;
use crate::sync::{WorkerLiveness, WorkerState};
use crate::wake::WakeMode;

/// An orchestrator polling readiness needs a prompt answer: a database that does not answer
/// within this is not ready.
const CHECK_DEADLINE: Duration = Duration::from_secs(1);

/// How long one look at the database answers every readiness probe: a load balancer sees the
/// truth within a second, and a flood of probes costs the intake's pool one query a second.
const CACHE_FOR: Duration = Duration::from_secs(1);

/// The database's last verdict and when it was reached. One check at a time: probes arriving
/// during a check wait for it and share its answer.
#[derive(Clone, Default)]
pub struct ReadinessCache(Arc<Mutex<Option<Verdict>>>);

/// Whether the schema is current (or why the database could not say), and when it was asked.
type Verdict = (Instant, Result<bool, String>);

impl ReadinessCache {
    async fn database(&self, pool: &PgPool, ingestor: &Ingestor) -> Result<bool, String> {
        let mut last = self.0.lock().await;
        // Intake knows first when the database goes: say so at once, and look afresh once it
        // is back rather than repeat a verdict from before the outage.
        if ingestor.database_is_down() {
            *last = None;
            return Err("intake finds the database unreachable".into());
        }
        if let Some((at, verdict)) = last.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return verdict.clone();
            }
        }
        let verdict = check(pool).await;
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }
}

/// Readiness: the database answers (within a second), every migration this binary knows is
/// applied, and the sync worker runs when this process is meant to run one; the answer says how
/// that worker hears of work (`wake`: listening, or polling and why).
pub async fn readyz(
    pool: web::Data<PgPool>,
    worker: web::Data<WorkerLiveness>,
    cache: web::Data<ReadinessCache>,
    ingestor: web::Data<Ingestor>,
) -> Result<HttpResponse, ApiError> {
    let worker_state = match worker.state() {
        WorkerState::NotHere => None,
        WorkerState::Running => Some("running"),
        WorkerState::Restarting | WorkerState::Stopped => {
            return Err(ApiError::NotReady("the sync worker is not running".into()))
        }
    };
    match cache.database(&pool, &ingestor).await {
        Ok(true) => {
            let mut body = serde_json::json!({ "status": "ready" });
            if let Some(state) = worker_state {
                body["worker"] = state.into();
            }
            // How the worker hears of work: polling is ready (it still syncs), but slower, and
            // the operator should know why.
            if let Some(mode) = worker.wake_mode() {
                body["wake"] = mode.name().into();
                if let WakeMode::Polling(reason) = mode {
                    body["wake_reason"] = reason.into();
                }
            }
            Ok(HttpResponse::Ok().json(body))
        }
        Ok(false) => Err(ApiError::NotReady("database schema is behind this binary".into())),
        Err(reason) => {
            tracing::warn!(%reason, "readiness check failed");
            Err(ApiError::NotReady("database unreachable".into()))
        }
    }
}

async fn check(pool: &PgPool) -> Result<bool, String> {
    let deadline = Instant::now() + CHECK_DEADLINE;
    let too_late = || {
        format!(
            "no answer from the database within {} ms",
            CHECK_DEADLINE.as_millis()
        )
    };
    let mut conn = timeout_at(deadline, pool.acquire())
        .await
        .map_err(|_| too_late())?
        .map_err(|e| e.to_string())?;
    match timeout_at(deadline, schema_is_current(&mut *conn)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => {
            // Its answer may still arrive: this connection must not serve another statement.
            conn.close_on_drop();
            Err(too_late())
        }
    }
}
