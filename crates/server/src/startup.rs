//! Building the application: pick and open the store, run its migrations, bind, serve.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};
use anyhow::Context;
use app::{
    Access, Bounded, DispatchSettings, Dispatcher, Events, Health, Instrumented, Keys, Lifecycle,
    Metrics, RateLimit, Retention, Services, Sessions, StreamCaps, Sweeper, Tail, Webhooks,
};
use domain::{Repository, WebhookSender};
use infra_http::HttpSender;
use infra_mongo::{MongoOptions, MongoStore, write_concern as mongodb_write_concern};
use infra_sqlite::{SqliteOptions, SqliteStore};

use crate::config::{Settings, StorageSettings, WriteConcern};

pub struct Application {
    port: u16,
    server: Server,
    repo: Arc<dyn Repository>,
    tail: Arc<Tail>,
    lifecycle: Lifecycle,
    retention: Retention,
    /// Webhook attempts go out through it, as the dispatcher claims them.
    sender: Arc<dyn WebhookSender>,
    dispatch: DispatchSettings,
    metrics: Arc<Metrics>,
}

/// The most a webhook claim holds beyond `WEBHOOK_TIMEOUT` (see [`claim_lease`]).
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// How long a webhook claim holds: `WEBHOOK_TIMEOUT` plus as much again, at most
/// [`LEASE_MARGIN`]. An attempt ends within the timeout and storing its outcome takes
/// milliseconds; the margin covers clock skew between instances and a slow store. A claim whose
/// instance died is attempted again once it expires, so the margin is also how long a crash
/// delays a session's messages beyond the timeout.
fn claim_lease(webhook_timeout: Duration) -> Duration {
    webhook_timeout + webhook_timeout.min(LEASE_MARGIN)
}

/// How often each instance looks for other instances' webhook messages and due retries.
const DISPATCH_POLL: Duration = Duration::from_secs(1);

/// Webhook attempts in flight at once, per instance.
const DISPATCH_IN_FLIGHT: usize = 64;

/// Opens the configured store (migrations included).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Repository>> {
    match &settings.storage {
        StorageSettings::Sqlite {
            path,
            synchronous,
            max_size_bytes,
        } => {
            let options = SqliteOptions {
                synchronous: *synchronous,
                max_size_bytes: *max_size_bytes,
                ..SqliteOptions::new(path)
            };
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&options))
                .await
                .context("opening the embedded store")?
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| {
                    let dir = path.parent().unwrap_or(path);
                    format!("DATA_DIR={} cannot hold the embedded store", dir.display())
                })?;
            Ok(Arc::new(store))
        }
        StorageSettings::Mongo {
            uri,
            database,
            write_concern,
        } => {
            let options = MongoOptions {
                timeout: settings.storage_timeout,
                tombstone_retention: Some(settings.retention.tombstones),
                write_concern: match write_concern {
                    WriteConcern::Majority => mongodb_write_concern::majority(),
                    WriteConcern::Nodes(n) => mongodb_write_concern::nodes(*n),
                },
                ..MongoOptions::new(uri.clone(), database.clone())
            };
            let store = MongoStore::connect(&options)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("MongoDB database {database}"))?;
            Ok(Arc::new(store))
        }
    }
}

impl Application {
    /// Opens the store and binds the listener; serving starts with [`Application::run`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // The store as every use case sees it: each call bounded by the storage timeout
        // (503 beyond), then measured.
        let metrics = Arc::new(Metrics::new());
        let repo: Arc<dyn Repository> = Arc::new(Instrumented::new(
            Bounded::new(open_store(&settings).await?, settings.storage_timeout),
            metrics.clone(),
        ));
        let secret = repo
            .shared_secret()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("reading the store's shared secret")?;
        let access = match &settings.admin_key {
            Some(key) => Access::keys(key.expose()),
            None => {
                tracing::warn!(
                    host = %settings.host,
                    "open mode: no ADMIN_KEY, so /sessions needs no credentials and everything \
                     is in the project `default`; set ADMIN_KEY to require API keys"
                );
                Access::Open
            }
        };
        // The use cases on that store; writes wake this instance's live tails.
        let limits = &settings.limits;
        let caps = StreamCaps {
            max: limits.stream_max,
            per_project: limits.stream_max_per_project,
        };
        let tail = Tail::new(repo.clone(), caps, limits.stream_poll);
        let lifecycle = Lifecycle::new(repo.clone(), tail.clone(), metrics.clone());
        let services = Services {
            sessions: Sessions::new(repo.clone(), tail.commits()),
            events: Events::new(repo.clone(), tail.clone()),
            lifecycle: lifecycle.clone(),
            keys: Keys::new(repo.clone(), access)
                .with_rate_limit(limits.rate_per_key.map(RateLimit::per_second)),
            health: Health::new(repo.clone()),
            webhooks: Webhooks::new(
                repo.clone(),
                settings.admin_key.is_none(),
                settings.webhook_destinations,
                tail.commits(),
            ),
        };
        let sender: Arc<dyn WebhookSender> = Arc::new(
            HttpSender::new(settings.webhook_destinations, settings.webhook_timeout)
                .map_err(|e| anyhow::anyhow!(e))?,
        );
        let dispatch = DispatchSettings {
            schedule: settings.webhook_schedule.clone(),
            lease: claim_lease(settings.webhook_timeout),
            poll: DISPATCH_POLL,
            in_flight: DISPATCH_IN_FLIGHT,
            disable_after: settings.webhook_disable_after,
        };
        let state = web::Data::new(api::AppState::new(
            services,
            metrics.clone(),
            settings.limits.clone(),
            &secret,
        ));
        let address = format!("{}:{}", settings.host, settings.port);
        let listener =
            TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || api::app(state.clone()))
            .shutdown_timeout(settings.shutdown_grace.as_secs())
            .client_request_timeout(settings.header_timeout)
            .keep_alive(settings.keep_alive)
            // SIGTERM/SIGINT are handled in `run`: live streams must end before the graceful stop.
            .disable_signals()
            .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        tracing::info!(%address, port, store = ?store_kind(&settings), "listening");
        Ok(Self {
            port,
            server: server.run(),
            repo,
            tail,
            lifecycle,
            retention: settings.retention,
            sender,
            dispatch,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves (and, in the background, sweeps expired sessions and tombstones and dispatches
    /// webhook messages) until SIGTERM/SIGINT, lets in-flight requests finish within the grace
    /// period, stops the sweep and the dispatcher, then closes the store.
    pub async fn run(self) -> std::io::Result<()> {
        let sweeper = Sweeper::spawn(self.lifecycle.clone(), self.retention);
        let dispatcher = Dispatcher::spawn(
            self.repo.clone(),
            self.sender.clone(),
            Arc::new(api::MessageBodies),
            self.tail.commits(),
            self.metrics.clone(),
            self.dispatch.clone(),
        );
        let handle = self.server.handle();
        let tail = self.tail.clone();
        let on_signal = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: ending live streams, finishing requests");
            // Streams never end by themselves: end them first, so that the graceful stop
            // waits only for ordinary requests.
            tail.close();
            handle.stop(true).await;
        });
        let served = self.server.await;
        on_signal.abort();
        sweeper.stop().await;
        dispatcher.stop().await;
        tracing::info!("server stopped; closing the store");
        self.repo.close().await;
        served
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn store_kind(settings: &Settings) -> &'static str {
    match settings.storage {
        StorageSettings::Sqlite { .. } => "sqlite",
        StorageSettings::Mongo { .. } => "mongodb",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_holds_twice_the_timeout_at_most_30_s_more() {
        let s = Duration::from_secs;
        assert_eq!(claim_lease(Duration::from_millis(500)), s(1));
        assert_eq!(claim_lease(s(2)), s(4));
        assert_eq!(claim_lease(s(15)), s(30));
        assert_eq!(claim_lease(s(30)), s(60));
        assert_eq!(claim_lease(s(300)), s(330));
    }
}
