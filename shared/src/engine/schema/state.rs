//! What is known of one service's schema: loaded (from where), unusable,
//! failed (why, and when the relay asks again), or nothing yet. The
//! inspector and `loom decode` show it per service.

use super::{Schema, SchemaSource, ServiceNote};

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
    /// What is known of `service`'s schema (fully-qualified name), in the
    /// merged pool.
    pub fn state(&self, service: &str) -> SchemaState {
        self.state_for("", service)
    }

    /// What is known of `service`'s schema for the calls to `upstream`
    /// (empty: unknown): what their decoding uses (see
    /// [`Schema::resolve_for`]), and the notes of that upstream (or, for an
    /// unknown one, of any).
    pub fn state_for(&self, upstream: &str, service: &str) -> SchemaState {
        if let Some(origin) = self.origin_for(upstream, service) {
            return match &origin.error {
                None => SchemaState::Loaded {
                    source: self.source_for(upstream, service, origin),
                    warnings: self
                        .notes()
                        .iter()
                        .filter(|n| !n.failed && n.service == service && concerns(n, upstream))
                        .flat_map(|n| n.warnings.iter().cloned())
                        .collect(),
                },
                Some(error) => SchemaState::Unusable {
                    source: origin.source.clone(),
                    error: error.clone(),
                },
            };
        }
        if self
            .view(upstream, service)
            .pool
            .get_service_by_name(service)
            .is_some()
        {
            return SchemaState::Bundled;
        }
        match self.failures_for(upstream, service).last() {
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

    /// The failure notices, oldest first, that say why the calls to
    /// `upstream` have no schema for `service`: those naming the service
    /// (or none), from that upstream (from any, when it is unknown).
    pub(super) fn failures_for<'a>(
        &'a self,
        upstream: &'a str,
        service: &'a str,
    ) -> impl Iterator<Item = &'a ServiceNote> + 'a {
        self.notes().iter().filter(move |n| {
            n.failed && (n.service == service || n.service.is_empty()) && concerns(n, upstream)
        })
    }
}

/// Whether `note` is about the calls to `upstream`: it came from there,
/// from no upstream (a local file), or the calls' upstream is unknown.
fn concerns(note: &ServiceNote, upstream: &str) -> bool {
    upstream.is_empty() || note.source.upstream.is_empty() || note.source.upstream == upstream
}
