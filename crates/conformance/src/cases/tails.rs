//! Live tails: `changed_sessions` reports appends and the close, not other projects' sessions.

use domain::{ProjectId, Watch};

use super::support::{Repo, append, complete, session};
use crate::fixtures::{project, sid};

/// Live tails ask which watched sessions changed beyond a known version: every append and the
/// close raise the version; absent sessions and other projects' sessions are left out.
pub async fn changed_sessions_reports_appends_and_the_close(repo: Repo) {
    let watch = |s: &str, known: u64| Watch {
        project: project(),
        session: sid(s),
        known,
    };
    let changed = |watches: Vec<Watch>| {
        let repo = repo.clone();
        async move {
            let mut found = repo.changed_sessions(&watches).await.unwrap();
            found.sort();
            found
        }
    };
    session(&repo, "quiet").await;
    session(&repo, "busy").await;
    assert_eq!(changed(vec![watch("quiet", 0), watch("busy", 0)]).await, []);
    append(&repo, "busy", "e1").await;
    append(&repo, "busy", "e2").await;
    let watches = vec![
        watch("quiet", 0),
        watch("busy", 0),
        watch("absent", 0),
        Watch {
            project: ProjectId::parse("elsewhere").unwrap(),
            session: sid("busy"),
            known: 0,
        },
    ];
    assert_eq!(changed(watches).await, [(1, 2)]);
    assert_eq!(changed(vec![watch("busy", 2)]).await, []);
    let closed = repo
        .complete_session(&project(), &sid("busy"), complete())
        .await
        .unwrap()
        .value;
    assert_eq!(closed.version(), 3, "the close counts once");
    assert_eq!(changed(vec![watch("busy", 2)]).await, [(0, 3)]);
    assert_eq!(changed(vec![watch("busy", 3)]).await, []);
    assert_eq!(
        repo.get_session(&project(), &sid("busy"))
            .await
            .unwrap()
            .version(),
        3
    );
    // Many watches at once (more than one round of the adapter's batching).
    let mut many: Vec<Watch> = (0..450).map(|i| watch(&format!("none-{i}"), 0)).collect();
    many.push(watch("busy", 1));
    assert_eq!(changed(many).await, [(450, 3)]);
}
