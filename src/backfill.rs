//! `deepsource-sync backfill`: a snapshot of each named repository now, and a summary of what
//! the worker will do on GitHub and how long GitHub's write budget makes that take.
use anyhow::{bail, Context};

use crate::configuration::Settings;
use crate::db;
use crate::deepsource::RepositoryRef;
use crate::reconcile::{client, estimate, planned, reconcile};

pub async fn run(
    settings: &Settings,
    repository: Option<&str>,
    provider: &str,
    all: bool,
) -> anyhow::Result<()> {
    db::prepare(&settings.database).await?;
    let pool = db::pool(&settings.database)?;
    let Some(client) = client(&pool, settings)? else {
        bail!("invalid DEEPSOURCE_API_TOKEN: not set; backfill reads DeepSource's API and needs a personal access token");
    };
    let repositories = match (repository, all) {
        (Some(login_name), _) => {
            let (login, name) = login_name
                .split_once('/')
                .filter(|(l, n)| !l.is_empty() && !n.is_empty() && !n.contains('/'))
                .with_context(|| format!("--repository {login_name:?}: expected login/name"))?;
            vec![RepositoryRef {
                provider: provider.to_ascii_uppercase(),
                login: login.to_owned(),
                name: name.to_owned(),
            }]
        }
        (None, _) => known_repositories(&pool).await?,
    };
    if repositories.is_empty() {
        println!("no repository is known yet: name one with --repository login/name");
        return Ok(());
    }
    let mut writes = 0;
    let mut failed = 0;
    for repository in &repositories {
        match reconcile(&pool, &client, repository, true).await {
            Ok(applied) => {
                let plan = planned(&pool, repository).await?;
                writes += plan.writes();
                println!(
                    "{repository}: {} open findings at DeepSource ({} new here, {} changed, {} gone); GitHub issues to create {}, update {}, close {}",
                    applied.listed, applied.created, applied.changed, applied.gone, plan.create, plan.update, plan.close
                );
                if applied.deferred > 0 {
                    println!(
                        "  {} findings had events while the snapshot was taken; they keep their event counts until the next comparison",
                        applied.deferred
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("{repository}: not compared, nothing changed: {e}");
            }
        }
    }
    let eta = estimate(writes, &settings.github);
    println!(
        "{writes} GitHub writes queued for the worker (serve or worker): about {} at {} writes/hour, {} a minute",
        humantime::format_duration(std::time::Duration::from_secs(eta.as_secs())),
        settings.github.writes_per_hour,
        settings.github.writes_per_minute
    );
    if failed > 0 {
        bail!(
            "{failed} of {} repositories could not be compared",
            repositories.len()
        );
    }
    Ok(())
}

/// Every repository a finding has been filed under, by an event or a snapshot.
async fn known_repositories(pool: &sqlx::PgPool) -> Result<Vec<RepositoryRef>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (repository_key) vcs_provider, vcs_url
           FROM findings WHERE repository_key IS NOT NULL ORDER BY repository_key, updated_at DESC"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| RepositoryRef::from_vcs(&r.vcs_provider, &r.vcs_url))
        .collect())
}
