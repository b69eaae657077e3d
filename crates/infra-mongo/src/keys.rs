//! [`KeyRepository`] on MongoDB: the `api_keys` collection (migration 0003), one document per
//! key, unique on `keyId`. A revocation is one conditional update; no transaction anywhere.

use async_trait::async_trait;
use domain::{
    ApiKey, CreateKeyError, KeyId, KeyName, KeyRepository, ProjectId, RevokeKeyError, SecretHash,
    StorageError, Timestamp, keys,
};
use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{self, Binary, Bson, Document, doc, spec::BinarySubtype};

use crate::error::{MongoResultExt, is_duplicate_key, storage_error};
use crate::schema;
use crate::store::MongoStore;

fn date(t: Timestamp) -> bson::DateTime {
    bson::DateTime::from_millis(t.millis())
}

fn optional_date(t: Option<Timestamp>) -> Bson {
    t.map_or(Bson::Null, |t| Bson::DateTime(date(t)))
}

fn key_doc(key: &ApiKey) -> Document {
    doc! {
        "keyId": key.id.as_str(),
        "project": key.project.as_str(),
        "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "name": key.name.as_ref().map(KeyName::as_str),
        "createdAt": date(key.created_at),
        "expiresAt": optional_date(key.expires_at),
        "revokedAt": optional_date(key.revoked_at),
        "secretHash": Binary { subtype: BinarySubtype::Generic, bytes: key.secret_hash.as_bytes().to_vec() },
    }
}

fn corrupt(field: &str, why: impl std::fmt::Display) -> StorageError {
    StorageError::Internal(format!("stored key has a bad {field}: {why}"))
}

fn time(d: &Document, field: &str) -> Result<Option<Timestamp>, StorageError> {
    match d.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::DateTime(t)) => Timestamp::from_millis(t.timestamp_millis())
            .map(Some)
            .map_err(|e| corrupt(field, e)),
        Some(other) => Err(corrupt(field, other)),
    }
}

fn key_from(d: &Document) -> Result<ApiKey, StorageError> {
    let text = |field: &str| d.get_str(field).map_err(|e| corrupt(field, e));
    let scopes = d.get_array("scopes").map_err(|e| corrupt("scopes", e))?;
    let names: Vec<&str> = scopes.iter().filter_map(Bson::as_str).collect();
    let hash = d
        .get_binary_generic("secretHash")
        .map_err(|e| corrupt("secretHash", e))?;
    Ok(ApiKey {
        id: KeyId::parse(text("keyId")?).map_err(|e| corrupt("keyId", e))?,
        project: ProjectId::parse(text("project")?).map_err(|e| corrupt("project", e))?,
        scopes: keys::parse_scopes(names).map_err(|e| corrupt("scopes", e))?,
        name: match d.get("name") {
            None | Some(Bson::Null) => None,
            Some(Bson::String(name)) => {
                Some(KeyName::parse(name.as_str()).map_err(|e| corrupt("name", e))?)
            }
            Some(other) => return Err(corrupt("name", other)),
        },
        created_at: time(d, "createdAt")?.ok_or_else(|| corrupt("createdAt", "missing"))?,
        expires_at: time(d, "expiresAt")?,
        revoked_at: time(d, "revokedAt")?,
        secret_hash: SecretHash::from_bytes(hash).map_err(|e| corrupt("secretHash", e))?,
    })
}

impl MongoStore {
    fn keys(&self) -> Collection<Document> {
        self.driver().db.collection(schema::API_KEYS)
    }
}

#[async_trait]
impl KeyRepository for MongoStore {
    async fn create_key(&self, key: &ApiKey) -> Result<(), CreateKeyError> {
        match self.keys().insert_one(key_doc(key)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(CreateKeyError::IdTaken),
            Err(e) => Err(storage_error(e).into()),
        }
    }

    async fn list_keys(&self, project: Option<&ProjectId>) -> Result<Vec<ApiKey>, StorageError> {
        let filter = match project {
            Some(project) => doc! { "project": project.as_str() },
            None => doc! {},
        };
        let docs: Vec<Document> = self
            .keys()
            .find(filter)
            .sort(doc! { "createdAt": 1, "keyId": 1 })
            .await
            .storage()?
            .try_collect()
            .await
            .storage()?;
        docs.iter().map(key_from).collect()
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StorageError> {
        self.keys()
            .find_one(doc! { "keyId": id.as_str() })
            .await
            .storage()?
            .as_ref()
            .map(key_from)
            .transpose()
    }

    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, RevokeKeyError> {
        // Only the first revocation writes `revokedAt`; later ones change nothing. The
        // condition is in the update, so that the filter is the `keyId_unique` index alone
        // (SecantusDB's planner scans the collection for a residual clause).
        self.keys()
            .update_one(
                doc! { "keyId": id.as_str() },
                vec![doc! { "$set": { "revokedAt": { "$ifNull": ["$revokedAt", date(at)] } } }],
            )
            .await
            .storage()?;
        self.find_key(id).await?.ok_or(RevokeKeyError::NotFound)
    }
}
