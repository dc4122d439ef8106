use actix_web::{web, HttpResponse};
use sqlx::PgPool;

use crate::db::schema_is_current;
use crate::error::ApiError;
use crate::sync::{WorkerLiveness, WorkerState};

/// Readiness: the database answers, every migration this binary knows is applied, and the sync
/// worker runs when this process is meant to run one.
pub async fn readyz(
    pool: web::Data<PgPool>,
    worker: web::Data<WorkerLiveness>,
) -> Result<HttpResponse, ApiError> {
    let worker = match worker.state() {
        WorkerState::NotHere => None,
        WorkerState::Running => Some("running"),
        WorkerState::Restarting | WorkerState::Stopped => {
            return Err(ApiError::NotReady("the sync worker is not running".into()))
        }
    };
    match schema_is_current(&pool).await {
        Ok(true) => {
            let mut body = serde_json::json!({ "status": "ready" });
            if let Some(worker) = worker {
                body["worker"] = worker.into();
            }
            Ok(HttpResponse::Ok().json(body))
        }
        Ok(false) => Err(ApiError::NotReady("database schema is behind this binary".into())),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(ApiError::NotReady("database unreachable".into()))
        }
    }
}
