//! What a row of the call list says: kind, status, duration, and the
//! method split into service and name. Native view-model logic, shared by
//! the list, the detail view and the Methods summary, tested natively.

use loom_shared::engine::CallSummary;

use crate::filter::kind_key;
use crate::format;

/// `unary`, `server`, `client`, `bidi`, with `?` when inferred from message
/// counts (the schema does not know the method).
pub fn kind_text(call: &CallSummary) -> String {
    format!(
        "{}{}",
        kind_key(call.kind),
        if call.kind_inferred { "?" } else { "" }
    )
}

/// `(text, class)` of a call's status cell.
pub fn status_cell(call: &CallSummary) -> (String, &'static str) {
    match &call.status {
        None => ("pending".to_owned(), "status-pending"),
        Some(s) if s.is_ok() => ("OK".to_owned(), "status-ok"),
        Some(s) => (s.name(), "status-err"),
    }
}

/// Why a call has the status it has, when the status cell alone would
/// mislead: a call the client ended (format 1.2) shows CANCELLED or
/// DEADLINE_EXCEEDED, whatever the upstream answered.
pub fn status_hint(call: &CallSummary) -> Option<&'static str> {
    let status = call.status.as_ref().filter(|s| s.by_client)?;
    Some(if status.code == Some(DEADLINE_EXCEEDED) {
        "the client's deadline passed"
    } else {
        "cancelled by the client"
    })
}

/// The status cell's tooltip: its text, and [`status_hint`] when there is
/// one (`CANCELLED: cancelled by the client`).
pub fn status_title(call: &CallSummary) -> String {
    let (text, _) = status_cell(call);
    match status_hint(call) {
        Some(hint) => format!("{text}: {hint}"),
        None => text,
    }
}

/// gRPC's DEADLINE_EXCEEDED.
const DEADLINE_EXCEEDED: u32 = 4;

/// Total duration, or (while open) the time since the start.
pub fn duration_text(call: &CallSummary, now_ms: f64) -> String {
    match (call.timing.ended, call.timing.start_unix_nanos) {
        (Some(total), _) => format::duration(total),
        (None, Some(start)) => {
            let elapsed = (now_ms * 1e6 - start as f64).max(0.0) as u64;
            format!("{} …", format::duration(elapsed))
        }
        (None, None) => "…".to_owned(),
    }
}

/// `("Inventory/", "GetItem")`: the service without its package, and the
/// method (the package is in the tooltip, the full name).
pub fn method_parts(call: &CallSummary) -> (String, String) {
    match &call.method {
        Some(m) => (format!("{}/", short_service(&m.service)), m.method.clone()),
        None => (String::new(), call.path.to_string()),
    }
}

/// [`method_parts`] of a full name, `loom.demo.v1.Inventory/GetItem` (what
/// the Methods summary has); a raw path (`/…`, not of that form) is shown
/// whole, as the list shows it.
pub fn split_method(full: &str) -> (String, String) {
    match full.rsplit_once('/') {
        Some((service, method)) if !service.is_empty() && !full.starts_with('/') => {
            (format!("{}/", short_service(service)), method.to_owned())
        }
        _ => (String::new(), full.to_owned()),
    }
}

/// `Inventory` of `loom.demo.v1.Inventory`.
fn short_service(service: &str) -> &str {
    service.rsplit('.').next().unwrap_or(service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_shared::engine::Session;
    use loom_shared::pb;

    #[test]
    fn rows_in_words() {
        let s = Session::from_events([
            pb::Event::new(
                1,
                pb::CallStarted {
                    path: "/shop.v1.Inventory/GetItem".into(),
                    start_unix_nanos: 1_000_000_000,
                    ..Default::default()
                },
            ),
            pb::Event::new(
                2,
                pb::CallEnded {
                    grpc_status: Some(5),
                    offset_nanos: 2_500_000,
                    ..Default::default()
                },
            ),
        ]);
        let open = s.call(1).unwrap();
        assert_eq!(kind_text(open), "unary?");
        assert_eq!(status_cell(open), ("pending".to_owned(), "status-pending"));
        assert_eq!(duration_text(open, 3_000.0), "2.00 s …");
        assert_eq!(
            method_parts(open),
            ("Inventory/".to_owned(), "GetItem".to_owned())
        );
        let failed = s.call(2).unwrap();
        assert_eq!(status_cell(failed), ("NOT_FOUND".to_owned(), "status-err"));
        assert_eq!(duration_text(failed, 0.0), "2.50 ms");
        assert_eq!(method_parts(failed), (String::new(), String::new()));
        assert_eq!(
            split_method("loom.demo.v1.Inventory/GetItem"),
            ("Inventory/".to_owned(), "GetItem".to_owned())
        );
        assert_eq!(
            split_method("/odd/path"),
            (String::new(), "/odd/path".to_owned())
        );
        assert_eq!(split_method("plain"), (String::new(), "plain".to_owned()));
        assert_eq!(
            (status_hint(failed), status_title(failed).as_str()),
            (None, "NOT_FOUND")
        );
        assert_eq!(status_title(open), "pending");
    }

    #[test]
    fn a_call_the_client_ended_says_so() {
        use pb::{EndKind, EndSide};
        let end = |kind, grpc_status| {
            pb::CallEnded {
                grpc_status,
                ..Default::default()
            }
            .with_endings(vec![
                pb::CallEnding::new(1, EndSide::Client, kind, 8, ""),
                pb::CallEnding::new(2, EndSide::Upstream, EndKind::Trailers, 0, ""),
            ])
        };
        let s = Session::from_events([
            pb::Event::new(1, end(EndKind::Reset, Some(0))),
            pb::Event::new(2, end(EndKind::Deadline, None)),
            pb::Event::new(3, end(EndKind::Disconnect, None)),
        ]);
        let call = |id| s.call(id).unwrap();
        assert_eq!(status_cell(call(1)), ("CANCELLED".to_owned(), "status-err"));
        assert_eq!(status_hint(call(1)), Some("cancelled by the client"));
        assert_eq!(status_title(call(1)), "CANCELLED: cancelled by the client");
        assert_eq!(
            status_title(call(2)),
            "DEADLINE_EXCEEDED: the client's deadline passed"
        );
        assert_eq!(status_title(call(3)), "CANCELLED: cancelled by the client");
    }
}
