//! The server shell of Tonghua: configuration, the HTTP API, accounts and
//! roles, audit, metrics, and (as the other crates land) the orchestration that
//! binds channels to the conversation core.
//!
//! Invariants:
//! - Every handler derives the tenant from the authenticated caller, never from
//!   the request, and passes it to every store call.
//! - Every state-changing endpoint writes an audit entry; every refusal of a
//!   signed-in caller writes an `access.denied` entry.
//! - Every error a client sees has the shape of [`error::ErrorBody`] with a
//!   request id.

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod bots;
pub mod clock;
pub mod config;
pub mod error;
pub mod extract;
pub mod phones;
pub mod routes;
pub mod sip_dialer;
pub mod state;
pub mod telemetry;
pub mod telephony;
pub mod timers;
pub mod tls;
pub mod trunks;
pub mod voice_handoff;
pub mod wechat_client;

use std::net::SocketAddr;
use std::time::Duration;

pub use app::router;
pub use clock::Clock;
pub use config::Config;
pub use state::AppState;
use store::Store;

/// Why the server could not start, worded as what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the database in {dir}: {source}")]
    Store {
        dir: String,
        source: store::StoreError,
    },
    #[error(
        "cannot listen for HTTP on {addr}: address already in use; stop the program using that port or choose another with --http HOST:PORT"
    )]
    PortInUse { addr: SocketAddr },
    #[error(
        "cannot listen for HTTP on {addr}: {source}; choose another address with --http HOST:PORT"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("creating the demo tenant failed: {0}")]
    Bootstrap(String),
    #[error(
        "cannot listen for SIP on {addr}: {source}; stop the program using that port or choose another with --sip HOST:PORT"
    )]
    Sip {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server stopped: {0}")]
    Serve(std::io::Error),
}

/// Opens the store in the configured data directory (applying migrations).
pub async fn open_store(config: &Config) -> Result<Store, ServeError> {
    Store::open(&config.data_dir)
        .await
        .map_err(|source| ServeError::Store {
            dir: config.data_dir.display().to_string(),
            source,
        })
}

/// Runs the server until Ctrl-C or SIGTERM. With `telephony.enabled`,
/// campaigns are dialled through the SIP trunk ([`sip_dialer::SipDialer`]);
/// without it they can be prepared and started but nothing dials them.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    serve_with_dialer(config, None).await
}

/// Runs the server with this dialer for campaigns (tests, other dialers);
/// `None` means the SIP dialer when telephony is enabled, else none. The
/// runner works every running campaign of every tenant.
pub async fn serve_with_dialer(
    config: Config,
    dialer: Option<std::sync::Arc<dyn campaign::Dialer>>,
) -> Result<(), ServeError> {
    // Bind first: if the port is taken, fail before a one-time demo
    // password is printed and lost.
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                ServeError::PortInUse { addr: config.http }
            } else {
                ServeError::Bind {
                    addr: config.http,
                    source,
                }
            }
        })?;
    let local = listener.local_addr().map_err(ServeError::Serve)?;
    let store = open_store(&config).await?;
    let clock = Clock::system();
    if let Some(created) = bootstrap::ensure_demo(&store, &config, &clock)
        .await
        .map_err(|e| ServeError::Bootstrap(e.to_string()))?
    {
        bootstrap::announce(&created, local);
    }
    tracing::info!(http = %local, data_dir = %config.data_dir.display(), "tonghua is serving");
    println!(
        "tonghua {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );

    let state = AppState::new(store.clone(), config, clock.clone());
    if state.config().telephony.enabled {
        let engines = telephony::engines(state.config());
        let t = telephony::Telephony::start(state.clone(), engines)
            .await
            .map_err(|source| ServeError::Sip {
                addr: state.config().sip,
                source,
            })?;
        println!(
            "tonghua answering SIP calls on {} (UDP and TCP)",
            t.local_addr()
        );
        state.set_telephony(t);
    }
    spawn_housekeeping(state.clone());
    timers::resume(&state).await;
    // With SIP configured and no dialer given, campaigns dial through it.
    let dialer = dialer.or_else(|| {
        state.telephony().map(|t| {
            std::sync::Arc::new(sip_dialer::SipDialer::new(state.clone(), t.clone()))
                as std::sync::Arc<dyn campaign::Dialer>
        })
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = spawn_campaigns(store.clone(), clock, dialer, stopped);
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // The campaign workers stop before the store closes (a pass mid-way
    // would otherwise fail on the closed pool); what they were doing is
    // safe in the store either way, so they get a few seconds, not forever.
    let _ = stop.send(true);
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
    }
    served.map_err(ServeError::Serve)?;
    store.close().await;
    tracing::info!("tonghua stopped");
    Ok(())
}

/// The campaign runner (when there is a dialer) and the webhook/SMS outbox.
/// Both stop with the process; what they were doing is safe in the store
/// (see the `campaign` crate: attempts are persisted before dialling).
fn spawn_campaigns(
    store: Store,
    clock: Clock,
    dialer: Option<std::sync::Arc<dyn campaign::Dialer>>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let now: campaign::Now = std::sync::Arc::new(move || clock.now_ms());
    let deliverer = std::sync::Arc::new(campaign::delivery::Deliverer::new(
        store.clone(),
        now.clone(),
    ));
    let mut workers = vec![tokio::spawn(
        deliverer.run(Duration::from_secs(1), until_stopped()),
    )];
    match dialer {
        Some(dialer) => {
            let runner = campaign::Runner::new(store, dialer, now);
            workers.push(tokio::spawn(
                runner.run(Duration::from_millis(200), until_stopped()),
            ));
        }
        None => tracing::info!(
            "no dialer configured: campaigns can be created and started but are not dialled"
        ),
    }
    workers
}

fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            state.forget_idle_login_clients();
            // Platforms stop retrying within minutes; a day is ample.
            if let Err(e) = state
                .store()
                .purge_deliveries(state.now_ms() - 86_400_000)
                .await
            {
                tracing::warn!(error = %e, "delivery purge failed");
            }
            match state.store().purge_expired_sessions(state.now_ms()).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "purged expired sessions"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "session purge failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
