//! Fresh data for each run: SQLite in a new temporary data directory, or a new PostgreSQL
//! database on a server the caller names, created here and dropped afterwards. Nothing a run
//! leaves behind can change the next run's figures.

use anyhow::{bail, Context};
use sqlx::{Connection, Executor};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Sqlite,
    Postgres,
    Both,
}

impl Which {
    /// The backends to run, in order; PostgreSQL needs a server address.
    pub fn pick(self, database_url: Option<&str>) -> anyhow::Result<Vec<Which>> {
        let wanted = match self {
            Which::Both => vec![Which::Sqlite, Which::Postgres],
            one => vec![one],
        };
        if wanted.contains(&Which::Postgres) && database_url.is_none() {
            bail!(
                "PostgreSQL needs --database-url or ROSTER_TEST_DATABASE_URL (scripts/test CMD starts a throwaway server \
                 and sets it); or pass --backend sqlite"
            );
        }
        Ok(wanted)
    }
}

pub struct Location {
    pub label: &'static str,
    /// The variables that point `roster` at this data.
    pub env: Vec<(String, String)>,
    /// The SQLite data, or the PostgreSQL master key file; removed on drop.
    dir: tempfile::TempDir,
    database: Option<(String, String)>,
}

impl Location {
    pub async fn open(which: Which, database_url: Option<&str>) -> anyhow::Result<Location> {
        let dir = tempfile::Builder::new().prefix("roster-bench.").tempdir()?;
        match which {
            Which::Sqlite => {
                let data = dir.path().join("data");
                Ok(Location { label: "sqlite", env: vec![("ROSTER_DATA_DIR".into(), display(&data))], dir, database: None })
            }
            Which::Postgres | Which::Both => {
                let server = database_url.context("no PostgreSQL server address")?;
                let name = format!("roster_bench_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(server).await.with_context(|| format!("connecting to {server}"))?;
                admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await.context("creating the benchmark database")?;
                admin.close().await?;
                let mut url = url::Url::parse(server).context("the PostgreSQL address")?;
                url.set_path(&format!("/{name}"));
                // PostgreSQL has no data directory to keep the master key in; `roster` creates it here.
                let key = dir.path().join("master.key");
                let env = vec![("ROSTER_DATABASE_URL".into(), url.to_string()), ("ROSTER_MASTER_KEY_FILE".into(), display(&key))];
                Ok(Location { label: "postgres", env, dir, database: Some((server.to_owned(), name)) })
            }
        }
    }

    /// Data that exists already and is left as it is: only the variables that point at it.
    pub fn existing(label: &'static str, mut env: Vec<(String, String)>) -> anyhow::Result<Location> {
        let dir = tempfile::Builder::new().prefix("roster-bench.").tempdir()?;
        if env.iter().any(|(k, _)| k == "ROSTER_DATABASE_URL") {
            env.push(("ROSTER_MASTER_KEY_FILE".into(), display(&dir.path().join("master.key"))));
        }
        Ok(Location { label, env, dir, database: None })
    }

    /// PostgreSQL only: what autovacuum does some time after a large import (drop the dead row
    /// versions, set the visibility map, gather statistics), done now, to measure the steady state.
    pub async fn vacuum(&self) -> anyhow::Result<bool> {
        let Some((_, url)) = self.env.iter().find(|(k, _)| k == "ROSTER_DATABASE_URL") else {
            return Ok(false);
        };
        let mut conn = sqlx::PgConnection::connect(url).await?;
        conn.execute("VACUUM ANALYZE").await.context("VACUUM ANALYZE")?;
        conn.close().await?;
        Ok(true)
    }

    pub fn scratch(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Drop the PostgreSQL database (the temporary directory goes with `self`).
    pub async fn close(self) -> anyhow::Result<()> {
        if let Some((server, name)) = &self.database {
            let mut admin = sqlx::PgConnection::connect(server).await?;
            admin.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str()).await.context("dropping the benchmark database")?;
            admin.close().await?;
        }
        Ok(())
    }
}

fn display(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}
