use actix_web::HttpResponse;

/// Liveness: the process answers. Says nothing about the database (see `/readyz`).
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
