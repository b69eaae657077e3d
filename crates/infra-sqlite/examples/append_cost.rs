//! Appends per second on a fresh store file: `TASKS` concurrent writers, `PER_TASK` appends
//! each, into one session per writer (group commit as in production). Used to measure what a
//! setting of the write connection costs (docs/privacy.md, "secure_delete").
//!
//! `cargo run -p infra-sqlite --example append_cost [tasks] [per_task]`

use std::time::Instant;

use domain::{
    EventId, EventRepository, EventType, JsonObject, NewEvent, NewSession, ProjectId, SessionId,
    SessionRepository,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let tasks = args.next().unwrap_or(32);
    let per_task = args.next().unwrap_or(500);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("cost.db"))).expect("open");
    let project = ProjectId::default_project();
    let payload = JsonObject::from_stored(format!(r#"{{"text":"{}"}}"#, "x".repeat(300))).unwrap();
    let started = Instant::now();
    let writers: Vec<_> = (0..tasks)
        .map(|t| {
            let (store, project, payload) = (store.clone(), project.clone(), payload.clone());
            tokio::spawn(async move {
                let id = SessionId::parse(format!("s{t}")).unwrap();
                let new =
                    NewSession::new(id.clone(), None, None, JsonObject::empty(), None).unwrap();
                store.create_session(&project, new).await.unwrap();
                for i in 0..per_task {
                    let event = NewEvent::new(
                        EventId::parse(format!("e{i}")).unwrap(),
                        EventType::parse("user_speech").unwrap(),
                        payload.clone(),
                    );
                    store.append_event(&project, &id, event).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = tasks * per_task;
    println!(
        "{total} appends by {tasks} writers in {seconds:.2} s: {:.0} appends/s",
        total as f64 / seconds
    );
}
