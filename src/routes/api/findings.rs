use actix_web::{web, HttpResponse};
use serde::Deserialize;
use sqlx::PgPool;

use super::answer::listed;
use super::guard::Admin;
use crate::admin::{self, findings, Links};
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct Query {
    state: Option<String>,
    repository: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/findings?state=&repository=login/name&cursor=&limit=`
pub async fn list(
    _: Admin,
    query: web::Query<Query>,
    pool: web::Data<PgPool>,
    links: web::Data<Links>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = findings::FindingFilter {
        state: query.state,
        repository: query.repository,
        cursor: query.cursor,
        limit: admin::limit(query.limit)?,
    };
    let page = findings::list(&pool, &links, &filter).await?;
    Ok(listed("findings", page))
}

/// `GET /api/findings/{id}`
pub async fn get(
    _: Admin,
    id: web::Path<String>,
    pool: web::Data<PgPool>,
    links: web::Data<Links>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(findings::get(&pool, &links, &id).await?))
}

/// `POST /api/findings/{id}/resync`: 202, the sync is queued ahead of other work.
pub async fn resync(
    _: Admin,
    id: web::Path<String>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(findings::resync(&pool, &id).await?))
}
