//! The admin sidecar (beava-compat §3): `GET /health`, `/ready`, `/metrics`, `/registry`, on its
//! own listener, thread and runtime.
//!
//! It reads only atomics (`StoreStatus`, `ServerMetrics`): no engine lock, no writer queue, no
//! data-plane task. Responses look like beava's axum sidecar: lowercase headers,
//! `x-runtime: tokio`, a `date`, empty 404/405 bodies, `HEAD` answered like `GET` without body.

use crate::context::Ctx;
use crate::http::date::http_date;
use crate::http::parse::{Parser, Step};
use crate::metrics;
use crate::pipeline::{CommandResult, Flow, Parsed, Pending, Protocol};
use bytes::{BufMut, BytesMut};
use protocol::codec;
use protocol::response::{RegistrySummary, Status};
use std::io::Write;
use std::time::SystemTime;
use store::{RecoveryPhase, RecoveryProgress};

pub(crate) struct AdminRequest {
    route: AdminRoute,
    head_only: bool,
    close: bool,
    http10: bool,
}

#[derive(Clone, Copy)]
enum AdminRoute {
    Health,
    Ready,
    Metrics,
    Registry,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

#[derive(Default)]
pub(crate) struct AdminProtocol {
    parser: Parser,
}

impl Protocol for AdminProtocol {
    type Request = AdminRequest;

    fn parse(&mut self, input: &mut BytesMut, _ctx: &Ctx) -> Parsed<AdminRequest> {
        let request = match self.parser.step(input) {
            Ok(Step::Request(request)) => request,
            Ok(Step::Continue | Step::Incomplete) => return Parsed::Incomplete,
            Err(_) => {
                return Parsed::Fatal(Pending::ready(AdminRequest {
                    route: AdminRoute::BadRequest,
                    head_only: false,
                    close: true,
                    http10: false,
                }))
            }
        };
        let head = request.head;
        let path = head.target.split('?').next().unwrap_or("");
        let route = match path {
            "/health" => AdminRoute::Health,
            "/ready" => AdminRoute::Ready,
            "/metrics" => AdminRoute::Metrics,
            "/registry" => AdminRoute::Registry,
            _ => AdminRoute::NotFound,
        };
        let get = head.method == "GET";
        let head_only = head.method == "HEAD";
        let route = match route {
            AdminRoute::NotFound => AdminRoute::NotFound,
            _ if get || head_only => route,
            _ => AdminRoute::MethodNotAllowed,
        };
        Parsed::Request(Pending::ready(AdminRequest {
            route,
            head_only,
            close: head.close,
            http10: head.http10,
        }))
    }

    fn render(
        &mut self,
        request: AdminRequest,
        _result: Option<CommandResult>,
        ctx: &Ctx,
        out: &mut BytesMut,
    ) -> Flow {
        let status_store = ctx.store.status();
        let (status, content_type, body): (u16, Option<&str>, Vec<u8>) = match request.route {
            AdminRoute::Health => (
                200,
                Some(JSON),
                codec::to_json_vec(&Status { status: "ok" }),
            ),
            AdminRoute::Ready => {
                let progress = status_store.recovery_progress();
                if status_store.ready() {
                    (
                        200,
                        Some(JSON),
                        codec::to_json_vec(&Status { status: "ready" }),
                    )
                } else if progress.phase != RecoveryPhase::Done {
                    (503, Some(JSON), recovering_body(&progress))
                } else {
                    (
                        503,
                        Some(JSON),
                        codec::to_json_vec(&Status {
                            status: "not_ready",
                        }),
                    )
                }
            }
            AdminRoute::Metrics => {
                let text = metrics::render(&status_store.snapshot(), &ctx.metrics);
                (200, Some(PROMETHEUS), text.into_bytes())
            }
            AdminRoute::Registry => {
                let snapshot = status_store.snapshot();
                let body = RegistrySummary {
                    node_count: snapshot.node_count,
                    version: snapshot.registry_version,
                };
                (200, Some(JSON), codec::to_json_vec(&body))
            }
            AdminRoute::NotFound => (404, None, Vec::new()),
            AdminRoute::MethodNotAllowed => (405, None, Vec::new()),
            AdminRoute::BadRequest => (400, None, Vec::new()),
        };
        let bad_request = matches!(request.route, AdminRoute::BadRequest);
        let close = request.close || request.http10 || bad_request;
        let version = if request.http10 { "1.0" } else { "1.1" };
        let mut w = out.writer();
        let _ = write!(
            w,
            "HTTP/{version} {status} {}\r\n",
            crate::http::response::reason_phrase(status)
        );
        if let Some(content_type) = content_type {
            let _ = write!(w, "content-type: {content_type}\r\n");
        }
        if !bad_request {
            let _ = write!(w, "x-runtime: tokio\r\n");
        }
        if matches!(request.route, AdminRoute::MethodNotAllowed) {
            let _ = write!(w, "allow: GET,HEAD\r\n");
        }
        if bad_request {
            let _ = write!(w, "connection: close\r\n");
        }
        let _ = write!(w, "content-length: {}\r\n", body.len());
        if close && !bad_request && !request.http10 {
            let _ = write!(w, "connection: close\r\n");
        }
        let _ = write!(w, "date: {}\r\n\r\n", http_date(SystemTime::now()));
        if !request.head_only {
            out.extend_from_slice(&body);
        }
        if close {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    fn in_request(&self, input: &BytesMut) -> bool {
        self.parser.in_request(input)
    }
}

/// `/ready` while the store recovers (the admin plane binds before recovery; beava never
/// answered during recovery, so this body is weir's): the phase and its progress.
fn recovering_body(p: &RecoveryProgress) -> Vec<u8> {
    let body = serde_json::json!({
        "status": "recovering",
        "phase": p.phase.as_str(),
        "elapsed_ms": p.elapsed_ms,
        "snapshot_bytes_loaded": p.snapshot_bytes_loaded,
        "snapshot_bytes_total": p.snapshot_bytes_total,
        "wal_records_replayed": p.wal_records_replayed,
        "wal_bytes_replayed": p.wal_bytes_replayed,
        "wal_bytes_total": p.wal_bytes_total,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

const JSON: &str = "application/json";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
