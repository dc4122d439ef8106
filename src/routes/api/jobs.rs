use actix_web::{web, HttpResponse};
use serde::Deserialize;
use sqlx::PgPool;

use super::answer::{job_id, listed};
use super::guard::Admin;
use crate::admin::{self, jobs, AdminError};
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct Query {
    status: Option<String>,
    finding: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/jobs?status=&finding=&cursor=&limit=`, newest first.
pub async fn list(
    _: Admin,
    query: web::Query<Query>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = jobs::JobFilter {
        status: query.status,
        finding: query.finding,
        cursor: query.cursor,
        limit: admin::limit(query.limit)?,
    };
    let page = jobs::list(&pool, &filter).await?;
    Ok(listed("jobs", page))
}

/// `GET /api/jobs/{id}`
pub async fn get(_: Admin, id: web::Path<String>, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(jobs::get(&pool, job_id(&id)?).await?))
}

/// `POST /api/jobs/{id}/retry`: a dead or skipped job is due again (409 for any other).
pub async fn retry(
    _: Admin,
    id: web::Path<String>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(jobs::retry(&pool, job_id(&id)?).await?))
}

#[derive(Deserialize)]
pub struct RetryQuery {
    status: Option<String>,
    finding: Option<String>,
}

/// `POST /api/jobs/retry?status=dead&finding=…`: every such job at once.
pub async fn retry_all(
    _: Admin,
    query: web::Query<RetryQuery>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let status = query
        .status
        .as_deref()
        .ok_or_else(|| AdminError::BadRequest("status: required (dead or skipped)".into()))?;
    let retried = jobs::retry_all(&pool, status, query.finding.as_deref(), |_| {}).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "retried": retried })))
}
