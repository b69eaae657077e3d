//! Opaque pagination cursors: a position in one walk, signed with HMAC-SHA256 so that a
//! tampered, truncated or foreign cursor is refused.
//!
//! A cursor is base64url (unpadded) of `head | MAC(secret, scope… | head)[..16]`, where `head`
//! starts with a version byte naming the kind of walk, then the order, then the position, and
//! `scope` is what the walk is bound to (each part followed by a 0 byte):
//! - events (version 1): head `1 | order | seq (8, big endian)`, scope `events`, the project,
//!   the session id, its `createdAt` in ms (8, big endian: the incarnation) and the view
//!   ([`EventScope`]);
//! - session lists (version 2): head `2 | order | createdAt ms (8, big endian) | sessionId`,
//!   scope `sessions`, the project and the filter's canonical text;
//! - webhook deliveries (version 3): head `3 | order (always desc) | messageId`, scope
//!   `deliveries`, the endpoint's id and the `status` asked for (empty: all).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::webhook::{DeliveryStatus, MessageId};
use domain::{
    Order, ProjectId, Session, SessionFilter, SessionId, SessionPosition, Timestamp, View,
    WebhookId,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::http::problem::{ApiError, ErrorCode};

const EVENTS: u8 = 1;
const SESSION_LISTS: u8 = 2;
const DELIVERIES: u8 = 3;
const MAC_LEN: usize = 16;
/// version, order, seq.
const EVENT_HEAD_LEN: usize = 1 + 1 + 8;
/// version, order, createdAt; the session id follows.
const POSITION_HEAD_LEN: usize = 1 + 1 + 8;

/// What every event cursor looks like (35 characters).
pub const PATTERN: &str = "^[A-Za-z0-9_-]{35}$";
/// What every session-list cursor looks like: 36 to 206 characters.
pub const LIST_PATTERN: &str = "^[A-Za-z0-9_-]{36,206}$";
/// What every delivery cursor looks like (a message id of 20 to 28 characters).
pub const DELIVERY_PATTERN: &str = "^[A-Za-z0-9_-]{51,62}$";

/// What an event cursor (a page's `nextCursor`, an SSE `id`) is bound to: the project, the
/// session's incarnation — its id and `createdAt`, so that an id erased and created again is
/// another session — and the view. Presented for another scope, a cursor is `invalid-cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventScope {
    pub project: ProjectId,
    pub session: SessionId,
    /// The session's `createdAt`.
    pub incarnation: Timestamp,
    pub view: View,
}

impl EventScope {
    /// The walk `view` of `session`, as stored now in `project`.
    pub fn of(project: &ProjectId, session: &Session, view: View) -> Self {
        Self::new(project, &session.id, session.created_at, view)
    }

    /// The walk `view` of the session `id` created at `incarnation` in `project`.
    pub fn new(project: &ProjectId, id: &SessionId, incarnation: Timestamp, view: View) -> Self {
        Self {
            project: project.clone(),
            session: id.clone(),
            incarnation,
            view,
        }
    }

    fn parts(&self) -> [Vec<u8>; 5] {
        [
            b"events".to_vec(),
            self.project.as_str().as_bytes().to_vec(),
            self.session.as_str().as_bytes().to_vec(),
            self.incarnation.millis().to_be_bytes().to_vec(),
            self.view.as_str().as_bytes().to_vec(),
        ]
    }
}

#[derive(Clone)]
pub struct CursorCodec {
    key: Hmac<Sha256>,
}

fn invalid(walk: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCursor,
        format!("the cursor is malformed, altered, or was issued for another {walk}"),
    )
}

/// Checks that `cursor` has the form of an event cursor (its length and kind), which needs no
/// session: a malformed cursor is 400 `invalid-cursor` before the session is looked up,
/// whatever the session (absent, erased). Its binding to the walk is checked once the session
/// is known ([`CursorCodec::decode`]).
pub fn check_event_form(cursor: &str) -> Result<(), ApiError> {
    unchecked_position(cursor).map(drop)
}

/// The position an event cursor of the right form ([`check_event_form`]) names, its binding
/// not checked: for a read made before the walk is known (a page, which tells its session's
/// incarnation), whose answer is dropped unless [`CursorCodec::decode`] then accepts the
/// cursor for that walk.
pub fn unchecked_position(cursor: &str) -> Result<u64, ApiError> {
    match URL_SAFE_NO_PAD.decode(cursor) {
        Ok(raw) if raw.len() == EVENT_HEAD_LEN + MAC_LEN && raw[0] == EVENTS => {
            let seq: [u8; 8] = raw[2..EVENT_HEAD_LEN].try_into().expect("8 bytes");
            Ok(u64::from_be_bytes(seq))
        }
        _ => Err(invalid(EVENT_WALK)),
    }
}

/// What an event cursor may have been issued for instead.
const EVENT_WALK: &str = "project, session, view or order";

fn order_byte(order: Order) -> u8 {
    match order {
        Order::Asc => 0,
        Order::Desc => 1,
    }
}

impl CursorCodec {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    fn mac(&self, scope: &[&[u8]], head: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        for part in scope {
            mac.update(part);
            mac.update(&[0]);
        }
        mac.update(head);
        mac
    }

    /// `head` signed for `scope`.
    fn seal(&self, scope: &[&[u8]], head: &[u8]) -> String {
        let tag = self.mac(scope, head).finalize().into_bytes();
        let mut raw = Vec::with_capacity(head.len() + MAC_LEN);
        raw.extend_from_slice(head);
        raw.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The head of `cursor` when it was sealed for `scope`, with `version` and `order`.
    fn open(
        &self,
        scope: &[&[u8]],
        version: u8,
        order: Order,
        cursor: &str,
        walk: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let mut raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid(walk))?;
        if raw.len() < 2 + MAC_LEN || raw[0] != version {
            return Err(invalid(walk));
        }
        let tag = raw.split_off(raw.len() - MAC_LEN);
        self.mac(scope, &raw)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid(walk))?;
        if raw[1] != order_byte(order) {
            return Err(invalid(walk));
        }
        Ok(raw)
    }

    /// A cursor after `seq` in the walk `scope`, in `order`.
    pub fn encode(&self, scope: &EventScope, order: Order, seq: u64) -> String {
        let mut head = [0u8; EVENT_HEAD_LEN];
        head[0] = EVENTS;
        head[1] = order_byte(order);
        head[2..].copy_from_slice(&seq.to_be_bytes());
        self.seal(&parts(&scope.parts()), &head)
    }

    /// The position a cursor stands for, when it was issued for this scope and order.
    pub fn decode(&self, scope: &EventScope, order: Order, cursor: &str) -> Result<u64, ApiError> {
        let head = self.open(&parts(&scope.parts()), EVENTS, order, cursor, EVENT_WALK)?;
        let seq: [u8; 8] = head[2..].try_into().map_err(|_| invalid(EVENT_WALK))?;
        Ok(u64::from_be_bytes(seq))
    }

    /// A cursor at `position` in the list of `project`'s sessions passing `filter`, in `order`.
    pub fn encode_position(
        &self,
        project: &ProjectId,
        filter: &SessionFilter,
        order: Order,
        position: &SessionPosition,
    ) -> String {
        let mut head = Vec::with_capacity(POSITION_HEAD_LEN + position.session_id.as_str().len());
        head.push(SESSION_LISTS);
        head.push(order_byte(order));
        head.extend_from_slice(&position.created_at.millis().to_be_bytes());
        head.extend_from_slice(position.session_id.as_str().as_bytes());
        self.seal(&parts(&list_scope(project, filter)), &head)
    }

    /// The position a cursor stands for, when it was issued for this project, filter and order.
    pub fn decode_position(
        &self,
        project: &ProjectId,
        filter: &SessionFilter,
        order: Order,
        cursor: &str,
    ) -> Result<SessionPosition, ApiError> {
        let walk = "project, filter or order";
        let scope = list_scope(project, filter);
        let head = self.open(&parts(&scope), SESSION_LISTS, order, cursor, walk)?;
        if head.len() <= POSITION_HEAD_LEN {
            return Err(invalid(walk));
        }
        let millis: [u8; 8] = head[2..POSITION_HEAD_LEN].try_into().expect("8 bytes");
        let created_at =
            Timestamp::from_millis(i64::from_be_bytes(millis)).map_err(|_| invalid(walk))?;
        let id = std::str::from_utf8(&head[POSITION_HEAD_LEN..]).map_err(|_| invalid(walk))?;
        let session_id = SessionId::parse(id).map_err(|_| invalid(walk))?;
        Ok(SessionPosition {
            created_at,
            session_id,
        })
    }
}

impl CursorCodec {
    /// A cursor after `message` in the deliveries of `endpoint` (of `status`, or all).
    pub fn encode_delivery(
        &self,
        endpoint: &WebhookId,
        status: Option<DeliveryStatus>,
        message: &MessageId,
    ) -> String {
        let mut head = vec![DELIVERIES, order_byte(Order::Desc)];
        head.extend_from_slice(message.as_str().as_bytes());
        self.seal(&parts(&delivery_scope(endpoint, status)), &head)
    }

    /// The message a cursor stands after, when it was issued for this endpoint and status.
    pub fn decode_delivery(
        &self,
        endpoint: &WebhookId,
        status: Option<DeliveryStatus>,
        cursor: &str,
    ) -> Result<MessageId, ApiError> {
        let walk = "webhook endpoint or status";
        let scope = delivery_scope(endpoint, status);
        let head = self.open(&parts(&scope), DELIVERIES, Order::Desc, cursor, walk)?;
        let id = std::str::from_utf8(&head[2..]).map_err(|_| invalid(walk))?;
        MessageId::parse(id).map_err(|_| invalid(walk))
    }
}

/// What a delivery cursor is bound to: the endpoint and the status asked for.
fn delivery_scope(endpoint: &WebhookId, status: Option<DeliveryStatus>) -> [Vec<u8>; 3] {
    [
        b"deliveries".to_vec(),
        endpoint.as_str().as_bytes().to_vec(),
        status
            .map_or("", DeliveryStatus::as_str)
            .as_bytes()
            .to_vec(),
    ]
}

/// What a session-list cursor is bound to: the project and the filter.
fn list_scope(project: &ProjectId, filter: &SessionFilter) -> [Vec<u8>; 3] {
    [
        b"sessions".to_vec(),
        project.as_str().as_bytes().to_vec(),
        filter.canonical().into_bytes(),
    ]
}

fn parts(scope: &[Vec<u8>]) -> Vec<&[u8]> {
    scope.iter().map(Vec::as_slice).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters of `bytes` bytes in unpadded base64.
    fn encoded_len(bytes: usize) -> usize {
        (bytes * 4).div_ceil(3)
    }

    fn sid(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    /// Session `session` of project `project`, created at `ms`.
    fn scope(project: &str, session: &str, ms: i64) -> EventScope {
        EventScope {
            project: ProjectId::parse(project).unwrap(),
            session: sid(session),
            incarnation: Timestamp::from_millis(ms).unwrap(),
            view: View::All,
        }
    }

    fn s1() -> EventScope {
        scope("p1", "s1", 1_700_000_000_000)
    }

    #[test]
    fn cursors_match_the_documented_pattern() {
        let c = CursorCodec::new(b"secret").encode(&s1(), Order::Asc, 7);
        assert_eq!(
            PATTERN,
            format!(
                "^[A-Za-z0-9_-]{{{}}}$",
                (EVENT_HEAD_LEN + MAC_LEN).div_ceil(3) * 4 - 1
            )
        );
        assert_eq!(c.len(), 35);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }

    #[test]
    fn round_trips() {
        let codec = CursorCodec::new(b"secret");
        for seq in [0, 1, 42, u64::MAX] {
            for order in [Order::Asc, Order::Desc] {
                let c = codec.encode(&s1(), order, seq);
                assert_eq!(codec.decode(&s1(), order, &c).unwrap(), seq);
            }
        }
    }

    #[test]
    fn refuses_tampered_foreign_and_malformed() {
        let codec = CursorCodec::new(b"secret");
        let c = codec.encode(&s1(), Order::Asc, 7);
        let refused = |scope: &EventScope, order: Order, cursor: &str| {
            codec.decode(scope, order, cursor).unwrap_err().code == ErrorCode::InvalidCursor
        };
        let created = s1().incarnation.millis();
        let other_session = scope("p1", "s2", created);
        assert!(refused(&other_session, Order::Asc, &c), "foreign session");
        let other_project = scope("p2", "s1", created);
        assert!(
            refused(&other_project, Order::Asc, &c),
            "same id, other project"
        );
        let again = scope("p1", "s1", created + 1);
        assert!(refused(&again, Order::Asc, &c), "erased and created again");
        // The parts are delimited: `p1`+`s1` is not `p` + `1s1`.
        assert!(refused(&scope("p", "1s1", created), Order::Asc, &c));
        assert!(refused(&s1(), Order::Desc, &c), "other order");
        assert!(refused(&s1(), Order::Asc, &c[..c.len() - 1]), "truncated");
        assert!(refused(&s1(), Order::Asc, "not a cursor!"), "garbage");
        assert!(refused(&s1(), Order::Asc, ""), "empty");
        // flip each character in turn
        for i in 0..c.len() {
            let mut bytes = c.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != c {
                assert!(refused(&s1(), Order::Asc, &tampered), "tampered at {i}");
            }
        }
        let other_key = CursorCodec::new(b"other").encode(&s1(), Order::Asc, 7);
        assert!(refused(&s1(), Order::Asc, &other_key), "other secret");
    }

    fn position(ms: i64, id: &str) -> SessionPosition {
        SessionPosition {
            created_at: Timestamp::from_millis(ms).unwrap(),
            session_id: sid(id),
        }
    }

    fn filter(statuses: &[domain::SessionStatus], labels: &[(&str, &str)]) -> SessionFilter {
        let labels = labels
            .iter()
            .map(|(k, v)| domain::Label::new(*k, *v))
            .collect();
        SessionFilter::new(statuses.to_vec(), None, None, labels).unwrap()
    }

    #[test]
    fn list_cursors_round_trip_and_match_their_pattern() {
        let codec = CursorCodec::new(b"secret");
        let project = ProjectId::parse("p1").unwrap();
        let pattern_bounds = |len: usize| {
            assert!(
                (encoded_len(2 + 8 + 1 + MAC_LEN)..=encoded_len(2 + 8 + 128 + MAC_LEN))
                    .contains(&len)
            )
        };
        assert_eq!(
            LIST_PATTERN,
            format!(
                "^[A-Za-z0-9_-]{{{},{}}}$",
                encoded_len(2 + 8 + 1 + MAC_LEN),
                encoded_len(2 + 8 + SessionId::MAX_LEN + MAC_LEN)
            )
        );
        assert_eq!(
            PATTERN,
            format!(
                "^[A-Za-z0-9_-]{{{}}}$",
                encoded_len(EVENT_HEAD_LEN + MAC_LEN)
            )
        );
        for p in [
            position(0, "a"),
            position(-62_135_596_800_000, "x"),
            position(1_700_000_000_123, &"z".repeat(128)),
        ] {
            for order in [Order::Asc, Order::Desc] {
                let f = filter(&[domain::SessionStatus::Active], &[("agent", "ann")]);
                let c = codec.encode_position(&project, &f, order, &p);
                pattern_bounds(c.len());
                assert_eq!(codec.decode_position(&project, &f, order, &c).unwrap(), p);
            }
        }
    }

    #[test]
    fn list_cursors_are_bound_to_project_filter_and_order() {
        let codec = CursorCodec::new(b"secret");
        let p1 = ProjectId::parse("p1").unwrap();
        let p2 = ProjectId::parse("p2").unwrap();
        let f = filter(&[domain::SessionStatus::Active], &[("agent", "ann")]);
        let c = codec.encode_position(&p1, &f, Order::Desc, &position(5, "s1"));
        let refused = |project: &ProjectId, filter: &SessionFilter, order: Order, cursor: &str| {
            codec
                .decode_position(project, filter, order, cursor)
                .unwrap_err()
                .code
                == ErrorCode::InvalidCursor
        };
        assert!(refused(&p2, &f, Order::Desc, &c), "other project");
        assert!(refused(&p1, &f, Order::Asc, &c), "other order");
        assert!(
            refused(&p1, &filter(&[], &[("agent", "ann")]), Order::Desc, &c),
            "no status"
        );
        assert!(refused(
            &p1,
            &filter(&[domain::SessionStatus::Active], &[]),
            Order::Desc,
            &c
        ));
        assert!(refused(
            &p1,
            &filter(&[domain::SessionStatus::Active], &[("agent", "bob")]),
            Order::Desc,
            &c
        ));
        assert!(
            refused(&p1, &f, Order::Desc, &c[..c.len() - 1]),
            "truncated"
        );
        // An event cursor is no list cursor, and the other way round.
        let event = codec.encode(&s1(), Order::Desc, 5);
        assert!(refused(&p1, &f, Order::Desc, &event));
        assert!(codec.decode(&s1(), Order::Desc, &c).is_err());
        let same_filter = filter(
            &[domain::SessionStatus::Active],
            &[("agent", "ann"), ("agent", "ann")],
        );
        assert!(
            codec
                .decode_position(&p1, &same_filter, Order::Desc, &c)
                .is_ok()
        );
    }

    #[test]
    fn delivery_cursors_are_bound_to_their_endpoint_and_status() {
        let codec = CursorCodec::new(b"secret");
        let wh = |s: &str| WebhookId::parse(s).unwrap();
        let (a, b) = (wh("wh_00000000000000aa"), wh("wh_00000000000000bb"));
        let pending = Some(DeliveryStatus::Pending);
        let re = regex_lite(DELIVERY_PATTERN);
        for message in ["msg_000000000000002a", "msg_65a1b2c3d4e5f60718293a4b"] {
            let id = MessageId::parse(message).unwrap();
            let c = codec.encode_delivery(&a, pending, &id);
            assert!(re(&c), "{c} matches {DELIVERY_PATTERN}");
            assert_eq!(codec.decode_delivery(&a, pending, &c).unwrap(), id);
            assert!(
                codec.decode_delivery(&b, pending, &c).is_err(),
                "another endpoint"
            );
            assert!(
                codec.decode_delivery(&a, None, &c).is_err(),
                "another status"
            );
            let events = codec.encode(&s1(), Order::Desc, 3);
            assert!(
                codec.decode_delivery(&a, pending, &events).is_err(),
                "another walk"
            );
        }
    }

    /// `^[A-Za-z0-9_-]{m,n}$` checked by hand (no regex crate here).
    fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool {
        let bounds = &pattern[pattern.find('{').unwrap() + 1..pattern.find('}').unwrap()];
        let (min, max) = bounds.split_once(',').unwrap();
        let (min, max): (usize, usize) = (min.parse().unwrap(), max.parse().unwrap());
        move |s| {
            (min..=max).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
    }
}
