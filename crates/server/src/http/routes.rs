//! The data-plane route table (beava-compat §1.2).
//!
//! Routing uses the target without its query string and without trailing `/`; 404/405 bodies
//! echo the target as sent.

/// A data-plane route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    Register,
    /// `/push` and `/push-sync`. Identical in beava 0.0.6 and in weir's default durable ack
    /// mode; in relaxed mode `sync` forces the fdatasync before the ack.
    Push {
        sync: bool,
    },
    Get,
    BatchGet,
    Ping,
    Reset,
    Health,
    Ready,
    /// Known, but 404 in the shipped binary (dev endpoint).
    Registry,
    /// `/push/:event`, `/push-sync/:event`, `/push-batch/:event`: bare field body.
    LegacyPush {
        event: &'a str,
        sync: bool,
    },
    /// `GET /get/:feature/:key` (the key may contain `/`).
    LegacyGet {
        feature: &'a str,
        key: &'a str,
    },
    NotFound,
}

impl Route<'_> {
    /// The one method a route answers (`None` for unknown routes).
    pub(crate) fn method(&self) -> Option<&'static str> {
        match self {
            Route::Health | Route::Ready | Route::Registry | Route::LegacyGet { .. } => Some("GET"),
            Route::NotFound => None,
            _ => Some("POST"),
        }
    }
}

pub(crate) fn route(target: &str) -> Route<'_> {
    let path = target.split('?').next().unwrap_or("");
    let path = path.trim_end_matches('/');
    match path {
        "/register" => Route::Register,
        "/push" => Route::Push { sync: false },
        "/push-sync" => Route::Push { sync: true },
        "/get" => Route::Get,
        "/batch_get" => Route::BatchGet,
        "/ping" => Route::Ping,
        "/reset" => Route::Reset,
        "/health" => Route::Health,
        "/ready" => Route::Ready,
        "/registry" => Route::Registry,
        _ => {
            for (prefix, sync) in [
                ("/push/", false),
                ("/push-sync/", true),
                ("/push-batch/", false),
            ] {
                if let Some(event) = path.strip_prefix(prefix) {
                    return Route::LegacyPush { event, sync };
                }
            }
            if let Some(rest) = path.strip_prefix("/get/") {
                if let Some((feature, key)) = rest.split_once('/') {
                    return Route::LegacyGet { feature, key };
                }
            }
            Route::NotFound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_like_beava() {
        assert_eq!(route("/push"), Route::Push { sync: false });
        assert_eq!(route("/push-sync/?x=1"), Route::Push { sync: true });
        assert_eq!(route("/push//"), Route::Push { sync: false });
        assert_eq!(route("/health?x=1"), Route::Health);
        let legacy = |event, sync| Route::LegacyPush { event, sync };
        assert_eq!(route("/push/Click"), legacy("Click", false));
        assert_eq!(route("/push-sync/Click"), legacy("Click", true));
        assert_eq!(route("/push-batch/Click/"), legacy("Click", false));
        assert_eq!(route("/push/Click/x"), legacy("Click/x", false));
        assert_eq!(
            route("/get/clicks/u1/x"),
            Route::LegacyGet {
                feature: "clicks",
                key: "u1/x"
            }
        );
        assert_eq!(
            route("/get//u1"),
            Route::LegacyGet {
                feature: "",
                key: "u1"
            }
        );
        assert_eq!(route("/get/clicks"), Route::NotFound);
        assert_eq!(route("/get/clicks/"), Route::NotFound);
        assert_eq!(route("/push-batch"), Route::NotFound);
        assert_eq!(route("/"), Route::NotFound);
        assert_eq!(route("*"), Route::NotFound);
        assert_eq!(route("/registry").method(), Some("GET"));
        assert_eq!(route("/ping").method(), Some("POST"));
    }
}
