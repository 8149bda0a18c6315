//! The schema: one `DescriptorPool` built from every `Descriptors` event of a
//! capture or live session, plus the bundled `google.rpc` error model and the
//! protobuf well-known types.
//!
//! Sets from several services and upstreams are merged. Nothing here is
//! fatal: a set that is malformed, or a file that conflicts with one already
//! added, is skipped and reported as a [`SchemaProblem`]; a file whose
//! imports are missing is added without them when it does not use their
//! types. A failure notice (format 1.1: `failure` set; 1.0: an empty set)
//! becomes a [`ServiceNote`]; [`Schema::state`] says, per service, whether
//! a schema is loaded, failed (and when the relay retries) or unknown.
//!
//! When the same file arrives more than once, the latest set wins (the
//! capture format says the latest set for a service is the best one).
//!
//! One capture may hold calls to several upstreams, and two of them may
//! serve the same service (the same file) in different versions. The
//! merged pool holds one version; an upstream whose files did not all go
//! into it as they came gets a pool of its own as well ([`own`]), built
//! from its own sets and the local files, and its calls are decoded with
//! that ([`Schema::resolve_for`], [`Schema::state_for`]). Captures of one
//! upstream, or of several that agree, have the merged pool only.

mod build;
mod method;
mod own;
mod source;
mod state;

use std::collections::{BTreeSet, HashMap, HashSet};

use prost_reflect::DescriptorPool;

use crate::pb;

pub use method::{CallKind, MethodPath, ResolvedMethod};
pub use source::{LocalSchema, SchemaSource};
pub use state::SchemaState;

/// Something wrong with a descriptor set, for the UI to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// The set the problem was found in.
    pub source: SchemaSource,
    /// The file concerned, when it is about one file.
    pub file: Option<String>,
    /// What is wrong, in words.
    pub message: String,
    /// `false`: the file (or set) was skipped. `true`: it was repaired and
    /// added (for example, without an import that was missing).
    pub repaired: bool,
}

impl std::fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file} ({}): {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

/// What a descriptor set said about a service besides its schema: a
/// reflection failure (an empty set), or warnings met assembling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNote {
    /// Fully-qualified service name; empty when the set named none.
    pub service: String,
    /// The set the note came from.
    pub source: SchemaSource,
    /// The set's `warnings`: problems met assembling it, or, for a failure,
    /// why there is no schema (possibly empty in format 1.0 captures).
    pub warnings: Vec<String>,
    /// There is no schema from this source.
    pub failed: bool,
    /// When the relay asks again (ns since the Unix epoch), for failures
    /// it will retry.
    pub retry_unix_nanos: Option<i64>,
}

/// Where a service's schema came from, or why it could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOrigin {
    /// The set that defines the service (the latest, when several do).
    pub source: SchemaSource,
    /// The file that defines the service.
    pub file: String,
    /// Why the file could not be added; `None` when the service is usable.
    pub error: Option<String>,
}

/// How [`Schema::add_set`] changed the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Not at all (a failure notice, or a set seen before).
    Nothing,
    /// New files went on top: what resolved before resolves the same.
    Extended,
    /// The pool was rebuilt: anything may resolve differently.
    Rebuilt,
}

/// Every schema known so far. Cheap to query; [`Schema::add`] rebuilds the
/// pool when a set brings something new.
#[derive(Debug, Clone)]
pub struct Schema {
    base: DescriptorPool,
    pool: DescriptorPool,
    /// Non-empty sets in arrival order.
    sets: Vec<pb::Descriptors>,
    /// Hashes of `sets` (bytes and origin), so a repeat is found at once.
    seen: HashSet<u64>,
    notes: Vec<ServiceNote>,
    /// The merged pool's problems (the bundled types' included).
    merged_problems: Vec<SchemaProblem>,
    /// What [`Schema::problems`] says: the merged pool's, but for those of
    /// upstreams with a pool of their own, which say what went wrong there.
    problems: Vec<SchemaProblem>,
    services: HashMap<String, ServiceOrigin>,
    /// Upstreams whose files did not all go into the merged pool as they
    /// came ([`build::Built::diverging`]).
    diverging: BTreeSet<String>,
    /// Their own pools ([`own`]).
    own: HashMap<String, own::OwnPool>,
    generation: u64,
}

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}

impl Schema {
    /// The bundled types only.
    pub fn new() -> Self {
        let (base, problems) = build::bundled();
        Schema {
            pool: base.clone(),
            base,
            sets: Vec::new(),
            seen: HashSet::new(),
            notes: Vec::new(),
            merged_problems: problems.clone(),
            problems,
            services: HashMap::new(),
            diverging: BTreeSet::new(),
            own: HashMap::new(),
            generation: 0,
        }
    }

    /// The bundled types and every set in `sets`, in order.
    pub fn from_descriptors<'a>(sets: impl IntoIterator<Item = &'a pb::Descriptors>) -> Self {
        let mut schema = Schema::new();
        let mut added = false;
        for set in sets {
            schema.note(set);
            if !set.is_failure() && schema.first_time(set) {
                schema.sets.push(set.clone());
                added = true;
            }
        }
        if added {
            schema.rebuild();
        }
        schema
    }

    /// Adds a `Descriptors` event. Returns whether the pool changed (so
    /// decoded views made before are stale).
    ///
    /// A set that only brings new files (the usual case) is added on top of
    /// the pool; one that replaces a file already there rebuilds the pool,
    /// so that the newest copy wins. Many sets cost time linear in their
    /// size, not quadratic.
    pub fn add(&mut self, set: &pb::Descriptors) -> bool {
        self.add_set(set) != Added::Nothing
    }

    /// [`Schema::add`], saying how the pool changed.
    pub fn add_set(&mut self, set: &pb::Descriptors) -> Added {
        self.note(set);
        if set.is_failure() || !self.first_time(set) {
            return Added::Nothing;
        }
        self.sets.push(set.clone());
        if build::extends(&self.pool, set) {
            let pool = std::mem::take(&mut self.pool);
            let built = build::merge(pool, std::slice::from_ref(set));
            self.pool = built.pool;
            for (service, origin) in built.services {
                self.services.insert(service, origin);
            }
            self.merged_problems.extend(built.problems);
            // New files on top change no upstream's own pool but this set's
            // (all of them, for a local file), and those of the upstreams
            // that now diverge.
            let mut stale: BTreeSet<String> = built.diverging.into_iter().collect();
            stale.retain(|u| self.diverging.insert(u.clone()));
            if set.upstream.is_empty() {
                stale.extend(self.diverging.iter().cloned());
            } else if self.diverging.contains(&set.upstream) {
                stale.insert(set.upstream.clone());
            }
            let own_changed = self.rebuild_own(&stale);
            self.generation += 1;
            if own_changed {
                Added::Rebuilt
            } else {
                Added::Extended
            }
        } else {
            self.rebuild();
            Added::Rebuilt
        }
    }

    /// The merged pool: every type that could be added.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// Sets and files that were skipped or repaired.
    pub fn problems(&self) -> &[SchemaProblem] {
        &self.problems
    }

    /// Reflection failures and warnings, per service.
    pub fn notes(&self) -> &[ServiceNote] {
        &self.notes
    }

    /// Where a service's schema came from (or why it is unusable); `None`
    /// when no set described it.
    pub fn service_origin(&self, service: &str) -> Option<&ServiceOrigin> {
        self.services.get(service)
    }

    /// Bumped each time the pool changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether this set (its bytes, from its origin) is new; remembers it.
    fn first_time(&mut self, set: &pb::Descriptors) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        set.file_descriptor_set.hash(&mut h);
        SchemaSource::of(set).hash(&mut h);
        self.seen.insert(h.finish())
    }

    /// Keeps a set's warnings (or failure) as per-service notes, replacing
    /// older notes from the same source.
    fn note(&mut self, set: &pb::Descriptors) {
        let failed = set.is_failure();
        if !failed && set.warnings.is_empty() {
            // A schema replaces an earlier failure notice from its origin.
            let source = SchemaSource::of(set);
            self.notes.retain(|n| {
                !(n.failed && n.source.same_origin(&source) && set.services.contains(&n.service))
            });
            return;
        }
        let source = SchemaSource::of(set);
        let services: Vec<String> = if set.services.is_empty() {
            vec![String::new()]
        } else {
            set.services.clone()
        };
        for service in services {
            self.notes
                .retain(|n| !(n.service == service && n.source.same_origin(&source)));
            self.notes.push(ServiceNote {
                service,
                source: source.clone(),
                warnings: set.warnings.clone(),
                failed,
                retry_unix_nanos: set
                    .failure
                    .as_ref()
                    .map(|f| f.retry_unix_nanos)
                    .filter(|&t| t > 0),
            });
        }
    }

    fn rebuild(&mut self) {
        let built = build::merge(self.base.clone(), &self.sets);
        self.pool = built.pool;
        self.services = built.services;
        self.merged_problems.retain(|p| p.source.is_bundled());
        self.merged_problems.extend(built.problems);
        self.diverging = built.diverging.into_iter().collect();
        self.own.clear();
        let all = self.diverging.clone();
        self.rebuild_own(&all);
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests;
