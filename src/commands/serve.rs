//! `crossdesk serve`: start the server and run until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use tracing::info;

use crate::app::{self, ModelSource};
use crate::config::Config;
use crate::http::{self, AppState};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; port 0 picks a free port
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "CROSSDESK_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Once listening, write the server's base URL (such as
    /// http://127.0.0.1:8080) to this file; for scripts and tests.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

pub async fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let listen = config.listen;
    let chat = app::build(config, ModelSource::FromConfig).await?;
    let state = AppState::new(chat);

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another server using it?"))?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    if let Some(path) = &args.ready_file {
        std::fs::write(path, format!("{url}\n"))
            .with_context(|| format!("cannot write ready file {}", path.display()))?;
    }
    info!(%url, startup_ms = started.elapsed().as_millis() as u64, "listening");

    let service = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    info!("server stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    info!("shutdown requested");
}
