//! What the relay knows of each service's schema: pending, loaded (from
//! where), or failed (why, and when it asks again). The reflection cache
//! holds the outcomes; `/healthz` lists them.

use std::time::{Duration, SystemTime};

use loom_shared::pb::SchemaOrigin;
use moka::Expiry;

/// How long a fetched schema is trusted before it is fetched again.
pub(super) const SCHEMA_TTL: Duration = Duration::from_secs(600);

/// One service's schema, as the relay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// A fetch is under way.
    Pending { since: SystemTime },
    /// Known, from `origin` (`location` names a local file).
    Loaded {
        origin: SchemaOrigin,
        location: String,
        at: SystemTime,
        /// What is missing from it, if anything.
        warnings: usize,
    },
    /// No schema: `reason`; asked again at `retry_at` (`None`: never).
    Failed {
        reason: String,
        at: SystemTime,
        retry_at: Option<SystemTime>,
    },
}

impl SchemaState {
    pub fn word(&self) -> &'static str {
        match self {
            SchemaState::Pending { .. } => "pending",
            SchemaState::Loaded { .. } => "loaded",
            SchemaState::Failed { .. } => "failed",
        }
    }

    /// A JSON object for `/healthz`.
    pub fn to_json(&self) -> serde_json::Value {
        let secs = |t: &SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        };
        match self {
            SchemaState::Pending { since } => serde_json::json!({
                "state": "pending",
                "since_unix": secs(since),
            }),
            SchemaState::Loaded {
                origin,
                location,
                at,
                warnings,
            } => {
                let mut v = serde_json::json!({
                    "state": "loaded",
                    "origin": origin.as_str_name(),
                    "at_unix": secs(at),
                    "warnings": warnings,
                });
                if let Some(version) = match origin {
                    SchemaOrigin::ReflectionV1 => Some("v1"),
                    SchemaOrigin::ReflectionV1alpha => Some("v1alpha"),
                    _ => None,
                } {
                    v["reflection_version"] = version.into();
                }
                if !location.is_empty() {
                    v["location"] = location.as_str().into();
                }
                v
            }
            SchemaState::Failed {
                reason,
                at,
                retry_at,
            } => serde_json::json!({
                "state": "failed",
                "reason": reason,
                "at_unix": secs(at),
                "retry_unix": retry_at.as_ref().map(secs),
            }),
        }
    }
}

/// Cache expiry: schemas after [`SCHEMA_TTL`], failures at their retry time,
/// failures that are never retried never.
pub(super) struct ByOutcome;

impl Expiry<String, SchemaState> for ByOutcome {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &SchemaState,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        match value {
            SchemaState::Loaded { .. } => Some(SCHEMA_TTL),
            SchemaState::Failed { retry_at, .. } => retry_at.map(|at| {
                at.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            }),
            // Never cached: pending fetches live in their own table.
            SchemaState::Pending { .. } => Some(Duration::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_json_says_where_from_and_when_next() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let loaded = SchemaState::Loaded {
            origin: SchemaOrigin::ReflectionV1alpha,
            location: String::new(),
            at: t,
            warnings: 0,
        };
        let v = loaded.to_json();
        assert_eq!(v["state"], "loaded");
        assert_eq!(v["reflection_version"], "v1alpha");
        assert_eq!(v["origin"], "SCHEMA_ORIGIN_REFLECTION_V1ALPHA");
        let failed = SchemaState::Failed {
            reason: "down".into(),
            at: t,
            retry_at: Some(t + Duration::from_secs(30)),
        };
        let v = failed.to_json();
        assert_eq!(
            (v["state"].as_str(), v["retry_unix"].as_f64()),
            (Some("failed"), Some(130.0))
        );
        assert_eq!(failed.word(), "failed");
        let never = SchemaState::Failed {
            reason: "off".into(),
            at: t,
            retry_at: None,
        };
        assert!(never.to_json()["retry_unix"].is_null());
        let e = ByOutcome;
        assert_eq!(
            e.expire_after_create(&String::new(), &never, std::time::Instant::now()),
            None
        );
        assert_eq!(
            e.expire_after_create(&String::new(), &loaded, std::time::Instant::now()),
            Some(SCHEMA_TTL)
        );
    }
}
