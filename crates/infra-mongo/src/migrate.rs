//! Versioned migrations from `migrations/mongo/`: each is a JSON array of database commands
//! (collections with `$jsonSchema` validators, indexes). Every command is idempotent, so
//! instances starting at the same moment may all run a migration; the first to finish records
//! it in `schema_migrations` and later starts skip it.

use mongodb::Database;
use mongodb::bson::{self, Binary, Document, doc, spec::BinarySubtype};
use rand::RngCore;

use crate::error::{is_duplicate_key, storage_error};
use domain::StorageError;

/// Every migration, in order: (version, name, commands as JSON). Add a file and a line here.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/mongo/0001_init.json"),
    ),
    (
        2,
        "projects",
        include_str!("../../../migrations/mongo/0002_projects.json"),
    ),
    (
        3,
        "keys",
        include_str!("../../../migrations/mongo/0003_keys.json"),
    ),
    (
        4,
        "session_lists",
        include_str!("../../../migrations/mongo/0004_session_lists.json"),
    ),
    (
        5,
        "erasure",
        include_str!("../../../migrations/mongo/0005_erasure.json"),
    ),
];

/// Errors that mean "done already", so a command run twice (or by two instances) succeeds:
/// the collection exists, the index is gone.
const NAMESPACE_EXISTS: i32 = 48;
const INDEX_NOT_FOUND: i32 = 27;

fn commands(json: &str) -> Result<Vec<Document>, StorageError> {
    let values: Vec<serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| StorageError::Internal(format!("bad migration file: {e}")))?;
    values
        .iter()
        .map(|v| {
            bson::to_document(v)
                .map_err(|e| StorageError::Internal(format!("bad migration command: {e}")))
        })
        .collect()
}

/// Applies what is missing; returns the versions this call recorded.
pub(crate) async fn run(db: &Database) -> Result<Vec<i64>, StorageError> {
    let recorded = db.collection::<Document>("schema_migrations");
    let mut applied = Vec::new();
    for (version, name, json) in MIGRATIONS {
        if recorded
            .find_one(doc! { "_id": version })
            .await
            .map_err(storage_error)?
            .is_some()
        {
            continue;
        }
        for command in commands(json)? {
            match db.run_command(command).await {
                Ok(_) => {}
                Err(e) if matches!(code_of(&e), Some(NAMESPACE_EXISTS | INDEX_NOT_FOUND)) => {}
                Err(e) => return Err(storage_error(e)),
            }
        }
        // What a command cannot do: before the record, so an interrupted step runs again.
        if *version == 4 {
            crate::sessions_list::backfill_labels(db).await?;
        }
        let record = doc! {
            "_id": version,
            "name": name,
            "appliedAt": bson::DateTime::now(),
        };
        match recorded.insert_one(record).await {
            Ok(_) => applied.push(*version),
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(storage_error(e)),
        }
    }
    ensure_shared_secret(db).await?;
    Ok(applied)
}

fn code_of(err: &mongodb::error::Error) -> Option<i32> {
    match err.kind.as_ref() {
        mongodb::error::ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// Creates the store's shared secret once; concurrent starts agree on the first one written.
async fn ensure_shared_secret(db: &Database) -> Result<(), StorageError> {
    let mut bytes = vec![0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = doc! {
        "_id": "shared_secret",
        "value": Binary { subtype: BinarySubtype::Generic, bytes },
    };
    match db.collection::<Document>("meta").insert_one(secret).await {
        Ok(_) => Ok(()),
        Err(e) if is_duplicate_key(&e) => Ok(()),
        Err(e) => Err(storage_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_migrations_folder_is_listed_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/mongo");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|(v, n, _)| format!("{v:04}_{n}.json"))
            .collect();
        assert_eq!(files, listed);
        for (_, _, json) in MIGRATIONS {
            assert!(!commands(json).unwrap().is_empty());
        }
    }
}
