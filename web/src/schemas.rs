//! What the inspector says about each service's schema: loaded (from where,
//! which reflection version), pending, or failed (why, and when the relay
//! asks again). Pure view-model logic over the engine's
//! [`SchemaState`](loom_shared::engine::SchemaState), tested natively.

use std::collections::BTreeSet;

use loom_shared::engine::{SchemaState, Session};

use crate::format;

/// One service's line in the Schemas table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRow {
    pub service: String,
    /// `loaded`, `pending`, `failed`, `unusable`, `bundled`, `none`: also
    /// the row's CSS class.
    pub state: &'static str,
    pub text: String,
}

/// The state of `service`'s schema in words. `live`: a relay is feeding
/// this session (so an unknown schema is being fetched); `now_unix_ms` for
/// the time until a retry.
pub fn describe(state: &SchemaState, live: bool, now_unix_ms: f64) -> (&'static str, String) {
    match state {
        SchemaState::Bundled => ("bundled", "bundled with Loom".to_owned()),
        SchemaState::Loaded { source, warnings } => {
            let mut text = source.to_string();
            if !warnings.is_empty() {
                text.push_str(&format!(" — incomplete: {}", warnings.join("; ")));
            }
            ("loaded", text)
        }
        SchemaState::Unusable { source, error } => {
            ("unusable", format!("{source}, but unusable: {error}"))
        }
        SchemaState::Failed {
            source,
            reason,
            retry_unix_nanos,
        } => {
            let when = match retry_unix_nanos {
                Some(at) => {
                    let left_ms = (*at as f64 / 1e6 - now_unix_ms).max(0.0);
                    if left_ms < 1000.0 {
                        " — retried on the next call".to_owned()
                    } else {
                        format!(
                            " — retried on a call after {}",
                            format::duration((left_ms * 1e6) as u64)
                        )
                    }
                }
                None => String::new(),
            };
            ("failed", format!("{reason} ({source}){when}"))
        }
        SchemaState::Unknown if live => (
            "pending",
            "pending: the relay is asking the server for it".to_owned(),
        ),
        SchemaState::Unknown => ("none", "no schema in this capture".to_owned()),
    }
}

/// A row for every service that has calls or a schema event, sorted.
pub fn rows(session: &Session, live: bool, now_unix_ms: f64) -> Vec<SchemaRow> {
    let schema = session.schema();
    let mut services: BTreeSet<String> = session.services().map(str::to_owned).collect();
    services.extend(
        schema
            .notes()
            .iter()
            .map(|n| n.service.clone())
            .filter(|s| !s.is_empty()),
    );
    services
        .into_iter()
        .map(|service| {
            let (state, text) = describe(&schema.state(&service), live, now_unix_ms);
            SchemaRow {
                service,
                state,
                text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_shared::pb;

    fn failure(service: &str, retry_unix_nanos: i64) -> pb::Event {
        pb::Event::descriptors(pb::Descriptors::failure(
            vec![service.into()],
            pb::SchemaOrigin::Reflection,
            "http://up:1",
            "the upstream serves no reflection",
            retry_unix_nanos,
        ))
    }

    fn call(id: u64, path: &str) -> pb::Event {
        pb::Event::new(
            id,
            pb::CallStarted {
                path: path.into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn every_service_gets_a_row_in_words() {
        let session = Session::from_events([
            call(1, "/a.Pending/Get"),
            call(2, "/b.Failed/Get"),
            call(
                3,
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            ),
            failure("b.Failed", 40_000_000_000),
            failure("c.NoCalls", 0),
        ]);
        let rows = rows(&session, true, 10_000.0);
        let got: Vec<(&str, &str)> = rows.iter().map(|r| (r.service.as_str(), r.state)).collect();
        assert_eq!(
            got,
            [
                ("a.Pending", "pending"),
                ("b.Failed", "failed"),
                ("c.NoCalls", "failed"),
                ("grpc.reflection.v1.ServerReflection", "bundled"),
            ]
        );
        assert_eq!(
            rows[1].text,
            "the upstream serves no reflection (reflection from http://up:1) \
             — retried on a call after 30.00 s"
        );
        assert!(!rows[2].text.contains("retried"), "{}", rows[2].text);
        // Offline, nothing is pending.
        assert_eq!(super::rows(&session, false, 0.0)[0].state, "none");
    }

    #[test]
    fn a_loaded_schema_says_where_from_and_what_is_missing() {
        let state = SchemaState::Loaded {
            source: loom_shared::engine::SchemaSource {
                origin: pb::SchemaOrigin::ReflectionV1alpha,
                upstream: "http://up:1".into(),
                ..Default::default()
            },
            warnings: vec!["type x.Y is missing".into()],
        };
        assert_eq!(
            describe(&state, true, 0.0),
            (
                "loaded",
                "reflection v1alpha from http://up:1 — incomplete: type x.Y is missing".to_owned()
            )
        );
    }
}
