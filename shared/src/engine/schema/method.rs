//! Methods: `:path` to service and method, the call kind, and resolving a
//! path against the schema.

use prost_reflect::{MessageDescriptor, MethodDescriptor};

use super::{Schema, SchemaSource};

/// The four kinds of gRPC call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    Bidi,
}

impl CallKind {
    /// From the method's streaming flags.
    pub fn from_streaming(client: bool, server: bool) -> Self {
        match (client, server) {
            (false, false) => CallKind::Unary,
            (false, true) => CallKind::ServerStreaming,
            (true, false) => CallKind::ClientStreaming,
            (true, true) => CallKind::Bidi,
        }
    }

    /// A guess from how many messages went each way, for calls without a
    /// schema: more than one request means client streaming, more than one
    /// response server streaming. (A streaming call that sent one message
    /// each way looks unary.)
    pub fn infer(requests: usize, responses: usize) -> Self {
        Self::from_streaming(requests > 1, responses > 1)
    }

    /// `unary`, `server_streaming`, `client_streaming`, `bidi_streaming`.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Unary => "unary",
            CallKind::ServerStreaming => "server_streaming",
            CallKind::ClientStreaming => "client_streaming",
            CallKind::Bidi => "bidi_streaming",
        }
    }

    /// Whether the client sends a stream.
    pub fn client_streaming(self) -> bool {
        matches!(self, CallKind::ClientStreaming | CallKind::Bidi)
    }
}

/// A `:path` of the form `/package.Service/Method`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MethodPath {
    /// Fully-qualified service name (`package.Service`).
    pub service: String,
    /// The method's name within the service (`Method`).
    pub method: String,
}

impl MethodPath {
    /// Splits a `:path`; `None` unless it is `/service/method` with both
    /// parts non-empty.
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix('/')?;
        let (service, method) = rest.split_once('/')?;
        if service.is_empty() || method.is_empty() || method.contains('/') {
            return None;
        }
        Some(MethodPath {
            service: service.to_owned(),
            method: method.to_owned(),
        })
    }

    /// `package.Service/Method`, as grpcurl and the method filter spell it.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }
}

/// A method found in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMethod {
    /// The `:path` it was resolved from, split.
    pub path: MethodPath,
    /// The method in the schema's descriptor pool.
    pub descriptor: MethodDescriptor,
    /// Where the service's schema came from (`None` for bundled services).
    pub source: Option<SchemaSource>,
}

impl ResolvedMethod {
    /// Unary or streaming, from the method's declaration.
    pub fn kind(&self) -> CallKind {
        CallKind::from_streaming(
            self.descriptor.is_client_streaming(),
            self.descriptor.is_server_streaming(),
        )
    }

    /// The request message type.
    pub fn input(&self) -> MessageDescriptor {
        self.descriptor.input()
    }

    /// The response message type.
    pub fn output(&self) -> MessageDescriptor {
        self.descriptor.output()
    }
}

impl Schema {
    /// The kind of the method at `path`, when the schema knows it: what
    /// [`Schema::resolve`] would say, without building the answer (this runs
    /// for every call as it arrives).
    pub fn kind(&self, path: &str) -> Option<CallKind> {
        self.kind_for("", path)
    }

    /// [`Schema::kind`] for a call to `upstream` (see [`Schema::resolve_for`]).
    pub fn kind_for(&self, upstream: &str, path: &str) -> Option<CallKind> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        if service.is_empty() || method.is_empty() || method.contains('/') {
            return None;
        }
        let service = self
            .view(upstream, service)
            .pool
            .get_service_by_name(service)?;
        let descriptor = service.methods().find(|m| m.name() == method)?;
        Some(CallKind::from_streaming(
            descriptor.is_client_streaming(),
            descriptor.is_server_streaming(),
        ))
    }

    /// Resolves a call's `:path` in the merged pool. The error says, in
    /// words, why there is no schema for it (shown next to the schema-less
    /// view).
    pub fn resolve(&self, path: &str) -> Result<ResolvedMethod, String> {
        self.resolve_for("", path)
    }

    /// Resolves the `:path` of a call to `upstream` (as its `CallStarted`
    /// names it; empty when unknown): in the upstream's own pool when it
    /// has one describing the service (its files differ from another
    /// upstream's), else in the merged pool.
    pub fn resolve_for(&self, upstream: &str, path: &str) -> Result<ResolvedMethod, String> {
        let Some(parsed) = MethodPath::parse(path) else {
            return Err(format!(
                "the path {path:?} is not of the form /package.Service/Method"
            ));
        };
        let view = self.view(upstream, &parsed.service);
        let origin = view.services.get(&parsed.service);
        let Some(service) = view.pool.get_service_by_name(&parsed.service) else {
            return Err(self.why_no_service(upstream, &parsed.service));
        };
        let Some(descriptor) = service.methods().find(|m| m.name() == parsed.method) else {
            return Err(format!(
                "service {} has no method {} in the schema",
                parsed.service, parsed.method
            ));
        };
        let source = origin.map(|o| self.source_for(upstream, &parsed.service, o));
        Ok(ResolvedMethod {
            path: parsed,
            descriptor,
            source,
        })
    }

    fn why_no_service(&self, upstream: &str, service: &str) -> String {
        if let Some(origin) = self.origin_for(upstream, service)
            && let Some(error) = &origin.error
        {
            return format!(
                "the schema for {service} ({} from {}) could not be loaded: {error}",
                origin.file, origin.source
            );
        }
        let failures: Vec<String> = self
            .failures_for(upstream, service)
            .map(|n| {
                let why = if n.warnings.is_empty() {
                    "no reason given".to_owned()
                } else {
                    n.warnings.join("; ")
                };
                format!("{}: {why}", n.source)
            })
            .collect();
        if failures.is_empty() {
            format!("no schema for {service}: no descriptor set in the capture describes it")
        } else {
            format!("no schema for {service}: {}", failures.join(" / "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            MethodPath::parse("/pkg.Svc/Get"),
            Some(MethodPath {
                service: "pkg.Svc".into(),
                method: "Get".into()
            })
        );
        assert_eq!(
            MethodPath::parse("/pkg.Svc/Get").unwrap().full_name(),
            "pkg.Svc/Get"
        );
        for bad in [
            "",
            "/",
            "pkg.Svc/Get",
            "/pkg.Svc",
            "/pkg.Svc/",
            "//Get",
            "/a/b/c",
        ] {
            assert_eq!(MethodPath::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(CallKind::infer(1, 1), CallKind::Unary);
        assert_eq!(CallKind::infer(0, 0), CallKind::Unary);
        assert_eq!(CallKind::infer(1, 3), CallKind::ServerStreaming);
        assert_eq!(CallKind::infer(3, 1), CallKind::ClientStreaming);
        assert_eq!(CallKind::infer(2, 2), CallKind::Bidi);
        assert_eq!(CallKind::Bidi.name(), "bidi_streaming");
        assert!(CallKind::ClientStreaming.client_streaming());
        assert!(!CallKind::ServerStreaming.client_streaming());
    }
}
