//! What is known of one service's schema: loaded (from where), unusable,
//! failed (why, and when the relay asks again), or nothing yet. The
//! inspector and `loom decode` show it per service.

use super::{Schema, SchemaSource};

/// One service's schema, as far as the capture says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Bundled with Loom (gRPC reflection, health of the error model).
    Bundled,
    /// Loaded from `source`; `warnings` say what in it is incomplete.
    Loaded {
        /// The set that defines the service.
        source: SchemaSource,
        /// The warnings of every set that named the service (the latest set
        /// from each origin); empty when there were none.
        warnings: Vec<String>,
    },
    /// A set describes the service, but its file could not be added.
    Unusable {
        /// The set that defines the service.
        source: SchemaSource,
        /// Why the file could not be added.
        error: String,
    },
    /// There is no schema from `source`: `reason`, and when the relay
    /// retries (ns since the Unix epoch), if it does.
    Failed {
        /// The origin that has no schema (the latest failure notice for the
        /// service, or one that named no service).
        source: SchemaSource,
        /// Why, in words; `no reason given` when the notice said nothing.
        reason: String,
        /// When the relay asks again, ns since the Unix epoch; `None` when
        /// it will not.
        retry_unix_nanos: Option<i64>,
    },
    /// Nothing is known: pending while a relay is fetching it, otherwise
    /// absent from the capture.
    Unknown,
}

impl SchemaState {
    /// A short word for lists: `loaded`, `failed`, `unusable`, `bundled`,
    /// `unknown`.
    pub fn word(&self) -> &'static str {
        match self {
            SchemaState::Bundled => "bundled",
            SchemaState::Loaded { .. } => "loaded",
            SchemaState::Unusable { .. } => "unusable",
            SchemaState::Failed { .. } => "failed",
            SchemaState::Unknown => "unknown",
        }
    }
}

impl Schema {
    /// What is known of `service`'s schema (fully-qualified name).
    pub fn state(&self, service: &str) -> SchemaState {
        if let Some(origin) = self.service_origin(service) {
            return match &origin.error {
                None => SchemaState::Loaded {
                    source: origin.source.clone(),
                    warnings: self
                        .notes()
                        .iter()
                        .filter(|n| !n.failed && n.service == service)
                        .flat_map(|n| n.warnings.iter().cloned())
                        .collect(),
                },
                Some(error) => SchemaState::Unusable {
                    source: origin.source.clone(),
                    error: error.clone(),
                },
            };
        }
        if self.pool().get_service_by_name(service).is_some() {
            return SchemaState::Bundled;
        }
        let failure = self
            .notes()
            .iter()
            .rev()
            .find(|n| n.failed && (n.service == service || n.service.is_empty()));
        match failure {
            Some(note) => SchemaState::Failed {
                source: note.source.clone(),
                reason: if note.warnings.is_empty() {
                    "no reason given".to_owned()
                } else {
                    note.warnings.join("; ")
                },
                retry_unix_nanos: note.retry_unix_nanos,
            },
            None => SchemaState::Unknown,
        }
    }
}
