use actix_web::{web, HttpResponse};
use sqlx::PgPool;

use crate::db::schema_is_current;
use crate::error::ApiError;

/// Readiness: the database answers and every migration this binary knows is applied.
pub async fn readyz(pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    match schema_is_current(&pool).await {
        Ok(true) => Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))),
        Ok(false) => Err(ApiError::NotReady("database schema is behind this binary".into())),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(ApiError::NotReady("database unreachable".into()))
        }
    }
}
