//! Paging a session's events: both orders, unknown and empty sessions, walks during appends (exact and tail-safe).

use domain::{Event, ListEventsError, Order, PageRequest};

use super::support::{Repo, append, assert_strictly_increasing, session, walk};
use crate::fixtures::{project, sid};

pub async fn pages_walk_both_orders(repo: Repo) {
    session(&repo, "s").await;
    let mut appended = Vec::new();
    for i in 0..23 {
        appended.push(append(&repo, "s", &format!("e{i:02}")).await.value);
    }
    for limit in [1, 5, 10, 23, 100] {
        assert_eq!(
            walk(&repo, "s", Order::Asc, limit).await,
            appended,
            "asc limit {limit}"
        );
        let mut reversed = appended.clone();
        reversed.reverse();
        assert_eq!(
            walk(&repo, "s", Order::Desc, limit).await,
            reversed,
            "desc limit {limit}"
        );
    }
    // has_more is exact at the boundary.
    let full = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                view: domain::View::All,
                after: None,
                order: Order::Asc,
                limit: 23,
            },
        )
        .await
        .unwrap();
    assert!(!full.has_more);
    let short = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                view: domain::View::All,
                after: None,
                order: Order::Asc,
                limit: 22,
            },
        )
        .await
        .unwrap();
    assert!(short.has_more);
    // A position past the end yields an empty page.
    let last = appended.last().unwrap().seq;
    let tail = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                view: domain::View::All,
                after: Some(last),
                order: Order::Asc,
                limit: 5,
            },
        )
        .await
        .unwrap();
    assert!(tail.events.is_empty() && !tail.has_more);
    let head = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                view: domain::View::All,
                after: Some(appended[0].seq),
                order: Order::Desc,
                limit: 5,
            },
        )
        .await
        .unwrap();
    assert!(head.events.is_empty() && !head.has_more);
}

pub async fn page_of_unknown_and_empty_sessions(repo: Repo) {
    let request = PageRequest {
        view: domain::View::All,
        after: None,
        order: Order::Asc,
        limit: 10,
    };
    assert_eq!(
        repo.list_events(&project(), &sid("nope"), request).await,
        Err(ListEventsError::SessionNotFound)
    );
    session(&repo, "empty").await;
    let page = repo
        .list_events(&project(), &sid("empty"), request)
        .await
        .unwrap();
    assert!(page.events.is_empty() && !page.has_more);
    assert_eq!(request.next_position(&page.events), None);
}

pub async fn walk_during_appends_is_exact_and_tail_safe(repo: Repo) {
    session(&repo, "s").await;
    for i in 0..30 {
        append(&repo, "s", &format!("before{i}")).await;
    }
    let before = walk(&repo, "s", Order::Asc, 100).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let repo = repo.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    append(&repo, "s", &format!("during-{w}-{i}")).await;
                }
            })
        })
        .collect();
    // Walk with small pages while the writers append, then keep tailing until quiet.
    let mut seen: Vec<Event> = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest {
            view: domain::View::All,
            after,
            order: Order::Asc,
            limit: 7,
        };
        let page = repo
            .list_events(&project(), &sid("s"), request)
            .await
            .unwrap();
        after = request.next_position(&page.events);
        let done = page.events.is_empty() && writers.iter().all(|w| w.is_finished());
        seen.extend(page.events);
        if done {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    // Tail once more after the writers finished.
    let request = PageRequest {
        view: domain::View::All,
        after,
        order: Order::Asc,
        limit: 500,
    };
    seen.extend(
        repo.list_events(&project(), &sid("s"), request)
            .await
            .unwrap()
            .events,
    );
    assert_strictly_increasing(&seen);
    assert_eq!(
        &seen[..before.len()],
        &before[..],
        "events stored before the walk, in order"
    );
    assert_eq!(
        seen,
        walk(&repo, "s", Order::Asc, 500).await,
        "the tail saw every event once"
    );
    assert_eq!(seen.len(), 130);
}
