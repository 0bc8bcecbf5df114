//! Accept loops. Each listener has a connection limit (a semaphore): past it, new connections
//! wait in the kernel's accept queue instead of costing memory here. One task per connection,
//! no task per request.

use crate::context::Ctx;
use crate::metrics::ServerMetrics;
use crate::pipeline::{self, Protocol};
use crate::shutdown::signalled;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Which counters a listener's connections move.
#[derive(Clone, Copy)]
pub(crate) enum Plane {
    Http,
    Tcp,
    Admin,
}

impl Plane {
    fn counters(self, metrics: &ServerMetrics) -> Option<(&AtomicU64, &AtomicU64)> {
        match self {
            Plane::Http => Some((
                &metrics.http_connections_active,
                &metrics.http_connections_total,
            )),
            Plane::Tcp => Some((
                &metrics.tcp_connections_active,
                &metrics.tcp_connections_total,
            )),
            Plane::Admin => None,
        }
    }
}

/// Decrements the active-connection gauge when the connection task ends (even by panic).
struct Active {
    metrics: Arc<ServerMetrics>,
    plane: Plane,
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some((active, _)) = self.plane.counters(&self.metrics) {
            ServerMetrics::decr(active);
        }
    }
}

pub(crate) async fn accept_loop<P, F>(
    listener: TcpListener,
    plane: Plane,
    ctx: Arc<Ctx>,
    connections_max: usize,
    new_protocol: F,
) where
    P: Protocol,
    F: Fn() -> P,
{
    let limit = Arc::new(Semaphore::new(connections_max.max(1)));
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = signalled(&mut shutdown) => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(kind = "server.accept_failed", error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = signalled(&mut shutdown) => return,
        };
        let _ = stream.set_nodelay(true);
        if let Some((active, total)) = plane.counters(&ctx.metrics) {
            ServerMetrics::incr(active);
            ServerMetrics::incr(total);
        }
        let guard = Active {
            metrics: Arc::clone(&ctx.metrics),
            plane,
        };
        let protocol = new_protocol();
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            pipeline::drive(stream, protocol, ctx).await;
            drop(guard);
            drop(permit);
        });
    }
}
