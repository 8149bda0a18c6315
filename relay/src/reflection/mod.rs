//! Schemas from the upstream's gRPC Server Reflection, fetched in the
//! background and shipped to consumers as descriptor events.
//!
//! The forward path calls [`Reflector::observe`] with each call's `:path`;
//! that costs a cache lookup and returns at once. The first call of a
//! service starts one background fetch; however many calls of that service
//! arrive meanwhile, moka's coalescing `get_with` runs exactly one reflection
//! exchange and the rest share its outcome. Outcomes expire: successes after
//! a while (to notice a redeployed server), failures after the retry delay,
//! so a server without reflection is asked once per window, not per call.
//!
//! - [`session`]: one exchange, in v1 or v1alpha.
//! - [`closure`]: assembling the file and its dependencies.

pub mod closure;
pub mod session;

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use loom_shared::pb::{self, event::Kind};
use moka::Expiry;
use moka::future::Cache;
use prost::Message as _;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Channel;

use crate::config::Config;
use crate::hub::Hub;
use closure::Assembly;
use session::{Query, Reply, Session, Version};

/// How long a fetched schema is trusted before it is fetched again.
const SCHEMA_TTL: Duration = Duration::from_secs(600);
/// How long a preference for v1alpha stands before v1 is tried first again.
const REPROBE_V1_AFTER: Duration = Duration::from_secs(600);
/// The most one reflection fetch may take.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Found,
    Failed,
}

struct ByOutcome {
    retry: Duration,
}

impl Expiry<String, Outcome> for ByOutcome {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Outcome,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Outcome::Found => SCHEMA_TTL,
            Outcome::Failed => self.retry,
        })
    }
}

enum Failure {
    /// This reflection version is not served: try the other.
    Unimplemented,
    Other(String),
}

pub struct Reflector {
    enabled: bool,
    upstream: Arc<str>,
    channel: Channel,
    metadata: MetadataMap,
    hub: Hub,
    cache: Cache<String, Outcome>,
    /// The version that worked last, and since when.
    preferred: Mutex<(Version, Instant)>,
    /// Services whose schema came from local files: never reflected.
    local: HashSet<String>,
    /// Hashes of what was announced, so a refetch of the same schema or the
    /// same failure is not announced again.
    announced: Mutex<HashSet<u64>>,
}

impl Reflector {
    pub fn new(
        config: &Config,
        hub: Hub,
        local: HashSet<String>,
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
            cache: Cache::builder()
                .max_capacity(10_000)
                .expire_after(ByOutcome {
                    retry: config.reflection_retry,
                })
                .build(),
            preferred: Mutex::new((Version::V1, Instant::now())),
            local,
            announced: Mutex::new(HashSet::new()),
        })
    }

    /// Note a call of `path` (`/pkg.Service/Method`). Never waits: when the
    /// service's schema is not known yet, a background task fetches it.
    pub fn observe(self: &Arc<Self>, path: &str) {
        if !self.enabled {
            return;
        }
        let Some(service) = service_of(path) else {
            return;
        };
        if service.starts_with("grpc.reflection.")
            || self.local.contains(service)
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

    async fn fetch(&self, service: String) -> Outcome {
        let result = tokio::time::timeout(FETCH_TIMEOUT, self.reflect(&service))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "reflection did not finish within {FETCH_TIMEOUT:?}"
                ))
            });
        match result {
            Ok((version, assembly)) => {
                self.announce_schema(&service, version, assembly).await;
                Outcome::Found
            }
            Err(why) => {
                tracing::warn!(%service, "no schema from reflection: {why}");
                self.announce_failure(&service, why);
                Outcome::Failed
            }
        }
    }

    async fn reflect(&self, service: &str) -> Result<(Version, Assembly), String> {
        let first = {
            let mut preferred = self
                .preferred
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if preferred.0 == Version::V1Alpha && preferred.1.elapsed() > REPROBE_V1_AFTER {
                *preferred = (Version::V1, Instant::now());
            }
            preferred.0
        };
        for version in [first, first.other()] {
            match self.exchange(version, service).await {
                Ok(assembly) => {
                    let mut preferred = self
                        .preferred
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if preferred.0 != version {
                        *preferred = (version, Instant::now());
                    }
                    return Ok((version, assembly));
                }
                Err(Failure::Unimplemented) => {
                    tracing::debug!(%service, "reflection {version} is not served");
                }
                Err(Failure::Other(why)) => return Err(format!("reflection {version}: {why}")),
            }
        }
        Err(
            "the upstream serves no reflection (grpc.reflection.v1 and v1alpha both answered \
             UNIMPLEMENTED); give Loom the schema with --descriptor-set or --proto"
                .to_owned(),
        )
    }

    async fn exchange(&self, version: Version, service: &str) -> Result<Assembly, Failure> {
        let classify = |status: tonic::Status| {
            if session::is_unimplemented(&status) {
                Failure::Unimplemented
            } else {
                Failure::Other(format!("{:?}: {}", status.code(), status.message()))
            }
        };
        let mut session = Session::open(self.channel.clone(), version, &self.metadata)
            .await
            .map_err(classify)?;
        let mut assembly = Assembly::default();
        let first = session
            .ask_all(&[Query::Symbol(service.to_owned())])
            .await
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
            let wanted = assembly.next_to_ask();
            if wanted.is_empty() {
                break;
            }
            let queries: Vec<Query> = wanted.iter().cloned().map(Query::File).collect();
            let replies = session.ask_all(&queries).await.map_err(classify)?;
            for (file, reply) in wanted.iter().zip(replies) {
                match reply {
                    Reply::Files(files) => assembly.add(&files),
                    Reply::Error(code, message) => {
                        assembly.missing(file, &format!("{message} (code {code})"))
                    }
                    Reply::Unexpected => assembly.missing(file, "unexpected reply"),
                }
            }
        }
        Ok(assembly)
    }

    async fn announce_schema(&self, service: &str, version: Version, assembly: Assembly) {
        let services = assembly.services();
        let warnings = assembly.warnings.clone();
        let set = assembly.into_set().encode_to_vec();
        for w in &warnings {
            tracing::warn!(%service, "{w}");
        }
        // Other services in the same files need no fetch of their own.
        for other in services.iter().filter(|s| s.as_str() != service) {
            if !self.local.contains(other) {
                self.cache.insert(other.clone(), Outcome::Found).await;
            }
        }
        if !self.first_time(&set) {
            return;
        }
        tracing::info!(
            %service,
            "schema for {} from reflection {version} ({} bytes{})",
            services.join(", "),
            set.len(),
            if warnings.is_empty() { "" } else { ", incomplete" }
        );
        self.hub.emit(pb::Event {
            call_id: 0,
            kind: Some(Kind::Descriptors(pb::Descriptors {
                file_descriptor_set: set.into(),
                services,
                upstream: self.upstream.to_string(),
                source: format!("reflection/{version}"),
                warnings,
            })),
        });
    }

    fn announce_failure(&self, service: &str, why: String) {
        if !self.first_time(&(service, &why)) {
            return;
        }
        self.hub.emit(pb::Event {
            call_id: 0,
            kind: Some(Kind::Descriptors(pb::Descriptors {
                file_descriptor_set: Default::default(),
                services: vec![service.to_owned()],
                upstream: self.upstream.to_string(),
                source: "reflection".to_owned(),
                warnings: vec![why],
            })),
        });
    }

    fn first_time(&self, what: &impl Hash) -> bool {
        let mut h = DefaultHasher::new();
        what.hash(&mut h);
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(h.finish())
    }
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
