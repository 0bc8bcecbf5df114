//! The framed TCP data plane as a pipeline protocol (beava-compat §2): decode a frame, dispatch
//! on its opcode, answer with the opcode the beava SDK checks.
//!
//! Only two errors are fatal (the connection closes after answering them): a declared length
//! above the maximum (`frame_too_large`) and one below 3 (`frame_error`). Every other error is
//! an `0xFFFF` frame and the connection stays open. Error frames are always JSON.

use crate::context::Ctx;
use crate::metrics::ServerMetrics;
use crate::outcome;
use crate::pipeline::{CommandResult, Flow, Parsed, Pending, Protocol};
use crate::push::PushDecoding;
use crate::reads;
use bytes::BytesMut;
use model::QueryError;
use protocol::error_body::{ErrorBody, RESET_DISABLED_REASON, TCP_LEGACY_GET_HINT};
use protocol::frame::{self, FrameError};
use protocol::push_envelope::{self, PushDecodeError};
use protocol::read_request::{self, BatchGetBody, GetMultiReq, HttpGetReq, MGetReq};
use protocol::response::{BatchResults, PushAck, ResetAck, TcpPong, WIRE_SERVER_VERSION};
use protocol::{codec, op, ContentType, RequestOp};
use serde::Serialize;
use store::{Command, Outcome};

pub(crate) enum TcpRequest {
    /// A frame decided at parse time.
    Immediate {
        op: u16,
        body: Vec<u8>,
        fatal: bool,
    },
    Ping,
    Register(bytes::Bytes),
    /// PUSH (ack op 0x0010) or PUSH_SYNC (ack op 0x0011, fdatasync'ed even in relaxed mode).
    Push {
        sync: bool,
    },
    Reset,
    Get {
        content_type: ContentType,
        req: HttpGetReq,
    },
    MGet {
        content_type: ContentType,
        req: MGetReq,
    },
    GetMulti {
        content_type: ContentType,
        req: GetMultiReq,
    },
    BatchGet(BatchGetBody),
}

#[derive(Default)]
pub(crate) struct TcpProtocol {
    /// The names this connection pushed last (decision 0020) and the registry it validates
    /// pushes against (decision 0029).
    pushes: PushDecoding,
}

fn error_frame<T: Serialize + ?Sized>(body: &T) -> Pending<TcpRequest> {
    Pending::ready(TcpRequest::Immediate {
        op: op::ERROR_RESPONSE,
        body: codec::to_json_vec(body),
        fatal: false,
    })
}

fn fatal_frame<T: Serialize + ?Sized>(body: &T) -> Parsed<TcpRequest> {
    Parsed::Fatal(Pending::ready(TcpRequest::Immediate {
        op: op::ERROR_RESPONSE,
        body: codec::to_json_vec(body),
        fatal: true,
    }))
}

impl Protocol for TcpProtocol {
    type Request = TcpRequest;

    fn parse(&mut self, input: &mut BytesMut, ctx: &Ctx) -> Parsed<TcpRequest> {
        let frame = match frame::decode(input, ctx.tcp_frame_bytes_max) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Parsed::Incomplete,
            Err(error) => {
                ServerMetrics::incr(&ctx.metrics.protocol_errors_total);
                tracing::debug!(kind = "tcp.frame_error", error = ?error, "fatal frame error; closing");
                return match error {
                    FrameError::TooLarge { declared, limit } => {
                        let message =
                            format!("declared frame length {declared} exceeds limit {limit}");
                        fatal_frame(&ErrorBody::FrameTooLarge {
                            declared,
                            limit,
                            message: &message,
                        })
                    }
                    FrameError::LengthUnderflow { .. } => fatal_frame(&ErrorBody::Code {
                        code: "frame_error",
                        registry_version: Some(ctx.store.status().registry_version()),
                    }),
                };
            }
        };
        ServerMetrics::incr(&ctx.metrics.tcp_frames_total);
        let request_op = RequestOp::from_u16(frame.op);
        let payload = &frame.payload[..];
        let content_type = ContentType::from_byte(frame.content_type);
        let unsupported_content_type = |message: String| {
            error_frame(&ErrorBody::message("unsupported_content_type", &message))
        };
        let pending = match request_op {
            RequestOp::Ping => Pending::read(TcpRequest::Ping),
            RequestOp::Unknown(code) => {
                let message = format!("opcode 0x{code:04x} is not recognised by this server");
                error_frame(&ErrorBody::Message {
                    code: "unknown_op",
                    message: &message,
                    op: Some(code),
                })
            }
            RequestOp::Register => {
                if content_type != Some(ContentType::Json) {
                    return Parsed::Request(unsupported_content_type(format!(
                        "unsupported content_type for register: 0x{:02x}",
                        frame.content_type
                    )));
                }
                match serde_json::from_slice::<serde_json::Value>(payload) {
                    Ok(value) => Pending::write(
                        TcpRequest::Register(frame.payload.clone()),
                        Command::Register(value),
                    ),
                    Err(e) => {
                        let error = model::RegisterError::new(
                            "invalid_registration",
                            "<body>",
                            e.to_string(),
                        );
                        error_frame(&ErrorBody::Register {
                            error: &error,
                            registry_version: ctx.store.status().registry_version(),
                        })
                    }
                }
            }
            _ => {
                let Some(content_type) = content_type else {
                    return Parsed::Request(unsupported_content_type(format!(
                        "unsupported content_type: 0x{:02x}",
                        frame.content_type
                    )));
                };
                dispatch_typed(request_op, content_type, payload, ctx, &mut self.pushes)
            }
        };
        Parsed::Request(pending)
    }

    fn render(
        &mut self,
        request: TcpRequest,
        result: Option<CommandResult>,
        ctx: &Ctx,
        out: &mut BytesMut,
    ) -> Flow {
        match request {
            TcpRequest::Immediate { op, body, fatal } => {
                frame::encode(out, op, ContentType::JSON_BYTE, &body);
                if fatal {
                    return Flow::Close;
                }
            }
            TcpRequest::Ping => {
                let pong = TcpPong {
                    registry_version: ctx.store.status().registry_version(),
                    server_version: WIRE_SERVER_VERSION,
                };
                write_frame(out, op::PING, ContentType::Json, &pong);
            }
            TcpRequest::Push { sync } => match result {
                Some(Ok(Outcome::Push(Ok(acked)))) => {
                    let ack = PushAck {
                        ack_lsn: acked.lsn.0,
                        // Over TCP beava marks a repeat (`dedupe_key`) in the body.
                        idempotent_replay: acked.replay,
                        registry_version: acked.registry_version,
                    };
                    let ack_op = if sync { op::PUSH_SYNC } else { op::PUSH };
                    let start = frame::begin(out, ack_op, ContentType::Json.byte());
                    ack.write_json(out);
                    frame::finish(out, start);
                }
                Some(Ok(Outcome::Push(Err(refused)))) => write_error(
                    out,
                    &ErrorBody::Code {
                        code: refused.error.code,
                        registry_version: Some(refused.registry_version),
                    },
                ),
                other => write_failure(out, other, Some(ctx.store.status().registry_version())),
            },
            TcpRequest::Register(raw) => match result {
                Some(Ok(Outcome::Register(Ok(registered)))) => {
                    write_frame(
                        out,
                        op::REGISTER,
                        ContentType::Json,
                        &outcome::RegisterReply(&registered),
                    );
                }
                Some(Ok(Outcome::Register(Err(mut refused)))) => {
                    if let Some(reason) = outcome::positioned_register_reason(&refused.error, &raw)
                    {
                        refused.error.reason = reason;
                    }
                    write_error(
                        out,
                        &ErrorBody::Register {
                            error: &refused.error,
                            registry_version: refused.registry_version,
                        },
                    )
                }
                other => write_failure(out, other, None),
            },
            TcpRequest::Reset => match result {
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
                    write_frame(out, op::GET_RESPONSE, ContentType::Json, &body);
                }
                other => write_failure(out, other, None),
            },
            TcpRequest::Get { content_type, req } => match reads::get(&ctx.store, &req) {
                Ok(row) => write_frame(out, op::GET_RESPONSE, content_type, &row),
                Err(e @ QueryError::FeatureNotFound { .. }) => {
                    write_error(out, &ErrorBody::internal(&e.message()))
                }
                Err(e) => write_error(out, &ErrorBody::code(e.code())),
            },
            TcpRequest::BatchGet(req) => {
                reads::heavy(req.requests.len(), || {
                    match reads::batch_get(&ctx.store, &req) {
                        Ok(entries) => write_frame(
                            out,
                            op::GET_RESPONSE,
                            ContentType::Json,
                            &BatchResults(&entries),
                        ),
                        Err(reason) => write_error(out, &ErrorBody::internal(&reason)),
                    }
                })
            }
            TcpRequest::MGet { content_type, req } => {
                reads::heavy(req.keys.len(), || match reads::mget(&ctx.store, &req) {
                    Ok(rows) => write_frame(out, op::GET_RESPONSE, content_type, &rows),
                    Err(reason) => write_error(out, &ErrorBody::internal(&reason)),
                })
            }
            TcpRequest::GetMulti { content_type, req } => reads::heavy(req.keys.len(), || {
                match reads::get_multi(&ctx.store, &req) {
                    Ok(rows) => write_frame(out, op::GET_RESPONSE, content_type, &rows),
                    Err(reason) => write_error(out, &ErrorBody::internal(&reason)),
                }
            }),
        }
        Flow::Continue
    }
}

/// Ops that accept JSON and MessagePack.
fn dispatch_typed(
    request_op: RequestOp,
    content_type: ContentType,
    payload: &[u8],
    ctx: &Ctx,
    pushes: &mut PushDecoding,
) -> Pending<TcpRequest> {
    match request_op {
        RequestOp::Push | RequestOp::PushSync => {
            let sync = request_op == RequestOp::PushSync;
            let command = pushes.command(
                &ctx.store,
                sync,
                |schema_of| {
                    push_envelope::decode_tcp_push_slotted(content_type, payload, schema_of)
                },
                |names| {
                    push_envelope::decode_tcp_push_with(content_type, payload, names)
                        .map(|envelope| (envelope.event, envelope.fields))
                },
            );
            match command {
                Ok(command) => Pending::write(TcpRequest::Push { sync }, command),
                Err(PushDecodeError::Limit { code, reason }) => error_frame(&ErrorBody::Reason {
                    code,
                    reason: &reason,
                    registry_version: Some(ctx.store.status().registry_version()),
                }),
                Err(_) => error_frame(&ErrorBody::Unsupported),
            }
        }
        RequestOp::Get => match codec::decode::<HttpGetReq>(content_type, payload) {
            Ok(req) => Pending::read(TcpRequest::Get { content_type, req }),
            Err(reason) => {
                // beava recognises legacy shapes in JSON payloads only.
                if content_type == ContentType::Json
                    && read_request::is_legacy_get_shape(content_type, payload)
                {
                    error_frame(&ErrorBody::message(
                        "unsupported_request_shape",
                        TCP_LEGACY_GET_HINT,
                    ))
                } else {
                    error_frame(&ErrorBody::internal(&reason))
                }
            }
        },
        RequestOp::MGet => match codec::decode::<MGetReq>(content_type, payload) {
            Ok(req) => Pending::read(TcpRequest::MGet { content_type, req }),
            Err(reason) => error_frame(&ErrorBody::internal(&reason)),
        },
        RequestOp::GetMulti => match codec::decode::<GetMultiReq>(content_type, payload) {
            Ok(req) => Pending::read(TcpRequest::GetMulti { content_type, req }),
            Err(reason) => error_frame(&ErrorBody::internal(&reason)),
        },
        RequestOp::BatchGet => match codec::decode::<BatchGetBody>(content_type, payload) {
            Ok(req) => Pending::read(TcpRequest::BatchGet(req)),
            Err(reason) => error_frame(&ErrorBody::internal(&reason)),
        },
        RequestOp::Reset => {
            if ctx.test_mode {
                Pending::write(TcpRequest::Reset, Command::Reset)
            } else {
                error_frame(&ErrorBody::Reason {
                    code: "reset_disabled_in_production",
                    reason: RESET_DISABLED_REASON,
                    registry_version: None,
                })
            }
        }
        RequestOp::Ping | RequestOp::Register | RequestOp::Unknown(_) => {
            unreachable!("dispatched before content-type handling")
        }
    }
}

fn write_frame<T: Serialize + ?Sized>(
    out: &mut BytesMut,
    op: u16,
    content_type: ContentType,
    body: &T,
) {
    let start = frame::begin(out, op, content_type.byte());
    codec::write_body(out, content_type, body);
    frame::finish(out, start);
}

fn write_error(out: &mut BytesMut, body: &ErrorBody<'_>) {
    write_frame(out, op::ERROR_RESPONSE, ContentType::Json, body);
}

fn write_failure(out: &mut BytesMut, result: Option<CommandResult>, registry_version: Option<u64>) {
    let failure = outcome::failure(result);
    write_error(
        out,
        &ErrorBody::Reason {
            code: failure.code,
            reason: &failure.reason,
            registry_version,
        },
    );
}
