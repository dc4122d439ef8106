//! The fence every state write of a sync passes: a finding is held by whoever knows its lease's
//! token (taken by the worker's claim, `sync/lease.rs`), and a write made under a lease another
//! worker has taken over since changes nothing and says `LeaseLost`.
use sqlx::PgConnection;
use uuid::Uuid;

/// The finding `finding_id`, held by whoever knows `token`.
#[derive(Clone, Debug)]
pub struct Lease {
    pub finding_id: String,
    pub token: Uuid,
}

/// A state write was refused because another worker holds the finding now.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("another worker holds this finding now")]
    LeaseLost,
}

/// What a fenced statement's row count says: none changed means the lease has gone.
pub fn fenced(result: sqlx::postgres::PgQueryResult) -> Result<(), StoreError> {
    match result.rows_affected() {
        0 => Err(StoreError::LeaseLost),
        _ => Ok(()),
    }
}

/// Inside a transaction: holds the lease row until the transaction ends, so no other worker can
/// take the finding over meanwhile. Fails with `LeaseLost` when the lease has gone already.
pub async fn hold(conn: &mut PgConnection, lease: &Lease) -> Result<(), StoreError> {
    let held = sqlx::query_scalar!(
        "SELECT 1 AS one FROM finding_leases WHERE finding_id = $1 AND token = $2 FOR SHARE",
        lease.finding_id,
        lease.token
    )
    .fetch_optional(conn)
    .await?;
    held.map(|_| ()).ok_or(StoreError::LeaseLost)
}
