//! What the inspector says about each service's schema: loaded (from where,
//! which reflection version), pending, or failed (why, and when the relay
//! asks again); per upstream when the calls went to several (each
//! upstream's calls decode with its own schema, see
//! [`Schema::state_for`](loom_shared::engine::Schema::state_for)). Pure
//! view-model logic over the engine's
//! [`SchemaState`](loom_shared::engine::SchemaState), tested natively.

use std::collections::{BTreeMap, BTreeSet};

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

/// The rows of one upstream, or of the whole session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaGroup {
    /// The upstream (as captured; empty: calls whose start named none), or
    /// `None` when the calls and schemas concern one upstream at most:
    /// then the table has no groups.
    pub upstream: Option<String>,
    pub rows: Vec<SchemaRow>,
}

/// A row for every service that has calls or a schema event, sorted; in a
/// group per upstream when there are several (the services called on it,
/// and those its schema events name), else in one group.
pub fn groups(session: &Session, live: bool, now_unix_ms: f64) -> Vec<SchemaGroup> {
    let schema = session.schema();
    let mut by_upstream: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for calls in session.upstreams() {
        by_upstream
            .entry(calls.upstream.to_string())
            .or_default()
            .extend(
                session
                    .upstream_services(&calls.upstream)
                    .map(str::to_owned),
            );
    }
    for note in schema.notes().iter().filter(|n| !n.service.is_empty()) {
        by_upstream
            .entry(note.source.upstream.clone())
            .or_default()
            .insert(note.service.clone());
    }
    let row = |upstream: &str, service: String| {
        let (state, text) = describe(&schema.state_for(upstream, &service), live, now_unix_ms);
        SchemaRow {
            service,
            state,
            text,
        }
    };
    let named: Vec<&String> = by_upstream.keys().filter(|u| !u.is_empty()).collect();
    if named.len() > 1 {
        return by_upstream
            .iter()
            .map(|(upstream, services)| SchemaGroup {
                upstream: Some(upstream.clone()),
                rows: services.iter().map(|s| row(upstream, s.clone())).collect(),
            })
            .collect();
    }
    let upstream = named.first().map_or("", |u| u.as_str());
    let services: BTreeSet<String> = by_upstream.values().flatten().cloned().collect();
    let rows: Vec<SchemaRow> = services.into_iter().map(|s| row(upstream, s)).collect();
    if rows.is_empty() {
        return Vec::new();
    }
    vec![SchemaGroup {
        upstream: None,
        rows,
    }]
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
        let groups = groups(&session, true, 10_000.0);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].upstream, None, "one upstream: no groups");
        let rows = &groups[0].rows;
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
        assert_eq!(super::groups(&session, false, 0.0)[0].rows[0].state, "none");
    }

    #[test]
    fn several_upstreams_each_get_their_services() {
        let call = |id: u64, path: &str, upstream: &str| {
            pb::Event::new(
                id,
                pb::CallStarted {
                    path: path.into(),
                    upstream: upstream.into(),
                    ..Default::default()
                },
            )
        };
        let (a, c) = ("http://a:1", "unix:/run/c.sock");
        let session = Session::from_events([
            call(1, "/a.Shared/Get", a),
            call(2, "/a.Shared/Get", c),
            call(3, "/c.Only/Get", c),
            pb::Event::descriptors(pb::Descriptors::failure(
                vec!["c.Only".into()],
                pb::SchemaOrigin::Reflection,
                c,
                "reflection: UNIMPLEMENTED",
                0,
            )),
        ]);
        let groups = groups(&session, false, 0.0);
        /// A group's upstream, and its rows' service and state.
        type Seen<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);
        let got: Vec<Seen> = groups
            .iter()
            .map(|g| {
                (
                    g.upstream.as_deref(),
                    g.rows
                        .iter()
                        .map(|r| (r.service.as_str(), r.state))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(a), vec![("a.Shared", "none")]),
                (Some(c), vec![("a.Shared", "none"), ("c.Only", "failed")]),
            ]
        );
        assert!(
            groups[1].rows[1].text.contains(c),
            "{:?}",
            groups[1].rows[1]
        );
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
