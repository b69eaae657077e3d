//! Mapping between BSON documents and domain values.
//!
//! `sessions`: `{project, sessionId, status, language, metadata, startedAt, endedAt, createdAt,
//! updatedAt, labels}`, or an erased session's tombstone `{project, sessionId, erasedAt}` (plus
//! `erasure`, the retention erasure's token, see `erasure.rs`).
//! `events`: `{project, sessionId, seq, eventId, type, payload, timestamp, receivedAt}` (a
//! redacted one: `payload` `"{}"`, plus `redactedAt` and `fingerprint`); the seal is one more
//! document in `events` at the next `seq`: `{project, sessionId, seq, eventId: "~seal",
//! receivedAt, seal: {status, endedAt}}`. An erased session's events are blanked to `{project,
//! sessionId, seq, eventId: "~erased.<seq>", receivedAt: <erasure time>}` until its tombstone
//! is purged (see `erasure.rs`, `docs/privacy.md`). Payloads and metadata are kept as their
//! exact JSON text. Every filter on a session's documents starts from [`SessionKey::filter`].

use domain::{
    Event, EventId, EventType, Fingerprint, JsonObject, Label, Language, ProjectId, Redaction,
    Session, SessionId, SessionState, SessionStatus, StorageError, Timestamp,
};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, RawDocument, RawDocumentBuf, doc, rawdoc};

/// The `eventId` of the seal document; client ids can never take it (they start with a letter
/// or digit).
pub(crate) const SEAL_ID: &str = "~seal";

/// A session's identity in storage: its project and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    pub(crate) project: ProjectId,
    pub(crate) session: SessionId,
}

impl SessionKey {
    pub(crate) fn new(project: &ProjectId, session: &SessionId) -> Self {
        Self {
            project: project.clone(),
            session: session.clone(),
        }
    }

    /// The filter of the session's document, and the prefix of every filter on its events.
    pub(crate) fn filter(&self) -> Document {
        doc! { "project": self.project.as_str(), "sessionId": self.session.as_str() }
    }
}

pub(crate) fn date(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.millis())
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Internal(format!("stored document has a bad {what}"))
}

fn string<'a>(d: &'a Document, key: &str) -> Result<&'a str, StorageError> {
    d.get_str(key).map_err(|_| corrupt(key))
}

pub(crate) fn time(d: &Document, key: &str) -> Result<Timestamp, StorageError> {
    let dt = d.get_datetime(key).map_err(|_| corrupt(key))?;
    Timestamp::from_millis(dt.timestamp_millis()).map_err(|_| corrupt(key))
}

pub(crate) fn optional_time(d: &Document, key: &str) -> Result<Option<Timestamp>, StorageError> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => time(d, key).map(Some),
    }
}

fn status(value: &str) -> Result<SessionStatus, StorageError> {
    SessionStatus::parse(value).ok_or_else(|| corrupt("status"))
}

pub(crate) fn seq(d: &Document) -> Result<u64, StorageError> {
    let n = d.get_i64("seq").map_err(|_| corrupt("seq"))?;
    u64::try_from(n).map_err(|_| corrupt("seq"))
}

/// A session document's `createdAt`, its incarnation.
pub(crate) fn created_at(d: &Document) -> Result<Timestamp, StorageError> {
    time(d, "createdAt")
}

/// The indexed form of a session's metadata, its `labels` field: its [`Label`]s, encoded (see
/// `sessions_list.rs`).
pub(crate) fn labels(metadata: &JsonObject) -> Vec<String> {
    Label::all_of(metadata).iter().map(Label::encoded).collect()
}

/// A new session's document, with its [`labels`].
pub(crate) fn session_doc(project: &ProjectId, s: &Session) -> Document {
    doc! {
        "project": project.as_str(),
        "sessionId": s.id.as_str(),
        "status": s.status.as_str(),
        "language": s.language.as_ref().map(|l| l.as_str()),
        "metadata": s.metadata.as_str(),
        "startedAt": date(s.started_at),
        "endedAt": s.ended_at.map(date),
        "createdAt": date(s.created_at),
        "updatedAt": date(s.updated_at),
        "labels": labels(&s.metadata),
    }
}

/// An event as stored under the `_id` `id`, encoded straight to BSON bytes (no intermediate
/// [`Document`]), with its session's incarnation (`incarnation`: the session document's
/// `createdAt`, which a page reports without reading the session; absent from events written
/// before it was stored, whose pages read the session). The writer picks the `_id`, so that it
/// can take the insert back by it.
pub(crate) fn event_doc(
    id: ObjectId,
    project: &ProjectId,
    incarnation: Timestamp,
    e: &Event,
) -> RawDocumentBuf {
    let mut d = rawdoc! {
        "_id": id,
        "project": project.as_str(),
        "sessionId": e.session_id.as_str(),
        "seq": i64::try_from(e.seq).expect("seq stays below 2^63"),
        "eventId": e.event_id.as_str(),
        "type": e.event_type.as_str(),
        "payload": e.payload.as_str(),
        "timestamp": date(e.timestamp),
        "receivedAt": date(e.received_at),
        INCARNATION: date(incarnation),
    };
    // Absent unless set: `supersededBy` missing is what `view=current` finds (as null) on the
    // index `project_sessionId_supersededBy_seq`.
    if let Some(target) = &e.supersedes {
        d.append(SUPERSEDES, target.as_str());
    }
    if let Some(by) = &e.superseded_by {
        d.append(SUPERSEDED_BY, by.as_str());
    }
    d
}

/// The field of an event document holding its session's incarnation (see [`event_doc`]).
pub(crate) const INCARNATION: &str = "incarnation";

/// An event's fields of corrections (SPEC "Corrections").
pub(crate) const SUPERSEDES: &str = "supersedes";
pub(crate) const SUPERSEDED_BY: &str = "supersededBy";

pub(crate) fn seal_doc(
    key: &SessionKey,
    seq: u64,
    status: SessionStatus,
    ended_at: Timestamp,
    now: Timestamp,
) -> Document {
    doc! {
        "project": key.project.as_str(),
        "sessionId": key.session.as_str(),
        "seq": i64::try_from(seq).expect("seq stays below 2^63"),
        "eventId": SEAL_ID,
        "receivedAt": date(now),
        "seal": { "status": status.as_str(), "endedAt": date(ended_at) },
    }
}

/// A seal written by an erasure at `seq`: the seal of a failed session, under an `eventId` of
/// the blanks' form (an erasure writes several, see `erasure.rs`; `~seal` is unique per session).
pub(crate) fn erasure_seal(key: &SessionKey, seq: u64, at: Timestamp) -> Document {
    let mut seal = seal_doc(key, seq, SessionStatus::Failed, at, at);
    seal.insert("eventId", format!("{ERASED}{seq}"));
    seal
}

/// The `eventId` prefix of an erasure's seals and blanks.
const ERASED: &str = "~erased.";

/// The document is an erasure's seal or blank (see [`erasure_seal`], [`blanked`]).
pub(crate) fn is_erasure_left(d: &Document) -> bool {
    d.get_str("eventId").is_ok_and(|id| id.starts_with(ERASED))
}

/// The fields of an event document that hold its content: written by [`event_doc`] and
/// [`redaction_set`], read by [`event`], removed by an erasure ([`blanked`]). A new field of
/// events is a line here, its value in [`event_doc`] and its read in [`event`].
const CONTENT: [&str; 7] = [
    "type",
    "payload",
    "timestamp",
    "redactedAt",
    "fingerprint",
    SUPERSEDES,
    SUPERSEDED_BY,
];

/// The fields of an event document that [`event`] reads: the rest (`_id`, `project`,
/// `sessionId`) is known from the query and not sent back.
pub(crate) fn event_fields() -> Document {
    let mut fields = doc! { "_id": 0, "seq": 1, "eventId": 1, "receivedAt": 1, INCARNATION: 1 };
    for field in CONTENT {
        fields.insert(field, 1);
    }
    fields
}

/// An event of `session`, read from its stored BSON bytes as the server sent them (projected
/// with [`event_fields`]): see [`stored`]; a content-less document is corrupt here.
pub(crate) fn event(session: &SessionId, d: &RawDocument) -> Result<Event, StorageError> {
    stored(session, d)?.event.ok_or_else(|| corrupt("type"))
}

/// A document of the events collection as [`stored`] reads it.
pub(crate) struct Stored {
    pub(crate) seq: u64,
    /// `None` when it has no content (a seal, an erasure's blank: no `type`).
    pub(crate) event: Option<Event>,
    /// Its session's incarnation, when it was stored with it (see [`event_doc`]).
    pub(crate) incarnation: Option<Timestamp>,
}

/// A document of the events collection (projected with [`event_fields`]), read in one pass over
/// its bytes — each field found once, each string copied once, no intermediate [`Document`].
pub(crate) fn stored(session: &SessionId, d: &RawDocument) -> Result<Stored, StorageError> {
    let mut seq = None;
    let mut incarnation = None;
    let (mut event_id, mut kind, mut payload) = (None, None, None);
    let (mut timestamp, mut received_at, mut redacted_at) = (None, None, None);
    let (mut fingerprint, mut supersedes, mut superseded_by) = (None, None, None);
    for element in d {
        let (key, value) = element.map_err(|_| corrupt("event"))?;
        let text = || value.as_str().ok_or_else(|| corrupt(key));
        let time = || {
            let at = value.as_datetime().ok_or_else(|| corrupt(key))?;
            Timestamp::from_millis(at.timestamp_millis()).map_err(|_| corrupt(key))
        };
        let event_id_at = || EventId::parse(text()?).map_err(|_| corrupt(key));
        match key {
            "seq" => seq = Some(value.as_i64().ok_or_else(|| corrupt(key))?),
            // Parsed once known to be an event's (a seal's is not an event id).
            "eventId" => event_id = Some(text()?),
            "type" => kind = Some(EventType::parse(text()?).map_err(|_| corrupt(key))?),
            "payload" => {
                let stored = JsonObject::from_stored(text()?.to_owned());
                payload = Some(stored.map_err(|_| corrupt(key))?);
            }
            "timestamp" => timestamp = Some(time()?),
            "receivedAt" => received_at = Some(time()?),
            "redactedAt" => redacted_at = Some(time()?),
            INCARNATION => incarnation = Some(time()?),
            "fingerprint" => {
                let bytes = value.as_binary().map(|b| <[u8; 32]>::try_from(b.bytes));
                fingerprint = Some(bytes.and_then(Result::ok).ok_or_else(|| corrupt(key))?);
            }
            SUPERSEDES => supersedes = Some(event_id_at()?),
            SUPERSEDED_BY => superseded_by = Some(event_id_at()?),
            _ => {}
        }
    }
    let seq = u64::try_from(seq.ok_or_else(|| corrupt("seq"))?).map_err(|_| corrupt("seq"))?;
    let Some(event_type) = kind else {
        return Ok(Stored {
            seq,
            event: None,
            incarnation,
        });
    };
    let redaction = match redacted_at {
        None => None,
        Some(at) => Some(Redaction {
            at,
            fingerprint: Fingerprint(fingerprint.ok_or_else(|| corrupt("fingerprint"))?),
        }),
    };
    let event = Event {
        session_id: session.clone(),
        event_id: EventId::parse(event_id.ok_or_else(|| corrupt("eventId"))?)
            .map_err(|_| corrupt("eventId"))?,
        seq,
        event_type,
        payload: payload.ok_or_else(|| corrupt("payload"))?,
        timestamp: timestamp.ok_or_else(|| corrupt("timestamp"))?,
        received_at: received_at.ok_or_else(|| corrupt("receivedAt"))?,
        redaction,
        supersedes,
        superseded_by,
    };
    Ok(Stored {
        seq,
        event: Some(event),
        incarnation,
    })
}

/// The aggregation expression "the document has no `field`".
pub(crate) fn missing(field: &str) -> Document {
    doc! { "$eq": [{ "$type": format!("${field}") }, "missing"] }
}

/// The pipeline update `stages` made conditional on the document itself: each field a `$set`
/// stage sets takes its new value where `when` (an expression) holds, and keeps its own value
/// elsewhere (`$unset` stages pass through: callers unset only fields that the documents
/// failing `when` lack). A condition in the update rather than in the filter keeps the filter
/// on its index (SecantusDB's planner scans the collection for any residual clause); a document
/// left as it was is not counted as modified.
pub(crate) fn set_where(when: Document, stages: Vec<Document>) -> Vec<Document> {
    stages
        .into_iter()
        .map(|stage| match stage.get_document("$set") {
            Ok(set) => {
                let guarded: Document = set
                    .iter()
                    .map(|(field, value)| {
                        let kept = format!("${field}");
                        let value = doc! { "$cond": [when.clone(), value.clone(), kept] };
                        (field.clone(), value.into())
                    })
                    .collect();
                doc! { "$set": guarded }
            }
            Err(_) => stage,
        })
        .collect()
}

/// The pipeline update that sets a stored event's `supersededBy` to `by` unless it has one
/// (see [`set_where`]: the filter stays the unique index on the event id).
pub(crate) fn supersede(by: &EventId) -> Vec<Document> {
    set_where(
        missing(SUPERSEDED_BY),
        vec![doc! { "$set": { SUPERSEDED_BY: { "$literal": by.as_str() } } }],
    )
}

/// The `$set` that redacts a stored event (see [`Event::redact`]).
pub(crate) fn redaction_set(payload: &JsonObject, redaction: &Redaction) -> Document {
    doc! { "$set": {
        "payload": payload.as_str(),
        "redactedAt": date(redaction.at),
        "fingerprint": Binary { subtype: BinarySubtype::Generic, bytes: redaction.fingerprint.0.to_vec() },
    } }
}

/// The update blanking an erased session's events: only what keeps their `seq` taken remains
/// (see the module's documentation).
pub(crate) fn blanked(at: Timestamp) -> Vec<Document> {
    vec![
        doc! { "$set": {
            "eventId": { "$concat": [ERASED, { "$toString": "$seq" }] },
            "receivedAt": date(at),
        } },
        doc! { "$unset": CONTENT.to_vec() },
    ]
}

/// The terminal status and end time a seal document records.
pub(crate) fn seal(d: &Document) -> Result<Option<(SessionStatus, Timestamp)>, StorageError> {
    match d.get_document("seal") {
        Ok(seal) => Ok(Some((
            status(string(seal, "status")?)?,
            time(seal, "endedAt")?,
        ))),
        Err(_) => Ok(None),
    }
}

/// What the document with the highest `seq` of a session says of it: a seal (one `seq` above
/// the last event), or the last event.
pub(crate) fn state(top: &Document) -> Result<SessionState, StorageError> {
    let top_seq = seq(top)?;
    Ok(match seal(top)? {
        Some((status, ended_at)) => SessionState::Sealed {
            status,
            ended_at,
            last_seq: top_seq - 1,
        },
        None => SessionState::Open { last_seq: top_seq },
    })
}

/// A session as stored, completed by the top of its event index ([`state`], handed to
/// [`Session::record_state`]): the highest `seq` gives `lastSeq` and `eventCount` (seqs are
/// dense, see `docs/mongodb.md`), a seal on top gives the terminal status. The session document
/// itself is never the authority for those, so a crash between two writes cannot leave them
/// wrong.
pub(crate) fn session(d: &Document, top: Option<&Document>) -> Result<Session, StorageError> {
    let mut s = Session {
        id: SessionId::parse(string(d, "sessionId")?).map_err(|_| corrupt("sessionId"))?,
        status: status(string(d, "status")?)?,
        language: match d.get("language") {
            None | Some(Bson::Null) => None,
            Some(_) => {
                Some(Language::parse(string(d, "language")?).map_err(|_| corrupt("language"))?)
            }
        },
        metadata: JsonObject::from_stored(string(d, "metadata")?.to_owned())
            .map_err(|_| corrupt("metadata"))?,
        started_at: time(d, "startedAt")?,
        ended_at: optional_time(d, "endedAt")?,
        event_count: 0,
        last_seq: 0,
        created_at: time(d, "createdAt")?,
        updated_at: time(d, "updatedAt")?,
    };
    if let Some(top) = top {
        s.record_state(state(top)?, time(top, "receivedAt")?);
    }
    Ok(s)
}
