//! What the admin routes share in their answers: a page of a list, and a job id from the path.
use actix_web::HttpResponse;

use crate::admin::{AdminError, Page};
use crate::error::ApiError;

/// A page of a list as every list route answers it: `{"<name>": [...], "next_cursor": ...}`.
pub(super) fn listed<T: serde::Serialize>(name: &str, page: Page<T>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ name: page.items, "next_cursor": page.next_cursor }))
}

/// A job id from the path.
pub(super) fn job_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::Admin(AdminError::NotFound(format!("no job {text}"))))
}
