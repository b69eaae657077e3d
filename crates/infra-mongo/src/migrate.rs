//! Versioned migrations from `migrations/mongo/`: each is a JSON array of database commands
//! (collections with `$jsonSchema` validators, indexes), and for one of them a step no command
//! can do (`backfill_labels`). Every command is idempotent, so instances starting at the same
//! moment may all run a migration; the first to finish records it in `schema_migrations` and
//! later starts skip it. A migration depends on the schema it applies only: the names in
//! `schema.rs` and the documents' layout in `documents.rs`, never on the store's operations.

use futures_util::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{self, Binary, Bson, Document, doc, spec::BinarySubtype};
use rand::RngCore;

use crate::documents::{self, date};
use crate::error::{MongoResultExt, is_duplicate_key, storage_error};
use crate::schema;
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
    (
        6,
        "retention",
        include_str!("../../../migrations/mongo/0006_retention.json"),
    ),
    (
        7,
        "erasure_token",
        include_str!("../../../migrations/mongo/0007_erasure_token.json"),
    ),
    (
        8,
        "corrections",
        include_str!("../../../migrations/mongo/0008_corrections.json"),
    ),
    (
        9,
        "webhooks",
        include_str!("../../../migrations/mongo/0009_webhooks.json"),
    ),
    (
        10,
        "webhook_deliveries",
        include_str!("../../../migrations/mongo/0010_webhook_deliveries.json"),
    ),
    (
        11,
        "webhook_repair",
        include_str!("../../../migrations/mongo/0011_webhook_repair.json"),
    ),
    (
        12,
        "webhook_pruning",
        include_str!("../../../migrations/mongo/0012_webhook_pruning.json"),
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
    let recorded = db.collection::<Document>(schema::SCHEMA_MIGRATIONS);
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
            backfill_labels(db).await?;
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
    match db
        .collection::<Document>(schema::META)
        .insert_one(secret)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_duplicate_key(&e) => Ok(()),
        Err(e) => Err(storage_error(e)),
    }
}

/// Gives every session stored before migration 0004 its `labels` (from its metadata text: no
/// database command parses JSON text), and its status copy as its events say (stores written
/// before the copy existed, or a copy lost to a crash after the seal). Idempotent: only
/// documents without `labels` are read and written, so instances running it at once agree.
async fn backfill_labels(db: &mongodb::Database) -> Result<(), StorageError> {
    let sessions = db.collection::<Document>(schema::SESSIONS);
    let events = db.collection::<Document>(schema::EVENTS);
    let mut cursor = sessions
        .find(doc! { "labels": { "$exists": false } })
        .await
        .storage()?;
    while let Some(d) = cursor.try_next().await.storage()? {
        let top = events
            .find_one(doc! {
                "project": d.get("project").cloned().unwrap_or(Bson::Null),
                "sessionId": d.get("sessionId").cloned().unwrap_or(Bson::Null),
            })
            .sort(doc! { "seq": -1 })
            .await
            .storage()?;
        let session = documents::session(&d, top.as_ref())?;
        let labels = documents::labels(&session.metadata);
        sessions
            .update_one(
                doc! { "_id": d.get("_id").cloned().unwrap_or(Bson::Null), "labels": { "$exists": false } },
                doc! { "$set": {
                    "labels": labels,
                    "status": session.status.as_str(),
                    "endedAt": session.ended_at.map(date),
                } },
            )
            .await
            .storage()?;
    }
    Ok(())
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

    /// Every name `schema.rs` gives is the one a migration creates.
    #[test]
    fn the_migrations_create_every_index_and_collection_named_in_the_schema() {
        let all: String = MIGRATIONS.iter().map(|(_, _, json)| *json).collect();
        for index in [schema::BY_CREATED, schema::BY_STATUS, schema::BY_LABELS] {
            assert!(all.contains(&format!("\"name\": \"{index}\"")), "{index}");
        }
        for collection in [
            schema::SESSIONS,
            schema::EVENTS,
            schema::API_KEYS,
            schema::WEBHOOK_ENDPOINTS,
        ] {
            assert!(all.contains(&format!("\"{collection}\"")), "{collection}");
        }
    }
}
