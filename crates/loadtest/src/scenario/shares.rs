//! Pure pieces of the work: which sessions a worker owns, its share of the prefill, the body of
//! an append, what is read from responses (the items of a batch, a page's and a session's
//! fields).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

/// What a page response says about what follows it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageMeta {
    pub(super) has_more: bool,
    pub(super) next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
/// The fields of a session that the setup reads.
pub(super) struct SessionMeta {
    pub(super) status: String,
    pub(super) event_count: u64,
    pub(super) last_seq: u64,
}

/// The sessions (indexes into `ctx.sessions`) that a worker appends to. With at least as many
/// sessions as workers, each worker owns its own; otherwise workers share them round robin.
pub fn owned_sessions(worker: usize, workers: usize, sessions: usize) -> Vec<usize> {
    if sessions == 0 {
        Vec::new()
    } else if sessions >= workers {
        (worker..sessions).step_by(workers).collect()
    } else {
        vec![worker % sessions]
    }
}

/// The prefill work of one worker: (session index, events to append), splitting each session's
/// deficit among the workers that share it.
pub fn prefill_share(worker: usize, workers: usize, deficits: &[u64]) -> Vec<(usize, u64)> {
    let n = deficits.len();
    if n == 0 {
        return Vec::new();
    }
    if n >= workers {
        return owned_sessions(worker, workers, n)
            .into_iter()
            .map(|s| (s, deficits[s]))
            .collect();
    }
    let s = worker % n;
    let sharers = (workers - s).div_ceil(n) as u64;
    let rank = (worker / n) as u64;
    let d = deficits[s];
    let share = d * (rank + 1) / sharers - d * rank / sharers;
    vec![(s, share)]
}

/// The body of an event append: deterministic from its id and number.
pub fn event_body(event_id: &str, k: u64, with_timestamp: bool) -> Bytes {
    const KINDS: [&str; 5] = [
        "user_speech",
        "bot_speech",
        "user_speech",
        "bot_speech",
        "system",
    ];
    let kind = KINDS[(k % 5) as usize];
    let timestamp = if with_timestamp {
        format!(
            r#","timestamp":"2026-01-01T{:02}:{:02}:{:02}.{:03}Z""#,
            (k / 3_600_000) % 24,
            (k / 60_000) % 60,
            (k / 1000) % 60,
            k % 1000
        )
    } else {
        String::new()
    };
    Bytes::from(format!(
        r#"{{"eventId":"{event_id}","type":"{kind}","payload":{{"text":"turn {k}: I would like to know the status of my order","turn":{k},"confidence":0.93,"words":[{{"w":"order","startMs":1200}},{{"w":"status","startMs":1480}}]}}{timestamp}}}"#
    ))
}

/// The items of a batch response (`{"data":[{"event":…,"replayed":…},…]}`): per item its seq,
/// the event and whether it was a replay; exactly `expected` of them.
pub fn batch_events(body: &[u8], expected: usize) -> Result<Vec<(u64, Value, bool)>, String> {
    #[derive(Deserialize)]
    struct Item {
        event: Value,
        replayed: bool,
    }
    #[derive(Deserialize)]
    struct Batch {
        data: Vec<Item>,
    }
    let batch: Batch =
        serde_json::from_slice(body).map_err(|e| format!("not a batch response: {e}"))?;
    if batch.data.len() != expected {
        return Err(format!(
            "{} items answered for {expected} sent",
            batch.data.len()
        ));
    }
    batch
        .data
        .into_iter()
        .map(|item| match item.event.get("seq").and_then(Value::as_u64) {
            Some(seq) => Ok((seq, item.event, item.replayed)),
            None => Err(format!("an item has no seq: {}", item.event)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_responses_are_read_item_by_item() {
        let body = br#"{"data":[{"event":{"eventId":"a","seq":7},"replayed":false},{"event":{"eventId":"b","seq":8},"replayed":true}]}"#;
        let items = batch_events(body, 2).unwrap();
        assert_eq!(items[0].0, 7);
        assert_eq!(items[1].1["eventId"], "b");
        assert!(!items[0].2 && items[1].2);
        assert!(
            batch_events(body, 3)
                .unwrap_err()
                .contains("2 items answered for 3")
        );
        assert!(batch_events(br#"{"data":[{"event":{},"replayed":false}]}"#, 1).is_err());
        assert!(batch_events(b"[]", 0).is_err());
    }

    #[test]
    fn sessions_are_owned_or_shared() {
        assert_eq!(owned_sessions(1, 4, 10), vec![1, 5, 9]);
        assert_eq!(owned_sessions(5, 8, 2), vec![1]);
        // Every session has at least one owner.
        for (workers, sessions) in [(64, 1), (64, 64), (64, 1000), (3, 7)] {
            let mut seen = vec![false; sessions];
            for w in 0..workers {
                for s in owned_sessions(w, workers, sessions) {
                    seen[s] = true;
                }
            }
            assert!(
                seen.iter().all(|x| *x),
                "{workers} workers, {sessions} sessions"
            );
        }
    }

    #[test]
    fn prefill_shares_add_up() {
        for (workers, deficits) in [
            (64usize, vec![100_000u64]),
            (64, vec![1000, 0, 7]),
            (5, vec![3; 12]),
            (7, vec![10, 11]),
        ] {
            let mut total = vec![0u64; deficits.len()];
            for w in 0..workers {
                for (s, n) in prefill_share(w, workers, &deficits) {
                    total[s] += n;
                }
            }
            assert_eq!(total, deficits, "{workers} workers");
        }
    }

    #[test]
    fn event_bodies_are_json() {
        for k in [0, 1, 4, 1234567] {
            let body = event_body("e-1", k, k.is_multiple_of(2));
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["eventId"], "e-1");
            assert_eq!(v["payload"]["turn"], k);
        }
    }
}
