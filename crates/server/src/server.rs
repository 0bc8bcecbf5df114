//! Starting and stopping the three listeners.
//!
//! Threads: the data plane (HTTP + framed TCP) runs on a multi-thread tokio runtime of
//! `io_threads` workers; the admin sidecar runs on its own thread with its own current-thread
//! runtime, so a saturated data plane cannot delay `/health` or `/metrics`; the store's writer is
//! a third, separate thread.
//!
//! The admin sidecar can start on its own (`AdminServer::start`) before the store has
//! recovered, so `/health` answers and `/ready` reports recovery progress during a long start;
//! the data plane then starts with `RunningServer::start_with_admin` once there is state to
//! serve.

use crate::admin::AdminProtocol;
use crate::config::ServerConfig;
use crate::context::Ctx;
use crate::http::connection::HttpProtocol;
use crate::listener::{accept_loop, Plane};
use crate::metrics::ServerMetrics;
use crate::shutdown::Shutdown;
use crate::tcp::connection::TcpProtocol;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use store::StoreHandle;
use tokio::net::TcpListener;
use tokio::runtime::{Builder, Runtime};

/// A started server. Dropping it shuts it down (gracefully, bounded by `shutdown_grace`).
pub struct RunningServer {
    http_addr: SocketAddr,
    tcp_addr: SocketAddr,
    runtime: Option<Runtime>,
    admin: Option<AdminServer>,
    shutdown: Shutdown,
    metrics: Arc<ServerMetrics>,
    grace: Duration,
}

/// The admin sidecar alone: its listener, thread and current-thread runtime. Dropping it stops
/// it.
pub struct AdminServer {
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
    shutdown: Shutdown,
    metrics: Arc<ServerMetrics>,
}

impl AdminServer {
    /// Binds `config.admin_addr` and serves `/health`, `/ready`, `/metrics`, `/registry` from
    /// `store`'s status (usable before the store has recovered: see `store::Store::prepare`).
    pub fn start(config: &ServerConfig, store: StoreHandle) -> io::Result<AdminServer> {
        let admin = bind(config.admin_addr)?;
        let addr = admin.local_addr()?;
        let (shutdown, shutdown_rx) = Shutdown::new();
        let metrics = Arc::new(ServerMetrics::default());
        let ctx = Arc::new(Ctx {
            store,
            test_mode: config.test_mode,
            tcp_frame_bytes_max: config.tcp_frame_bytes_max,
            pipeline_depth: config.pipeline_depth,
            metrics: Arc::clone(&metrics),
            shutdown: shutdown_rx,
        });
        let admin_max = config.admin_connections_max;
        let admin_runtime = Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new()
            .name("weir-admin".into())
            .spawn(move || {
                admin_runtime.block_on(async move {
                    match TcpListener::from_std(admin) {
                        Ok(listener) => {
                            accept_loop(listener, Plane::Admin, ctx, admin_max, AdminProtocol::default)
                                .await
                        }
                        Err(error) => tracing::error!(kind = "server.admin_failed", error = %error, "admin listener failed"),
                    }
                });
            })?;
        Ok(AdminServer {
            addr,
            thread: Some(thread),
            shutdown,
            metrics,
        })
    }

    /// The bound admin address (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and stops the admin thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shutdown.trigger();
            let _ = thread.join();
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl RunningServer {
    /// Binds all listeners (so the real ports are known and bind errors surface here) and starts
    /// serving.
    pub fn start(config: ServerConfig, store: StoreHandle) -> io::Result<RunningServer> {
        let admin = AdminServer::start(&config, store.clone())?;
        RunningServer::start_with_admin(config, store, admin)
    }

    /// Binds the data-plane listeners and starts serving them next to an admin sidecar started
    /// earlier (whose `/metrics` then shows the data plane's counters); owns it from here on.
    pub fn start_with_admin(
        config: ServerConfig,
        store: StoreHandle,
        admin: AdminServer,
    ) -> io::Result<RunningServer> {
        let http = bind(config.http_addr)?;
        let tcp = bind(config.tcp_addr)?;
        let (http_addr, tcp_addr) = (http.local_addr()?, tcp.local_addr()?);

        let (shutdown, shutdown_rx) = Shutdown::new();
        let metrics = Arc::clone(&admin.metrics);
        let ctx = Arc::new(Ctx {
            store,
            test_mode: config.test_mode,
            tcp_frame_bytes_max: config.tcp_frame_bytes_max,
            pipeline_depth: config.pipeline_depth,
            metrics: Arc::clone(&metrics),
            shutdown: shutdown_rx,
        });

        let runtime = Builder::new_multi_thread()
            .worker_threads(config.io_threads.max(1))
            .thread_name("weir-io")
            .enable_all()
            .build()?;
        {
            let _entered = runtime.enter();
            let http = TcpListener::from_std(http)?;
            let tcp = TcpListener::from_std(tcp)?;
            let max = config.connections_max;
            runtime.spawn(accept_loop(
                http,
                Plane::Http,
                Arc::clone(&ctx),
                max,
                HttpProtocol::default,
            ));
            runtime.spawn(accept_loop(
                tcp,
                Plane::Tcp,
                Arc::clone(&ctx),
                max,
                TcpProtocol::default,
            ));
        }

        Ok(RunningServer {
            http_addr,
            tcp_addr,
            runtime: Some(runtime),
            admin: Some(admin),
            shutdown,
            metrics,
            grace: config.shutdown_grace,
        })
    }

    /// The bound HTTP address (the real port when 0 was asked).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .as_ref()
            .map_or(self.http_addr, AdminServer::addr)
    }

    /// Open data-plane connections.
    pub fn connections_active(&self) -> u64 {
        self.metrics.connections_active()
    }

    /// Stops accepting, lets connections answer what they read (up to the grace period), then
    /// stops every thread of the server. The store is not touched (stop it after this).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        self.shutdown.trigger();
        let open = self.shutdown.drain(&self.metrics, self.grace);
        if open > 0 {
            tracing::warn!(
                kind = "server.shutdown_forced",
                open,
                "closing connections still open after the grace period"
            );
        }
        runtime.shutdown_timeout(Duration::from_millis(200));
        if let Some(admin) = self.admin.take() {
            admin.shutdown();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
    }
}
