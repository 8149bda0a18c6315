//! Where a descriptor set came from: the typed origin of capture format 1.1,
//! or, for 1.0 captures, the one parsed from the old `source` string.

use crate::pb::{self, SchemaOrigin};

/// Where a descriptor set came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SchemaSource {
    /// The kind of origin. `Unspecified` for 1.0 `source` strings of no
    /// known form (see `legacy`) and for the bundled types.
    pub origin: SchemaOrigin,
    /// The file, for local origins (`--descriptor-set`, `--proto`, a file
    /// added in the inspector).
    pub location: String,
    /// The upstream it was reflected from; empty for local files.
    pub upstream: String,
    /// A format 1.0 `source` string of no known form, shown as it is.
    pub legacy: String,
}

/// The `legacy` text of problems with the bundled types (which would be a bug).
const BUNDLED: &str = "bundled";

/// A schema loaded from a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSchema {
    /// `--descriptor-set PATH` (grpcurl: `-protoset PATH`).
    DescriptorSet(String),
    /// `--proto PATH` (grpcurl: `-proto PATH`).
    Proto(String),
}

impl SchemaSource {
    /// Where `set` came from: its typed origin and location, or, for format
    /// 1.0, those parsed from its `source` string (kept as `legacy` when it
    /// is of no known form).
    pub fn of(set: &pb::Descriptors) -> Self {
        let (origin, location) = set.origin_and_location();
        let legacy = if origin == SchemaOrigin::Unspecified {
            set.source.clone()
        } else {
            String::new()
        };
        SchemaSource {
            origin,
            location,
            upstream: set.upstream.clone(),
            legacy,
        }
    }

    pub(super) fn bundled() -> Self {
        SchemaSource {
            legacy: BUNDLED.into(),
            ..Default::default()
        }
    }

    pub(super) fn is_bundled(&self) -> bool {
        self.origin == SchemaOrigin::Unspecified && self.legacy == BUNDLED
    }

    /// Both are the same origin for notes: reflection (of any version) from
    /// the same upstream, or the same local file.
    pub fn same_origin(&self, other: &SchemaSource) -> bool {
        if self.origin.is_reflection() && other.origin.is_reflection() {
            return self.upstream == other.upstream;
        }
        self == other
    }

    /// The reflection protocol version, when it came from reflection.
    pub fn reflection_version(&self) -> Option<&'static str> {
        match self.origin {
            SchemaOrigin::ReflectionV1 => Some("v1"),
            SchemaOrigin::ReflectionV1alpha => Some("v1alpha"),
            _ => None,
        }
    }

    /// The local file the schema came from, when it did not come from
    /// reflection: what grpcurl needs instead (`-protoset` or `-proto`).
    pub fn local_file(&self) -> Option<LocalSchema> {
        match self.origin {
            SchemaOrigin::DescriptorSet | SchemaOrigin::UserFile
                if self.location.ends_with(".proto") =>
            {
                Some(LocalSchema::Proto(self.location.clone()))
            }
            SchemaOrigin::DescriptorSet | SchemaOrigin::UserFile => {
                Some(LocalSchema::DescriptorSet(self.location.clone()))
            }
            SchemaOrigin::Proto => Some(LocalSchema::Proto(self.location.clone())),
            _ => None,
        }
    }
}

impl std::fmt::Display for SchemaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.origin {
            SchemaOrigin::ReflectionV1 => f.write_str("reflection v1")?,
            SchemaOrigin::ReflectionV1alpha => f.write_str("reflection v1alpha")?,
            SchemaOrigin::Reflection => f.write_str("reflection")?,
            SchemaOrigin::DescriptorSet => write!(f, "--descriptor-set {}", self.location)?,
            SchemaOrigin::Proto => write!(f, "--proto {}", self.location)?,
            SchemaOrigin::UserFile => write!(f, "{} (added by hand)", self.location)?,
            SchemaOrigin::Unspecified if self.legacy.is_empty() => {
                f.write_str("an unnamed source")?
            }
            SchemaOrigin::Unspecified => f.write_str(&self.legacy)?,
        }
        if !self.upstream.is_empty() {
            write!(f, " from {}", self.upstream)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(source: &str, upstream: &str) -> SchemaSource {
        SchemaSource::of(&pb::Descriptors {
            source: source.into(),
            upstream: upstream.into(),
            ..Default::default()
        })
    }

    #[test]
    fn legacy_strings_become_typed_origins() {
        let s = of("reflection/v1alpha", "http://a:1");
        assert_eq!(s.origin, SchemaOrigin::ReflectionV1alpha);
        assert_eq!(s.reflection_version(), Some("v1alpha"));
        assert_eq!(s.to_string(), "reflection v1alpha from http://a:1");
        let s = of("descriptor-set:/tmp/a.pb", "");
        assert_eq!(
            s.local_file(),
            Some(LocalSchema::DescriptorSet("/tmp/a.pb".into()))
        );
        assert_eq!(s.to_string(), "--descriptor-set /tmp/a.pb");
        assert_eq!(
            of("proto:api/x.proto", "").local_file(),
            Some(LocalSchema::Proto("api/x.proto".into()))
        );
        assert_eq!(
            of("file:x.proto", "").local_file(),
            Some(LocalSchema::Proto("x.proto".into()))
        );
        assert_eq!(of("reflection/v1", "u").local_file(), None);
        let odd = of("made up", "");
        assert_eq!(odd.origin, SchemaOrigin::Unspecified);
        assert_eq!(odd.to_string(), "made up");
        assert_eq!(of("", "").to_string(), "an unnamed source");
    }

    #[test]
    fn reflection_of_any_version_is_one_origin() {
        let failed = of("reflection", "http://a:1");
        assert!(failed.same_origin(&of("reflection/v1", "http://a:1")));
        assert!(!failed.same_origin(&of("reflection/v1", "http://b:1")));
        assert!(!of("proto:a", "").same_origin(&of("proto:b", "")));
        assert!(SchemaSource::bundled().is_bundled());
    }
}
