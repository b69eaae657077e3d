//! Test support shared by the adapter and HTTP tests.
//!
//! [`mongo_uri`] finds a MongoDB for tests: `MONGO_TEST_URI` when set; otherwise a container
//! started with testcontainers when a Docker daemon is reachable; otherwise the test fails with
//! one line saying how to provide MongoDB. It never passes silently.

use std::sync::atomic::{AtomicU32, Ordering};

use testcontainers::ContainerAsync;
use testcontainers::runners::AsyncRunner;
use testcontainers_modules::mongo::Mongo;
use tokio::sync::OnceCell;

pub const HOW_TO_PROVIDE_MONGO: &str = "MongoDB tests need a server: run ./scripts/test (it starts a \
MongoDB-wire server), or set MONGO_TEST_URI=mongodb://HOST:PORT/?retryWrites=false, or make a \
Docker daemon reachable for testcontainers";

/// A started container, kept for the whole test process.
static CONTAINER: OnceCell<(ContainerAsync<Mongo>, String)> = OnceCell::const_new();

fn docker_reachable() -> bool {
    std::env::var_os("DOCKER_HOST").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists()
}

/// The connection string of a MongoDB for tests (see the module docs).
pub async fn mongo_uri() -> String {
    if let Ok(uri) = std::env::var("MONGO_TEST_URI")
        && !uri.trim().is_empty()
    {
        return uri;
    }
    if !docker_reachable() {
        panic!("{HOW_TO_PROVIDE_MONGO}");
    }
    let (_, uri) = CONTAINER
        .get_or_init(|| async {
            let node = Mongo::default()
                .start()
                .await
                .unwrap_or_else(|e| panic!("{HOW_TO_PROVIDE_MONGO} (testcontainers: {e})"));
            let port = node
                .get_host_port_ipv4(27017)
                .await
                .unwrap_or_else(|e| panic!("{HOW_TO_PROVIDE_MONGO} (testcontainers: {e})"));
            (
                node,
                format!("mongodb://127.0.0.1:{port}/?retryWrites=false"),
            )
        })
        .await;
    uri.clone()
}

/// A database name no other test uses, in this process or another.
pub fn unique_database(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}_{n}_{}", std::process::id(), &random[..8])
}
