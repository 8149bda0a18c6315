//! Schemas from the upstream's gRPC Server Reflection, fetched in the
//! background and shipped to consumers as descriptor events.
//!
//! The forward path calls [`Reflector::observe`] with each call's `:path`;
//! that costs a cache lookup and returns at once. The first call of a
//! service starts one background fetch; however many calls of that service
//! arrive meanwhile, moka's coalescing `get_with` runs exactly one reflection
//! exchange and the rest share its outcome. Outcomes expire: schemas after a
//! while (to notice a redeployed server), failures at their retry time, so a
//! server without reflection is asked once per window, not per call.
//!
//! A fetch tries the version that worked last first (v1 at the start), and
//! moves on to the other when a version is not served, or does not answer
//! within [`VERSION_TIMEOUT`].
//!
//! - [`session`]: one exchange, in v1 or v1alpha.
//! - [`closure`]: what to ask for next, and the assembled set.
//! - [`state`]: each service's schema state, for `/healthz`.

pub mod closure;
pub mod session;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use loom_shared::pb::{self, SchemaOrigin};
use moka::future::Cache;
use prost::Message as _;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Channel;

use crate::config::Config;
use crate::hub::Hub;
use closure::{Assembled, Assembly};
use session::{Query, Reply, Session, Version};
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
    upstream: Arc<str>,
    channel: Channel,
    metadata: MetadataMap,
    hub: Hub,
    retry: Duration,
    cache: Cache<String, SchemaState>,
    /// Fetches under way, and since when.
    pending: Mutex<HashMap<String, SystemTime>>,
    /// The version that worked last, and since when.
    preferred: Mutex<(Version, Instant)>,
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
        // The relay's own connection: its reflection calls never pass through
        // the forward path, so they never appear in the capture.
        let channel = Channel::builder(config.upstream.uri().clone())
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(Reflector {
            enabled: config.reflection,
            upstream: config.upstream.to_string().into(),
            channel,
            metadata,
            hub,
            retry: config.reflection_retry,
            cache: Cache::builder()
                .max_capacity(10_000)
                .expire_after(state::ByOutcome)
                .build(),
            pending: Mutex::new(HashMap::new()),
            preferred: Mutex::new((Version::V1, Instant::now())),
            local,
            announced: Mutex::new(HashSet::new()),
        })
    }

    /// Note a call of `path` (`/pkg.Service/Method`). Never waits: when the
    /// service's schema is not known yet, a background task fetches it.
    pub fn observe(self: &Arc<Self>, path: &str) {
        let Some(service) = service_of(path) else {
            return;
        };
        if service.starts_with("grpc.reflection.")
            || self.local.contains_key(service)
            || self.cache.contains_key(service)
        {
            return;
        }
        let this = self.clone();
        let service = service.to_owned();
        tokio::spawn(async move {
            let fetch = this.fetch(service.clone());
            this.cache.get_with(service, fetch).await;
        });
    }

    /// Every service the relay has met, with its schema's state, sorted.
    pub fn states(&self) -> Vec<(String, SchemaState)> {
        let mut out: HashMap<String, SchemaState> = self.local.clone();
        for (service, state) in self.cache.iter() {
            out.insert((*service).clone(), state);
        }
        for (service, since) in lock(&self.pending).iter() {
            out.entry(service.clone())
                .or_insert(SchemaState::Pending { since: *since });
        }
        let mut out: Vec<(String, SchemaState)> = out.into_iter().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    async fn fetch(&self, service: String) -> SchemaState {
        if !self.enabled {
            let reason = "reflection is turned off (--no-reflection); give the schema with \
                          --descriptor-set or --proto";
            return self.fail(&service, reason.to_owned(), None);
        }
        lock(&self.pending).insert(service.clone(), SystemTime::now());
        let result = tokio::time::timeout(FETCH_TIMEOUT, self.reflect(&service))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "reflection did not finish within {FETCH_TIMEOUT:?}"
                ))
            });
        lock(&self.pending).remove(&service);
        match result {
            Ok((version, assembled)) => self.announce_schema(&service, version, assembled).await,
            Err(why) => {
                tracing::warn!(%service, "no schema from reflection: {why}");
                let retry_at = SystemTime::now() + self.retry;
                self.fail(&service, why, Some(retry_at))
            }
        }
    }

    async fn reflect(&self, service: &str) -> Result<(Version, Assembled), String> {
        let first = {
            let mut preferred = lock(&self.preferred);
            if preferred.0 == Version::V1Alpha && preferred.1.elapsed() > REPROBE_V1_AFTER {
                *preferred = (Version::V1, Instant::now());
            }
            preferred.0
        };
        let mut skipped = Vec::new();
        for version in [first, first.other()] {
            match self.exchange(version, service).await {
                Ok(assembly) => {
                    let mut preferred = lock(&self.preferred);
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

    async fn exchange(&self, version: Version, service: &str) -> Result<Assembled, Failure> {
        let classify = |status: tonic::Status| {
            if session::is_unimplemented(&status) {
                Failure::Unimplemented
            } else {
                Failure::Other(format!("{:?}: {}", status.code(), status.message()))
            }
        };
        let mut session = Session::new(self.channel.clone(), version, &self.metadata);
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
                    "the server does not know {service}: {message} (code {code})"
                )));
            }
            _ => {
                return Err(Failure::Other(
                    "the server sent an unexpected reply".to_owned(),
                ));
            }
        }
        if assembly.is_empty() {
            return Err(Failure::Other(format!(
                "the server sent no usable file for {service}"
            )));
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
        // Other services in the same files need no fetch of their own.
        for other in assembled.services.iter().filter(|s| s.as_str() != service) {
            if !self.local.contains_key(other) {
                self.cache.insert(other.clone(), loaded.clone()).await;
            }
        }
        let set = assembled.set.encode_to_vec();
        if self.first_time(&set) {
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
                    self.upstream.to_string(),
                    assembled.warnings,
                )));
        }
        loaded
    }

    /// Announces that `service` has no schema, and returns the state to cache.
    fn fail(&self, service: &str, reason: String, retry_at: Option<SystemTime>) -> SchemaState {
        if self.first_time(&(service, &reason)) {
            let retry_nanos = retry_at.map_or(0, unix_nanos);
            self.hub
                .emit(pb::Event::descriptors(pb::Descriptors::failure(
                    vec![service.to_owned()],
                    SchemaOrigin::Reflection,
                    self.upstream.to_string(),
                    reason.clone(),
                    retry_nanos,
                )));
        }
        SchemaState::Failed {
            reason,
            at: SystemTime::now(),
            retry_at,
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
