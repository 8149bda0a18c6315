//! gRPC status: code names, how a call ended, and `google.rpc.Status`
//! details decoded with the bundled error model.

use bytes::Bytes;
use prost_reflect::DescriptorPool;

use super::body::Body;
use super::json::JsonOptions;
use crate::pb;

/// The canonical status code names, indexed by code.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The name shown for a call that ended without a `grpc-status`.
pub const NO_STATUS: &str = "NO_STATUS";

/// The canonical name of a code (`NOT_FOUND`), if it is one of the 17.
pub fn code_name(code: u32) -> Option<&'static str> {
    CODE_NAMES.get(usize::try_from(code).ok()?).copied()
}

/// A code's name, or `CODE_<n>` for codes outside the canonical set.
pub fn describe_code(code: u32) -> String {
    code_name(code).map_or_else(|| format!("CODE_{code}"), str::to_owned)
}

/// Parses a status given as a number (`5`) or a name in any case, with or
/// without underscores (`NOT_FOUND`, `not_found`, `NotFound`).
pub fn parse_code(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Ok(code) = text.parse::<u32>() {
        return Some(code);
    }
    let wanted: String = text
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    CODE_NAMES
        .iter()
        .position(|name| name.replace('_', "") == wanted)
        .and_then(|i| u32::try_from(i).ok())
}

/// How an ended call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatus {
    /// The status the client saw ([`pb::CallEnded::client_status`]):
    /// CANCELLED or DEADLINE_EXCEEDED when the client ended the call,
    /// otherwise `grpc-status`; `None` when the call ended without one
    /// (reset, relay error): never shown as OK.
    pub code: Option<u32>,
    /// `grpc-message`, percent-decoded.
    pub message: String,
    /// What the relay said, when it ended the call itself.
    pub relay_error: Option<String>,
    /// The response was trailers-only.
    pub trailers_only: bool,
    /// HTTP status of a trailers-only response, when not 200.
    pub http_status: Option<u32>,
    /// The client ended the call (cancelled it, its deadline passed, it went
    /// away): `code` is what it saw, not what the upstream said (format
    /// 1.2; the endings are in [`super::CallDetail::endings`]).
    pub by_client: bool,
}

impl CallStatus {
    /// The status a `CallEnded` event records. An empty `relay_error` and an
    /// `http_status` of 0 or 200 become `None`.
    pub fn from_ended(ended: &pb::CallEnded) -> Self {
        CallStatus {
            code: ended.client_status(),
            by_client: ended.ended_by_client(),
            message: ended.grpc_message.clone(),
            relay_error: (!ended.relay_error.is_empty()).then(|| ended.relay_error.clone()),
            trailers_only: ended.trailers_only,
            http_status: (ended.http_status != 0 && ended.http_status != 200)
                .then_some(ended.http_status),
        }
    }

    /// Only a `grpc-status: 0` is OK.
    pub fn is_ok(&self) -> bool {
        self.code == Some(0)
    }

    /// `OK`, `NOT_FOUND`, `CODE_42`, or [`NO_STATUS`].
    pub fn name(&self) -> String {
        self.code
            .map_or_else(|| NO_STATUS.to_owned(), describe_code)
    }
}

/// Decodes `grpc-status-details-bin` bytes as a `google.rpc.Status`, its
/// details (`BadRequest`, `ErrorInfo`, ...) expanded as `Any`s.
pub fn decode_details(pool: &DescriptorPool, details: &Bytes, options: &JsonOptions) -> Body {
    match pool.get_message_by_name("google.rpc.Status") {
        Some(desc) => Body::decode(Ok(&desc), details.clone(), options),
        None => Body::schemaless("google.rpc.Status is not in the schema", details),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(code_name(0), Some("OK"));
        assert_eq!(code_name(1), Some("CANCELLED"));
        assert_eq!(code_name(5), Some("NOT_FOUND"));
        assert_eq!(code_name(16), Some("UNAUTHENTICATED"));
        assert_eq!(code_name(17), None);
        assert_eq!(describe_code(42), "CODE_42");
        assert_eq!(describe_code(14), "UNAVAILABLE");
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_code("5"), Some(5));
        assert_eq!(parse_code(" 42 "), Some(42));
        assert_eq!(parse_code("not_found"), Some(5));
        assert_eq!(parse_code("NOT_FOUND"), Some(5));
        assert_eq!(parse_code("NotFound"), Some(5));
        assert_eq!(parse_code("ok"), Some(0));
        assert_eq!(parse_code("unauthenticated"), Some(16));
        assert_eq!(parse_code("nope"), None);
        assert_eq!(parse_code(""), None);
    }

    #[test]
    fn a_call_without_grpc_status_is_never_ok() {
        let ended = pb::CallEnded {
            grpc_status: None,
            relay_error: "client cancelled".into(),
            ..Default::default()
        };
        let status = CallStatus::from_ended(&ended);
        assert!(!status.is_ok());
        assert_eq!(status.name(), NO_STATUS);
        assert_eq!(status.relay_error.as_deref(), Some("client cancelled"));
        let ok = CallStatus::from_ended(&pb::CallEnded {
            grpc_status: Some(0),
            ..Default::default()
        });
        assert!(ok.is_ok());
        assert_eq!(ok.name(), "OK");
        let trailers_only = CallStatus::from_ended(&pb::CallEnded {
            trailers_only: true,
            http_status: 503,
            ..Default::default()
        });
        assert_eq!(trailers_only.http_status, Some(503));
        assert!(!trailers_only.is_ok());
    }

    #[test]
    fn a_client_cancel_is_cancelled_even_when_the_upstream_said_ok() {
        use pb::{EndKind, EndSide};
        let ending = |side, kind, code| pb::CallEnding::new(0, side, kind, code, "");
        let crossed = pb::CallEnded {
            grpc_status: Some(0),
            ..Default::default()
        }
        .with_endings(vec![
            ending(EndSide::Client, EndKind::Reset, 8),
            ending(EndSide::Upstream, EndKind::Trailers, 0),
        ]);
        let status = CallStatus::from_ended(&crossed);
        assert_eq!((status.code, status.by_client), (Some(1), true));
        assert_eq!(status.name(), "CANCELLED");
        assert!(!status.is_ok());
        let deadline =
            CallStatus::from_ended(&pb::CallEnded::default().with_endings(vec![ending(
                EndSide::Client,
                EndKind::Deadline,
                8,
            )]));
        assert_eq!(deadline.name(), "DEADLINE_EXCEEDED");
        // An upstream reset the relay told the client nothing of: no status.
        let reset = CallStatus::from_ended(&pb::CallEnded::default().with_endings(vec![ending(
            EndSide::Upstream,
            EndKind::Reset,
            2,
        )]));
        assert_eq!((reset.name().as_str(), reset.by_client), (NO_STATUS, false));
    }
}

#[cfg(test)]
mod details_tests {
    use prost::Message as _;
    use serde_json::{Value, json};

    use super::*;
    use crate::engine::schema::Schema;
    use crate::rpc;

    fn decode(status: &rpc::Status, show_defaults: bool) -> Value {
        let options = JsonOptions {
            show_defaults,
            unknown_fields: true,
        };
        let body = decode_details(
            Schema::new().pool(),
            &status.encode_to_vec().into(),
            &options,
        );
        match body {
            Body::Json { type_name, json } => {
                assert_eq!(type_name, "google.rpc.Status");
                json
            }
            other => panic!("not decoded: {other:?}"),
        }
    }

    /// Every standard detail type, encoded with the bundled prost types,
    /// decodes to its JSON with only the bundled schema.
    #[test]
    fn every_bundled_detail_type_round_trips() {
        use rpc::{bad_request, help, precondition_failure, quota_failure};
        let localized = rpc::LocalizedMessage {
            locale: "fr-CH".into(),
            message: "Nom invalide".into(),
        };
        let details = vec![
            rpc::to_any(&rpc::BadRequest {
                field_violations: vec![bad_request::FieldViolation {
                    field: "name".into(),
                    description: "must not be empty".into(),
                    reason: "EMPTY".into(),
                    localized_message: Some(localized.clone()),
                }],
            }),
            rpc::to_any(&rpc::ErrorInfo {
                reason: "QUOTA".into(),
                domain: "example.com".into(),
                metadata: [
                    ("zone".to_owned(), "b".to_owned()),
                    ("a".to_owned(), "1".to_owned()),
                ]
                .into_iter()
                .collect(),
            }),
            rpc::to_any(&rpc::RetryInfo {
                retry_delay: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 500_000_000,
                }),
            }),
            rpc::to_any(&rpc::DebugInfo {
                stack_entries: vec!["a.rs:1".into(), "b.rs:2".into()],
                detail: "boom".into(),
            }),
            rpc::to_any(&rpc::QuotaFailure {
                violations: vec![quota_failure::Violation {
                    subject: "project:1".into(),
                    description: "daily limit".into(),
                    quota_value: 1 << 40,
                    future_quota_value: Some(7),
                    ..Default::default()
                }],
            }),
            rpc::to_any(&rpc::PreconditionFailure {
                violations: vec![precondition_failure::Violation {
                    r#type: "TOS".into(),
                    subject: "user".into(),
                    description: "not accepted".into(),
                }],
            }),
            rpc::to_any(&rpc::ResourceInfo {
                resource_type: "book".into(),
                resource_name: "shelves/1/books/2".into(),
                owner: "me".into(),
                description: "gone".into(),
            }),
            rpc::to_any(&rpc::Help {
                links: vec![help::Link {
                    description: "docs".into(),
                    url: "https://example.com/help".into(),
                }],
            }),
            rpc::to_any(&localized),
            rpc::to_any(&rpc::RequestInfo {
                request_id: "req-1".into(),
                serving_data: "shard 3".into(),
            }),
        ];
        let status = rpc::Status {
            code: 3,
            message: "invalid name".into(),
            details,
        };
        let t = |name: &str| format!("type.googleapis.com/google.rpc.{name}");
        assert_eq!(
            decode(&status, false),
            json!({
                "code": 3,
                "message": "invalid name",
                "details": [
                    {"@type": t("BadRequest"), "fieldViolations": [{
                        "field": "name", "description": "must not be empty", "reason": "EMPTY",
                        "localizedMessage": {"locale": "fr-CH", "message": "Nom invalide"}}]},
                    {"@type": t("ErrorInfo"), "reason": "QUOTA", "domain": "example.com",
                     "metadata": {"a": "1", "zone": "b"}},
                    {"@type": t("RetryInfo"), "retryDelay": "1.500s"},
                    {"@type": t("DebugInfo"), "stackEntries": ["a.rs:1", "b.rs:2"], "detail": "boom"},
                    {"@type": t("QuotaFailure"), "violations": [{
                        "subject": "project:1", "description": "daily limit",
                        "quotaValue": "1099511627776", "futureQuotaValue": "7"}]},
                    {"@type": t("PreconditionFailure"), "violations": [{
                        "type": "TOS", "subject": "user", "description": "not accepted"}]},
                    {"@type": t("ResourceInfo"), "resourceType": "book",
                     "resourceName": "shelves/1/books/2", "owner": "me", "description": "gone"},
                    {"@type": t("Help"), "links": [{"description": "docs", "url": "https://example.com/help"}]},
                    {"@type": t("LocalizedMessage"), "locale": "fr-CH", "message": "Nom invalide"},
                    {"@type": t("RequestInfo"), "requestId": "req-1", "servingData": "shard 3"},
                ]
            })
        );
        // With defaults shown, empty fields appear too.
        let shown = decode(&status, true);
        assert_eq!(
            shown["details"][4]["violations"][0]["apiService"],
            json!("")
        );
    }

    #[test]
    fn garbage_details_are_schemaless() {
        let body = decode_details(
            Schema::new().pool(),
            &Bytes::from_static(b"\x08\x03\x12\x09nope"),
            &JsonOptions::default(),
        );
        assert!(matches!(body, Body::Schemaless { .. }), "{body:?}");
    }
}
