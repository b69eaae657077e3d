//! Versioned schema migrations from `migrations/sqlite/`, applied at start-up and recorded in
//! `schema_migrations`. The check and the apply run in one `BEGIN IMMEDIATE` transaction, so
//! several instances starting at once apply each migration exactly once.

use rusqlite::{Connection, TransactionBehavior};

/// Every migration, in order: (version, name, SQL). Add a file and a line here.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "projects",
        include_str!("../../../migrations/sqlite/0002_projects.sql"),
    ),
    (
        3,
        "keys",
        include_str!("../../../migrations/sqlite/0003_keys.sql"),
    ),
    (
        4,
        "session_lists",
        include_str!("../../../migrations/sqlite/0004_session_lists.sql"),
    ),
    (
        5,
        "erasure",
        include_str!("../../../migrations/sqlite/0005_erasure.sql"),
    ),
    (
        6,
        "retention",
        include_str!("../../../migrations/sqlite/0006_retention.sql"),
    ),
    (
        7,
        "corrections",
        include_str!("../../../migrations/sqlite/0007_corrections.sql"),
    ),
    (
        8,
        "current_covering",
        include_str!("../../../migrations/sqlite/0008_current_covering.sql"),
    ),
    (
        9,
        "webhooks",
        include_str!("../../../migrations/sqlite/0009_webhooks.sql"),
    ),
    (
        10,
        "webhook_deliveries",
        include_str!("../../../migrations/sqlite/0010_webhook_deliveries.sql"),
    ),
    (
        11,
        "webhook_repair",
        include_str!("../../../migrations/sqlite/0011_webhook_repair.sql"),
    ),
    (
        12,
        "webhook_parking",
        include_str!("../../../migrations/sqlite/0012_webhook_parking.sql"),
    ),
    (
        13,
        "webhook_fan_out",
        include_str!("../../../migrations/sqlite/0013_webhook_fan_out.sql"),
    ),
];

/// Applies what is missing; returns the versions applied by this call.
pub(crate) fn run(conn: &mut Connection) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER NOT NULL PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let done: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, domain::Timestamp::now().millis()],
        )?;
        applied.push(*version);
    }
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_migrations_folder_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|(v, n, _)| format!("{v:04}_{n}.sql"))
            .collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn second_run_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
        let all: Vec<i64> = MIGRATIONS.iter().map(|(v, _, _)| *v).collect();
        assert_eq!(run(&mut conn).unwrap(), all);
        assert_eq!(run(&mut conn).unwrap(), Vec::<i64>::new());
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }
}
