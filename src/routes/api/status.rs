use actix_web::{web, HttpResponse};
use sqlx::PgPool;

use super::guard::Admin;
use crate::admin::status;
use crate::error::ApiError;
use crate::web::StatusPage;

/// `GET /api/status`: what `deepsource-sync status --json` and the status page show — intake,
/// the queue, GitHub's budgets, findings by state, snapshots, and every worker's wake-up mode.
pub async fn get(
    _: Admin,
    pool: web::Data<PgPool>,
    page: web::Data<StatusPage>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(status::status(&pool, &page.github).await?))
}
