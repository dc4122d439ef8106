use actix_web::{web, HttpResponse};
use serde::Deserialize;
use sqlx::PgPool;

use super::answer::listed;
use super::guard::Admin;
use crate::admin::{self, deliveries};
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct Query {
    #[serde(rename = "type")]
    event_type: Option<String>,
    since: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/deliveries?type=&since=&cursor=&limit=`, newest first.
pub async fn list(
    _: Admin,
    query: web::Query<Query>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = deliveries::DeliveryFilter {
        event_type: query.event_type,
        since: query.since.as_deref().map(admin::parse_since).transpose()?,
        cursor: query.cursor,
        limit: admin::limit(query.limit)?,
    };
    let page = deliveries::list(&pool, &filter).await?;
    Ok(listed("deliveries", page))
}

/// `GET /api/deliveries/{id}`: the stored body and what became of it.
pub async fn get(_: Admin, id: web::Path<String>, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(deliveries::get(&pool, &id).await?))
}

/// `POST /api/deliveries/{id}/replay`: 202, the event is queued again.
pub async fn replay(
    _: Admin,
    id: web::Path<String>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(deliveries::replay(&pool, &id).await?))
}
