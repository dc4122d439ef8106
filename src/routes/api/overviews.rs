use actix_web::{web, HttpResponse};
use sqlx::PgPool;

use super::guard::Admin;
use crate::admin::overviews;
use crate::error::ApiError;
use crate::web::StatusPage;

/// `GET /api/overviews`: each repository's overview issue — its link, when it was last written
/// and first visible, and whether a person turned it off, and who.
pub async fn list(
    _: Admin,
    pool: web::Data<PgPool>,
    page: web::Data<StatusPage>,
) -> Result<HttpResponse, ApiError> {
    let rows = overviews::overviews(&pool, &page.github, None).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "overviews": rows })))
}
