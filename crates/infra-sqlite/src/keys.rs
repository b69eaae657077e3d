//! [`KeyRepository`] on SQLite: the `api_keys` table (migration 0003). Writes go through the
//! writer thread like every write; reads use the read pool.

use async_trait::async_trait;
use domain::{
    ApiKey, CreateKeyError, KeyId, KeyName, KeyRepository, ProjectId, RevokeKeyError, SecretHash,
    StorageError, Timestamp, keys,
};
use rusqlite::types::{FromSqlError, Type};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::SqlResultExt;
use crate::store::SqliteStore;

const COLUMNS: &str =
    "key_id, project, scopes, name, created_at, expires_at, revoked_at, secret_hash";

fn invalid(idx: usize, err: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(err))
}

fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    row.get::<_, Option<i64>>(idx)?
        .map(|ms| Timestamp::from_millis(ms).map_err(|e| invalid(idx, e)))
        .transpose()
}

fn key(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let scopes: String = row.get(2)?;
    let hash: Vec<u8> = row.get(7)?;
    Ok(ApiKey {
        id: KeyId::parse(row.get::<_, String>(0)?).map_err(|e| invalid(0, e))?,
        project: ProjectId::parse(row.get::<_, String>(1)?).map_err(|e| invalid(1, e))?,
        scopes: keys::parse_scopes(scopes.split(',')).map_err(|e| invalid(2, e))?,
        name: row
            .get::<_, Option<String>>(3)?
            .map(KeyName::parse)
            .transpose()
            .map_err(|e| invalid(3, e))?,
        created_at: time(row, 4)?.ok_or_else(|| invalid(4, FromSqlError::InvalidType))?,
        expires_at: time(row, 5)?,
        revoked_at: time(row, 6)?,
        secret_hash: SecretHash::from_bytes(&hash).map_err(|e| invalid(7, e))?,
    })
}

fn load(conn: &Connection, id: &str) -> rusqlite::Result<Option<ApiKey>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = ?1"))?
        .query_row([id], key)
        .optional()
}

/// Every key, or those of `project`, by creation time then id.
fn list(conn: &Connection, project: Option<&str>) -> rusqlite::Result<Vec<ApiKey>> {
    let order = "ORDER BY created_at, key_id";
    match project {
        Some(project) => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_keys WHERE project = ?1 {order}"
            ))?
            .query_map([project], key)?
            .collect(),
        None => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys {order}"))?
            .query_map([], key)?
            .collect(),
    }
}

fn scope_list(key: &ApiKey) -> String {
    key.scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[async_trait]
impl KeyRepository for SqliteStore {
    async fn create_key(&self, key: &ApiKey) -> Result<(), CreateKeyError> {
        let key = key.clone();
        self.writer
            .write(move |conn| {
                let inserted = conn
                    .prepare_cached(&format!(
                        "INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (key_id) DO NOTHING"
                    ))
                    .and_then(|mut insert| {
                        insert.execute(params![
                            key.id.as_str(),
                            key.project.as_str(),
                            scope_list(&key),
                            key.name.as_ref().map(KeyName::as_str),
                            key.created_at.millis(),
                            key.expires_at.map(Timestamp::millis),
                            key.revoked_at.map(Timestamp::millis),
                            key.secret_hash.as_bytes().as_slice(),
                        ])
                    })
                    .storage()?;
                if inserted == 0 {
                    return Err(CreateKeyError::IdTaken);
                }
                Ok(())
            })
            .await
    }

    async fn list_keys(&self, project: Option<&ProjectId>) -> Result<Vec<ApiKey>, StorageError> {
        let project = project.map(|p| p.as_str().to_owned());
        self.readers
            .read(move |conn| list(conn, project.as_deref()).storage())
            .await
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StorageError> {
        let id = id.as_str().to_owned();
        self.readers
            .read(move |conn| load(conn, &id).storage())
            .await
    }

    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, RevokeKeyError> {
        let id = id.as_str().to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL",
                )
                .and_then(|mut update| update.execute(params![id, at.millis()]))
                .storage()?;
                load(conn, &id).storage()?.ok_or(RevokeKeyError::NotFound)
            })
            .await
    }
}
