//! The HTTP/1.1 data plane as a pipeline protocol: parse a request, route it, decide what it
//! needs (an immediate answer, a read at its turn, or a store command), and render its response.

use super::parse::{ParseError, Parser, Step};
use super::response::{self, CONTINUE, PROTOCOL_ERROR_BODY};
use super::routes::{route, Route};
use crate::context::Ctx;
use crate::metrics::ServerMetrics;
use crate::outcome;
use crate::pipeline::{CommandResult, Flow, Parsed, Pending, Protocol};
use crate::push::PushDecoding;
use crate::reads;
use bytes::BytesMut;
use model::QueryError;
use protocol::error_body::{ErrorBody, HTTP_LEGACY_GET_HINT, RESET_DISABLED_REASON};
use protocol::push_envelope::{self, PushDecodeError};
use protocol::read_request::{self, BatchGetBody, HttpGetReq};
use protocol::response::{BatchResults, HttpPong, LegacyValue, PushAck, ResetAck, Status};
use protocol::{codec, ContentType};
use store::read::LegacyRead;
use store::{Command, Outcome};

/// What a parsed request turned into.
pub(crate) struct HttpRequest {
    close: bool,
    kind: Kind,
}

enum Kind {
    /// Decided at parse time.
    Immediate {
        status: u16,
        body: Vec<u8>,
    },
    Continue,
    ProtocolError,
    Ping,
    Register(bytes::Bytes),
    Push,
    Reset,
    Get(HttpGetReq),
    BatchGet(BatchGetBody),
    LegacyGet {
        feature: String,
        key: String,
    },
}

#[derive(Default)]
pub(crate) struct HttpProtocol {
    parser: Parser,
    scratch: BytesMut,
    /// The names this connection pushed last and the registry it validates pushes against.
    pushes: PushDecoding,
}

fn immediate<T: serde::Serialize + ?Sized>(
    status: u16,
    close: bool,
    body: &T,
) -> Pending<HttpRequest> {
    Pending::ready(HttpRequest {
        close,
        kind: Kind::Immediate {
            status,
            body: codec::to_json_vec(body),
        },
    })
}

impl Protocol for HttpProtocol {
    type Request = HttpRequest;

    fn parse(&mut self, input: &mut BytesMut, ctx: &Ctx) -> Parsed<HttpRequest> {
        let request = match self.parser.step(input) {
            Ok(Step::Request(request)) => request,
            Ok(Step::Continue) => {
                return Parsed::Request(Pending::ready(HttpRequest {
                    close: false,
                    kind: Kind::Continue,
                }))
            }
            Ok(Step::Incomplete) => return Parsed::Incomplete,
            Err(error) => {
                ServerMetrics::incr(&ctx.metrics.protocol_errors_total);
                log_protocol_error(error);
                return Parsed::Fatal(Pending::ready(HttpRequest {
                    close: true,
                    kind: Kind::ProtocolError,
                }));
            }
        };
        ServerMetrics::incr(&ctx.metrics.http_requests_total);
        let head = &request.head;
        let close = head.close;
        let request_body = &request.body;
        let body = &request.body[..];
        let target = head.target.as_str();
        let route = route(target);
        let Some(method) = route.method() else {
            return Parsed::Request(immediate(404, close, &ErrorBody::NotFound { path: target }));
        };
        if head.method != method {
            return Parsed::Request(immediate(
                405,
                close,
                &ErrorBody::MethodNotAllowed {
                    method: &head.method,
                    path: target,
                },
            ));
        }
        let request = |kind| HttpRequest { close, kind };
        let pending = match route {
            Route::Health => immediate(200, close, &Status { status: "ok" }),
            Route::Ready => {
                if ctx.store.status().ready() {
                    immediate(200, close, &Status { status: "ready" })
                } else {
                    immediate(
                        503,
                        close,
                        &Status {
                            status: "not_ready",
                        },
                    )
                }
            }
            Route::Registry | Route::NotFound => {
                immediate(404, close, &ErrorBody::NotFound { path: target })
            }
            Route::Ping => Pending::read(request(Kind::Ping)),
            Route::Register => {
                if !head.json_content_type {
                    // beava reports `registry_version: 0` here whatever the version.
                    return Parsed::Request(immediate(
                        415,
                        close,
                        &ErrorBody::UnsupportedMediaType {
                            registry_version: 0,
                        },
                    ));
                }
                let registry_version = ctx.store.status().registry_version();
                match serde_json::from_slice::<serde_json::Value>(body) {
                    Ok(value) => Pending::write(
                        request(Kind::Register(request_body.clone())),
                        Command::Register(value),
                    ),
                    Err(e) => {
                        let error = model::RegisterError::new(
                            "invalid_registration",
                            "<body>",
                            e.to_string(),
                        );
                        immediate(
                            400,
                            close,
                            &ErrorBody::Register {
                                error: &error,
                                registry_version,
                            },
                        )
                    }
                }
            }
            Route::Push { sync } => {
                let command = self.pushes.command(
                    &ctx.store,
                    sync,
                    |schema_of| push_envelope::decode_http_push_slotted(body, schema_of),
                    |names| {
                        push_envelope::decode_http_push_with(body, names)
                            .map(|envelope| (envelope.event, envelope.fields))
                    },
                );
                match command {
                    Ok(command) => Pending::write(request(Kind::Push), command),
                    Err(e) => push_decode_error(close, e, "invalid_json_body"),
                }
            }
            Route::LegacyPush { event, sync } => {
                let event = compact_str::CompactString::from(event);
                let command = self.pushes.command(
                    &ctx.store,
                    sync,
                    |schema_of| push_envelope::decode_fields_slotted(body, &event, schema_of),
                    |names| {
                        push_envelope::decode_fields_with(body, names)
                            .map(|fields| (event.clone(), fields))
                    },
                );
                match command {
                    Ok(command) => Pending::write(request(Kind::Push), command),
                    Err(e) => push_decode_error(close, e, "invalid_event"),
                }
            }
            Route::Reset => {
                if ctx.test_mode {
                    Pending::write(request(Kind::Reset), Command::Reset)
                } else {
                    immediate(
                        403,
                        close,
                        &ErrorBody::Reason {
                            code: "reset_disabled_in_production",
                            reason: RESET_DISABLED_REASON,
                            registry_version: None,
                        },
                    )
                }
            }
            Route::Get => match codec::decode::<HttpGetReq>(ContentType::Json, body) {
                Ok(req) => Pending::read(request(Kind::Get(req))),
                Err(reason) => {
                    if read_request::is_legacy_get_shape(ContentType::Json, body) {
                        immediate(
                            400,
                            close,
                            &ErrorBody::message("unsupported_request_shape", HTTP_LEGACY_GET_HINT),
                        )
                    } else {
                        immediate(500, close, &ErrorBody::internal(&reason))
                    }
                }
            },
            Route::BatchGet => match codec::decode::<BatchGetBody>(ContentType::Json, body) {
                Ok(req) => Pending::read(request(Kind::BatchGet(req))),
                Err(reason) => immediate(500, close, &ErrorBody::internal(&reason)),
            },
            Route::LegacyGet { feature, key } => Pending::read(request(Kind::LegacyGet {
                feature: feature.to_string(),
                key: key.to_string(),
            })),
        };
        Parsed::Request(pending)
    }

    fn render(
        &mut self,
        request: HttpRequest,
        result: Option<CommandResult>,
        ctx: &Ctx,
        out: &mut BytesMut,
    ) -> Flow {
        let close = request.close;
        let scratch = &mut self.scratch;
        match request.kind {
            Kind::Immediate { status, body } => response::write(out, status, close, &body),
            Kind::Continue => {
                out.extend_from_slice(CONTINUE);
                return Flow::Continue;
            }
            Kind::ProtocolError => {
                response::write(out, 400, true, PROTOCOL_ERROR_BODY);
                return Flow::Close;
            }
            Kind::Ping => {
                let pong = HttpPong {
                    pong: true,
                    registry_version: ctx.store.status().registry_version(),
                };
                response::write_json(out, scratch, 200, close, &pong);
            }
            Kind::Push => match result {
                Some(Ok(Outcome::Push(Ok(acked)))) => {
                    let ack = PushAck {
                        ack_lsn: acked.lsn.0,
                        idempotent_replay: false,
                        registry_version: acked.registry_version,
                    };
                    scratch.clear();
                    ack.write_json(scratch);
                    // A repeat (`dedupe_key`) gets the first push's body unchanged, with
                    // `idempotent_replay` still false, plus a header (beava 0.0.6).
                    let headers = if acked.replay {
                        response::IDEMPOTENT_REPLAY_HEADER
                    } else {
                        ""
                    };
                    response::write_with(out, 200, close, headers, scratch);
                }
                Some(Ok(Outcome::Push(Err(refused)))) => {
                    let status = refused.error.http_status();
                    response::write_json(
                        out,
                        scratch,
                        status,
                        close,
                        &ErrorBody::code(refused.error.code),
                    );
                }
                other => write_failure(out, scratch, close, other),
            },
            Kind::Register(raw) => match result {
                Some(Ok(Outcome::Register(Ok(registered)))) => {
                    response::write_json(
                        out,
                        scratch,
                        200,
                        close,
                        &outcome::RegisterReply(&registered),
                    );
                }
                Some(Ok(Outcome::Register(Err(mut refused)))) => {
                    if let Some(reason) = outcome::positioned_register_reason(&refused.error, &raw)
                    {
                        refused.error.reason = reason;
                    }
                    let body = ErrorBody::Register {
                        error: &refused.error,
                        registry_version: refused.registry_version,
                    };
                    response::write_json(out, scratch, refused.error.http_status(), close, &body);
                }
                other => write_failure(out, scratch, close, other),
            },
            Kind::Reset => match result {
                Some(Ok(Outcome::Reset { registry_version })) => {
                    tracing::info!(
                        kind = "server.reset_completed",
                        registry_version,
                        "reset completed"
                    );
                    let body = ResetAck {
                        registry_version,
                        reset: true,
                    };
                    response::write_json(out, scratch, 200, close, &body);
                }
                other => write_failure(out, scratch, close, other),
            },
            Kind::Get(req) => match reads::get(&ctx.store, &req) {
                Ok(row) => response::write_json(out, scratch, 200, close, &row),
                Err(e) => write_query_error(out, scratch, close, &e),
            },
            Kind::BatchGet(req) => reads::heavy(req.requests.len(), || {
                match reads::batch_get(&ctx.store, &req) {
                    Ok(entries) => {
                        response::write_json(out, scratch, 200, close, &BatchResults(&entries))
                    }
                    Err(reason) => response::write_json(
                        out,
                        scratch,
                        500,
                        close,
                        &ErrorBody::internal(&reason),
                    ),
                }
            }),
            Kind::LegacyGet { feature, key } => match reads::legacy_get(&ctx.store, &feature, &key)
            {
                Ok(LegacyRead::Row(row)) => response::write_json(out, scratch, 200, close, &row),
                Ok(LegacyRead::Value(value)) => {
                    response::write_json(out, scratch, 200, close, &LegacyValue { value: &value })
                }
                Err(e) => {
                    response::write_json(out, scratch, 404, close, &ErrorBody::code(e.code()))
                }
            },
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

fn push_decode_error(
    close: bool,
    error: PushDecodeError,
    malformed_code: &'static str,
) -> Pending<HttpRequest> {
    match error {
        PushDecodeError::Limit { code, reason } => immediate(
            400,
            close,
            &ErrorBody::Reason {
                code,
                reason: &reason,
                registry_version: None,
            },
        ),
        PushDecodeError::Malformed | PushDecodeError::BadEnvelope => {
            immediate(400, close, &ErrorBody::code(malformed_code))
        }
        PushDecodeError::MissingEventName => {
            immediate(400, close, &ErrorBody::code("missing_event_name_in_body"))
        }
    }
}

fn write_query_error(out: &mut BytesMut, scratch: &mut BytesMut, close: bool, error: &QueryError) {
    match error {
        QueryError::FeatureNotFound { .. } => response::write_json(
            out,
            scratch,
            500,
            close,
            &ErrorBody::internal(&error.message()),
        ),
        _ => response::write_json(out, scratch, 404, close, &ErrorBody::code(error.code())),
    }
}

fn write_failure(
    out: &mut BytesMut,
    scratch: &mut BytesMut,
    close: bool,
    result: Option<CommandResult>,
) {
    let failure = outcome::failure(result);
    let body = ErrorBody::Reason {
        code: failure.code,
        reason: &failure.reason,
        registry_version: None,
    };
    response::write_json(out, scratch, failure.status, close, &body);
}

fn log_protocol_error(error: ParseError) {
    tracing::debug!(kind = "http.protocol_error", error = ?error, "malformed HTTP request; closing");
}
