//! Schemas from the upstreams' gRPC Server Reflection, fetched in the
//! background and shipped to consumers as descriptor events.
//!
//! Everything is per upstream ([`Source`]: its channel, cache and preferred
//! version): two upstreams serving one service are asked apart, and their
//! schemas announced apart, each naming its upstream. The bounds below are
//! the relay's, across upstreams.
//!
//! The forward path calls [`Reflector::observe`] with each call's target and
//! `:path`; that costs a cache lookup and returns at once. The first call
//! of a service starts one background fetch; however many calls of that
//! service arrive meanwhile, moka's coalescing `get_with` runs exactly one
//! reflection exchange and the rest share its outcome. Outcomes expire: schemas after a
//! while (to notice a redeployed server), failures at their retry time, so a
//! server without reflection is asked once per window, not per call.
//!
//! A fetch tries the version that worked last first (v1 at the start), and
//! moves on to the other when a version is not served, or does not answer
//! within [`VERSION_TIMEOUT`].
//!
//! What clients can make it do is bounded: names longer than
//! [`MAX_SERVICE_NAME`] are never reflected, at most [`MAX_IN_FLIGHT`]
//! fetches run at once and at most [`FETCHES_PER_SECOND`] start (a call
//! past either simply tries again later), and failures that happen together
//! are announced as one event naming all their services.
//!
//! - [`source`]: one upstream's channel and cache.
//! - [`session`]: one exchange, in v1 or v1alpha.
//! - [`closure`]: what to ask for next, and the assembled set.
//! - [`admit`]: which fetches may start, and failures folded together.
//! - [`state`]: each service's schema state, for `/healthz`.

pub mod admit;
pub mod closure;
pub mod session;
pub mod source;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use loom_shared::pb::{self, SchemaOrigin};
use prost::Message as _;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use crate::capture::hub::Hub;
use crate::config::Config;
use crate::config::Upstream;
use crate::forward::upstream::Connect;
use admit::{Folding, Pending};
use closure::{Assembled, Assembly};
use session::{Query, Reply, Session, Version};
pub use source::Source;
pub use state::SchemaState;

/// How long a preference for v1alpha stands before v1 is tried first again.
const REPROBE_V1_AFTER: Duration = Duration::from_secs(600);
/// How long one version may take to answer (or refuse) the first request
/// before the other version is tried.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(3);
/// The most one reflection fetch may take, both versions included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// Rounds of dependency requests before giving up on a pathological graph.
const MAX_ROUNDS: usize = 64;
/// Longer service names are not reflected (no real one comes close).
pub const MAX_SERVICE_NAME: usize = 256;
/// Fetches under way at once.
pub const MAX_IN_FLIGHT: usize = 4;
/// Fetches started per second (and the burst allowed).
pub const FETCHES_PER_SECOND: f64 = 10.0;
/// Failures within this long of each other are announced together.
const FOLD_WINDOW: Duration = Duration::from_millis(200);
/// Upstreams whose cache is kept once no target holds them.
const MAX_SOURCES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ReflectionSetupError {
    #[error("--reflect-header {0}: not a valid header name")]
    HeaderName(String),
    #[error("--reflect-header {0}: not a valid header value")]
    HeaderValue(String),
}

enum Failure {
    /// This reflection version is not served: try the other.
    Unimplemented,
    /// This version neither answered nor refused in time: try the other.
    Silent,
    Other(String),
}

pub struct Reflector {
    enabled: bool,
    /// The relay's main runtime: fetches run there, not on the forward
    /// path's workers that call `observe`.
    runtime: tokio::runtime::Handle,
    /// How upstreams are reached (calls' way, TLS included).
    connect: Arc<dyn Connect>,
    /// The default upstream (`--upstream`), listed first in `/healthz`.
    default: Upstream,
    /// Each upstream met, by upstream.
    sources: Mutex<HashMap<Upstream, Arc<Source>>>,
    metadata: MetadataMap,
    hub: Hub,
    retry: Duration,
    /// Fetches under way, since when, and the fetch rate allowance.
    pending: Mutex<Pending>,
    /// Calls of services not reflected, for `/healthz`.
    refused_overlong: AtomicU64,
    deferred: AtomicU64,
    /// Failures waiting to be announced together.
    folding: Mutex<Folding>,
    /// Services whose schema came from local files: never reflected.
    local: HashMap<String, SchemaState>,
    /// Hashes of what was announced, so a refetch of the same schema or the
    /// same failure is not announced again.
    announced: Mutex<HashSet<u64>>,
}

impl Reflector {
    /// `local` lists the services local files describe, with where from.
    pub fn new(
        config: &Config,
        hub: Hub,
        local: HashMap<String, SchemaState>,
        connect: Arc<dyn crate::forward::upstream::Connect>,
    ) -> Result<Self, ReflectionSetupError> {
        let mut metadata = MetadataMap::new();
        for (name, value) in &config.reflect_headers {
            let key: MetadataKey<_> = name
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| ReflectionSetupError::HeaderName(name.clone()))?;
            let value: MetadataValue<_> = value
                .parse()
                .map_err(|_| ReflectionSetupError::HeaderValue(format!("{name}:{value}")))?;
            metadata.append(key, value);
        }
        Ok(Reflector {
            enabled: config.reflection,
            runtime: tokio::runtime::Handle::current(),
            connect,
            default: config.upstream.clone(),
            sources: Mutex::new(HashMap::new()),
            metadata,
            hub,
            retry: config.reflection_retry,
            pending: Mutex::new(Pending::new()),
            refused_overlong: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            folding: Mutex::new(Folding::default()),
            local,
            announced: Mutex::new(HashSet::new()),
        })
    }

    /// `upstream`'s channel and cache, made on first use. A caller keeps
    /// it (a route's or a tunnel's target does), so this runs once per
    /// target, not per call.
    pub fn source(&self, upstream: &Upstream) -> Arc<Source> {
        let mut sources = lock(&self.sources);
        if let Some(source) = sources.get(upstream) {
            return source.clone();
        }
        if sources.len() >= MAX_SOURCES {
            // Only those no target holds any more go.
            sources.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let source = Arc::new(Source::new(upstream, self.connect.clone()));
        sources.insert(upstream.clone(), source.clone());
        source
    }

    /// Note a call of `path` (`/pkg.Service/Method`) to `source`'s
    /// upstream. Never waits: when the service's schema is not known yet, a
    /// background task fetches it.
    pub fn observe(self: &Arc<Self>, source: &Arc<Source>, path: &str) {
        let Some(service) = service_of(path) else {
            return;
        };
        if service.starts_with("grpc.reflection.")
            || self.local.contains_key(service)
            || source.cache.contains_key(service)
        {
            return;
        }
        if service.len() > MAX_SERVICE_NAME {
            self.refused_overlong.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !lock(&self.pending).admit(&source.name, service) {
            self.deferred.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let this = self.clone();
        let source = source.clone();
        let service = service.to_owned();
        self.runtime.spawn(async move {
            let fetch = this.fetch(&source, service.clone());
            source.cache.get_with(service.clone(), fetch).await;
            lock(&this.pending).done(&source.name, &service);
        });
    }

    /// Counters of what reflection did not do, for `/healthz`.
    pub fn bounds(&self) -> serde_json::Value {
        serde_json::json!({
            "in_flight": lock(&self.pending).len(),
            "max_in_flight": MAX_IN_FLIGHT,
            "deferred_calls": self.deferred.load(Ordering::Relaxed),
            "overlong_names": self.refused_overlong.load(Ordering::Relaxed),
        })
    }

    /// Every service the relay has met on `upstream` (local files'
    /// services too), with its schema's state, sorted.
    pub fn states(&self, upstream: &Upstream) -> Vec<(String, SchemaState)> {
        let mut out: HashMap<String, SchemaState> = self.local.clone();
        let source = lock(&self.sources).get(upstream).cloned();
        if let Some(source) = &source {
            for (service, state) in source.cache.iter() {
                out.insert((*service).clone(), state);
            }
            for (service, since) in lock(&self.pending).in_flight(&source.name) {
                out.entry(service).or_insert(SchemaState::Pending { since });
            }
        }
        let mut out: Vec<(String, SchemaState)> = out.into_iter().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every upstream met, the default first, the rest sorted.
    pub fn upstreams(&self) -> Vec<Upstream> {
        let mut others: Vec<Upstream> = lock(&self.sources)
            .keys()
            .filter(|u| **u != self.default)
            .cloned()
            .collect();
        others.sort_by_key(ToString::to_string);
        std::iter::once(self.default.clone())
            .chain(others)
            .collect()
    }

    async fn fetch(self: &Arc<Self>, source: &Source, service: String) -> SchemaState {
        if !self.enabled {
            let reason = "reflection is turned off (--no-reflection); give the schema with \
                          --descriptor-set or --proto";
            return self.fail(source, &service, reason.to_owned(), None);
        }
        let result = tokio::time::timeout(FETCH_TIMEOUT, self.reflect(source, &service))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "reflection did not finish within {FETCH_TIMEOUT:?}"
                ))
            });
        match result {
            Ok((version, assembled)) => {
                self.announce_schema(source, &service, version, assembled)
                    .await
            }
            Err(why) => {
                tracing::warn!(%service, upstream = %source.name, "no schema from reflection: {why}");
                let retry_at = SystemTime::now() + self.retry;
                self.fail(source, &service, why, Some(retry_at))
            }
        }
    }

    async fn reflect(
        &self,
        source: &Source,
        service: &str,
    ) -> Result<(Version, Assembled), String> {
        let first = {
            let mut preferred = lock(&source.preferred);
            if preferred.0 == Version::V1Alpha && preferred.1.elapsed() > REPROBE_V1_AFTER {
                *preferred = (Version::V1, Instant::now());
            }
            preferred.0
        };
        let mut skipped = Vec::new();
        for version in [first, first.other()] {
            match self.exchange(source, version, service).await {
                Ok(assembly) => {
                    let mut preferred = lock(&source.preferred);
                    if preferred.0 != version {
                        *preferred = (version, Instant::now());
                    }
                    return Ok((version, assembly));
                }
                Err(Failure::Unimplemented) => {
                    tracing::debug!(%service, "reflection {version} is not served");
                    skipped.push(format!("{version} answered UNIMPLEMENTED"));
                }
                Err(Failure::Silent) => {
                    tracing::debug!(%service, "reflection {version} did not answer in time");
                    skipped.push(format!(
                        "{version} did not answer within {VERSION_TIMEOUT:?}"
                    ));
                }
                Err(Failure::Other(why)) => return Err(format!("reflection {version}: {why}")),
            }
        }
        Err(format!(
            "the upstream serves no reflection ({}); give Loom the schema with \
             --descriptor-set or --proto",
            skipped.join(", ")
        ))
    }

    async fn exchange(
        &self,
        source: &Source,
        version: Version,
        service: &str,
    ) -> Result<Assembled, Failure> {
        let classify = |status: tonic::Status| {
            if session::is_unimplemented(&status) {
                Failure::Unimplemented
            } else {
                Failure::Other(format!("{:?}: {}", status.code(), status.message()))
            }
        };
        let mut session = Session::new(source.channel.clone(), version, &self.metadata);
        let mut assembly = Assembly::default();
        let first = tokio::time::timeout(
            VERSION_TIMEOUT,
            session.ask_all(&[Query::Symbol(service.to_owned())]),
        )
        .await
        .map_err(|_| Failure::Silent)?
        .map_err(classify)?;
        match first.into_iter().next() {
            Some(Reply::Files(files)) => assembly.add(&files),
            Some(Reply::Error(code, message)) => {
                return Err(Failure::Other(format!(
                    "the server does not know the service: {message} (code {code})"
                )));
            }
            _ => {
                return Err(Failure::Other(
                    "the server sent an unexpected reply".to_owned(),
                ));
            }
        }
        if assembly.is_empty() {
            return Err(Failure::Other(
                "the server sent no usable file for the service".to_owned(),
            ));
        }
        for _ in 0..MAX_ROUNDS {
            let queries = assembly.next_queries();
            if queries.is_empty() {
                break;
            }
            let replies = session.ask_all(&queries).await.map_err(classify)?;
            for (query, reply) in queries.iter().zip(replies) {
                match reply {
                    Reply::Files(files) => assembly.add(&files),
                    Reply::Error(code, message) => {
                        assembly.unavailable(query, &format!("{message} (code {code})"))
                    }
                    Reply::Unexpected => assembly.unavailable(query, "unexpected reply"),
                }
            }
        }
        Ok(assembly.finish())
    }

    async fn announce_schema(
        &self,
        source: &Source,
        service: &str,
        version: Version,
        assembled: Assembled,
    ) -> SchemaState {
        let origin = match version {
            Version::V1 => SchemaOrigin::ReflectionV1,
            Version::V1Alpha => SchemaOrigin::ReflectionV1alpha,
        };
        for change in &assembled.changes {
            tracing::debug!(%service, "repaired the reflected graph: {change}");
        }
        for w in &assembled.warnings {
            tracing::warn!(%service, "{w}");
        }
        let loaded = SchemaState::Loaded {
            origin,
            location: String::new(),
            at: SystemTime::now(),
            warnings: assembled.warnings.len(),
        };
        // Known before it is announced, so that `/healthz` never says
        // pending for a schema a consumer already has; other services in
        // the same files need no fetch of their own.
        source
            .cache
            .insert(service.to_owned(), loaded.clone())
            .await;
        for other in assembled.services.iter().filter(|s| s.as_str() != service) {
            if !self.local.contains_key(other) {
                source.cache.insert(other.clone(), loaded.clone()).await;
            }
        }
        let set = assembled.set.encode_to_vec();
        if self.first_time(&(&*source.name, &set)) {
            tracing::info!(
                %service,
                "schema for {} from reflection {version} ({} bytes{})",
                assembled.services.join(", "),
                set.len(),
                if assembled.warnings.is_empty() { "" } else { ", incomplete" }
            );
            self.hub
                .emit(pb::Event::descriptors(pb::Descriptors::schema(
                    set,
                    assembled.services,
                    origin,
                    "",
                    source.name.to_string(),
                    assembled.warnings,
                )));
        }
        loaded
    }

    /// Announces that `service` has no schema (together with other failures
    /// of the same kind a moment apart), and returns the state to cache.
    fn fail(
        self: &Arc<Self>,
        source: &Source,
        service: &str,
        reason: String,
        retry_at: Option<SystemTime>,
    ) -> SchemaState {
        if self.first_time(&(&*source.name, service, &reason)) {
            let retry_nanos = retry_at.map_or(0, unix_nanos);
            let flush_now = {
                let mut folding = lock(&self.folding);
                let key = (source.name.to_string(), reason.clone());
                let group = folding.groups.entry(key).or_default();
                group.services.push(service.to_owned());
                group.retry_nanos = group.retry_nanos.max(retry_nanos);
                !std::mem::replace(&mut folding.scheduled, true)
            };
            if flush_now {
                let this = self.clone();
                self.runtime.spawn(async move {
                    tokio::time::sleep(FOLD_WINDOW).await;
                    this.flush_failures();
                });
            }
        }
        SchemaState::Failed {
            reason,
            at: SystemTime::now(),
            retry_at,
        }
    }

    /// One failure event per reason, naming every service it hit.
    fn flush_failures(&self) {
        let groups = {
            let mut folding = lock(&self.folding);
            folding.scheduled = false;
            std::mem::take(&mut folding.groups)
        };
        for ((upstream, reason), group) in groups {
            self.hub
                .emit(pb::Event::descriptors(pb::Descriptors::failure(
                    group.services,
                    SchemaOrigin::Reflection,
                    upstream,
                    reason,
                    group.retry_nanos,
                )));
        }
    }

    fn first_time(&self, what: &impl Hash) -> bool {
        let mut h = DefaultHasher::new();
        what.hash(&mut h);
        lock(&self.announced).insert(h.finish())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain data, valid at every point.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `pkg.Service` from `/pkg.Service/Method`.
pub fn service_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/')).then_some(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_from_paths() {
        assert_eq!(service_of("/pkg.Svc/Get"), Some("pkg.Svc"));
        assert_eq!(service_of("/Svc/Get"), Some("Svc"));
        assert_eq!(service_of("/pkg.Svc/"), None);
        assert_eq!(service_of("pkg.Svc/Get"), None);
        assert_eq!(service_of("/a/b/c"), None);
        assert_eq!(service_of("/"), None);
    }
}
