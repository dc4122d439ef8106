//! Each test's own database, and the template its schema is cloned from.
//!
//! Creating a database and applying every migration to it costs a few hundred milliseconds of
//! DDL and fsyncs per test; cloning a database that already holds the schema costs one file
//! copy. The template is built once (per migrations, not per run) and shared by every test
//! binary and process on the server, so it is built under an advisory lock and published by a
//! rename, which a builder that is killed half-way cannot do.
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

use crate::helpers::TestApp;

/// Any constant works; it only has to be the same for every test process.
const TEMPLATE_LOCK_KEY: i64 = 0x6473_735f_746d_706c; // "dss_tmpl"

/// The Postgres server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database name of this test's own; the database (created by whatever uses the URL) is
/// dropped when the guard goes, also when the test fails, so no way of running the suite
/// (`cargo test`, `cargo mutants`, an IDE) leaves databases behind.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            runtime.block_on(async move {
                let mut admin = admin().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// A name for a database that does not exist yet: for tests of creating and migrating one.
pub fn fresh_database() -> TestDatabase {
    let name = format!("dss_test_{}", uuid::Uuid::new_v4().simple());
    TestDatabase {
        url: format!("{}/{name}", server_url()),
        name,
    }
}

/// A database of this test's own with every migration applied, as the service leaves it.
pub async fn migrated_database() -> TestDatabase {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    let template = TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            build_template(&name).await;
            name
        })
        .await;
    let database = fresh_database();
    let mut admin = admin().await.expect("the test database server is reachable");
    let create = format!("CREATE DATABASE \"{}\" TEMPLATE \"{template}\"", database.name);
    match sqlx::query(&create).execute(&mut admin).await {
        Ok(_) => {}
        // Another run's scripts/test.sh dropped it as stale (its migrations differ): again.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            build_template(template).await;
            sqlx::query(&create)
                .execute(&mut admin)
                .await
                .expect("a clone of the rebuilt template");
        }
        Err(e) => panic!("cloning {template}: {e}"),
    }
    database
}

/// Named after the migrations (file names and contents, in name order), so that changing one
/// makes a new template instead of reusing a stale schema. scripts/test.sh computes the same
/// name to drop the others.
fn template_name() -> String {
    let dir = format!("{}/migrations", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with('V') && name.ends_with(".sql")
        })
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for path in files {
        hash.update(path.file_name().unwrap().as_encoded_bytes());
        hash.update(b"\n");
        hash.update(std::fs::read(&path).unwrap());
    }
    format!("dss_template_{}", &hex::encode(hash.finalize())[..16])
}

/// Builds the template unless it exists. Built under another name and renamed when complete,
/// so a template that exists is always whole.
async fn build_template(name: &str) {
    let mut admin = admin().await.expect("the test database server is reachable");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await
        .unwrap();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    if !exists {
        // Left by a builder that was killed, if it exists: nobody else builds while we hold the lock.
        let building = format!("{name}_new");
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{building}\""),
        ] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        }
        deepsource_sync::db::migrate(&format!("{}/{building}", server_url()))
            .await
            .expect("the migrations apply to an empty database");
        // Nobody may connect to it: a connection to a template makes every clone of it fail.
        for sql in [
            format!("ALTER DATABASE \"{building}\" WITH ALLOW_CONNECTIONS false"),
            format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\""),
        ] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        }
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await
        .unwrap();
}

async fn admin() -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(&format!("{}/postgres", server_url())).await
}

impl TestApp {
    /// Makes the database refuse every connection and drops the open ones, as an outage would.
    pub async fn take_database_down(&self) {
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", server_url()))
            .await
            .unwrap();
        sqlx::query(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS false",
            self.db_name
        ))
        .execute(&admin)
        .await
        .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(&self.db_name)
            .execute(&admin)
            .await
            .unwrap();
    }

    /// Undoes `take_database_down`; the pools reconnect on their own.
    pub async fn bring_database_back(&self) {
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", server_url()))
            .await
            .unwrap();
        sqlx::query(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.db_name))
            .execute(&admin)
            .await
            .unwrap();
    }
}
