//! Assembling a usable descriptor set from what a server's reflection gives:
//! the requested file, then what it needs, until nothing more can be had.
//!
//! Servers differ: some send every dependency with the first answer, many
//! send only the requested file, some know a dependency under another name
//! or declare no imports at all (grpc-js names files after packages). So
//! [`Assembly`] asks by file name for the imports files declare, and by
//! symbol for the types files use that nothing here defines. The graph
//! logic itself (which file defines what, the repaired import lists, the
//! bundled well-known types) is `loom_shared::descriptor`'s; this module
//! only decides what to ask next and words what stayed missing.

use std::collections::{BTreeMap, BTreeSet};

use loom_shared::descriptor::{self, Graph, Reference};
use prost::Message as _;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

use super::session::Query;

/// The most symbols one fetch asks for (a hostile or huge graph).
const MAX_SYMBOL_QUERIES: usize = 256;

#[derive(Default)]
pub struct Assembly {
    graph: Graph,
    /// Files and symbols asked for already (none is asked for twice).
    asked_files: BTreeSet<String>,
    asked_symbols: BTreeSet<String>,
    /// Files and symbols the server could not give, and why.
    unavailable_files: BTreeMap<String, String>,
    unavailable_symbols: BTreeMap<String, String>,
    /// Problems with what the server sent.
    problems: Vec<String>,
}

/// The outcome: the set to decode with and what is wrong with it.
pub struct Assembled {
    pub set: FileDescriptorSet,
    pub services: Vec<String>,
    /// What stayed missing, in words; empty when the set is complete.
    pub warnings: Vec<String>,
    /// How the graph was repaired (imports added, files replaced).
    pub changes: Vec<String>,
}

impl Assembly {
    /// Adds serialized `FileDescriptorProto`s from a reply.
    pub fn add(&mut self, raw: &[Vec<u8>]) {
        for bytes in raw {
            match FileDescriptorProto::decode(bytes.as_slice()) {
                Ok(file) => self.graph.add(file),
                Err(e) => self.problems.push(format!(
                    "the server sent an undecodable file descriptor: {e}"
                )),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.graph.is_empty()
    }

    /// What to ask for next: imports that no file here has (by name), then
    /// types that no file here defines (by symbol, every name a relative
    /// reference could mean). Each is asked once; empty when done.
    pub fn next_queries(&mut self) -> Vec<Query> {
        let mut out = Vec::new();
        for file in self.graph.missing_imports() {
            if self.asked_files.insert(file.clone()) {
                out.push(Query::File(file));
            }
        }
        for reference in self.graph.unresolved() {
            for symbol in reference.candidates() {
                if self.asked_symbols.len() >= MAX_SYMBOL_QUERIES {
                    break;
                }
                if self.asked_symbols.insert(symbol.clone()) {
                    out.push(Query::Symbol(symbol));
                }
            }
        }
        out
    }

    /// The server could not answer `query`.
    pub fn unavailable(&mut self, query: &Query, why: &str) {
        match query {
            Query::File(f) => self.unavailable_files.insert(f.clone(), why.to_owned()),
            Query::Symbol(s) => self.unavailable_symbols.insert(s.clone(), why.to_owned()),
        };
    }

    /// The repaired set, with a warning for each type that no file defines.
    pub fn finish(self) -> Assembled {
        let repaired = self.graph.repair();
        let mut warnings = self.problems;
        let mut by_type: BTreeMap<&str, Vec<&Reference>> = BTreeMap::new();
        for r in &repaired.unresolved {
            by_type
                .entry(r.name.trim_start_matches('.'))
                .or_default()
                .push(r);
        }
        for (name, uses) in by_type {
            let files: BTreeSet<&str> = uses.iter().map(|r| r.file.as_str()).collect();
            let candidates: BTreeSet<String> = uses.iter().flat_map(|r| r.candidates()).collect();
            let declared: BTreeSet<&str> = files
                .iter()
                .filter_map(|f| self.graph.file(f))
                .flat_map(|f| f.dependency.iter().map(String::as_str))
                .collect();
            let asked: Vec<String> = self
                .unavailable_files
                .iter()
                .filter(|(file, _)| declared.contains(file.as_str()))
                .map(|(file, why)| format!("file {file}: {why}"))
                .chain(
                    self.unavailable_symbols
                        .iter()
                        .filter(|(symbol, _)| candidates.contains(*symbol))
                        .map(|(symbol, why)| format!("symbol {symbol}: {why}")),
                )
                .collect();
            let asked = if asked.is_empty() {
                String::new()
            } else {
                format!(" (asked for {})", asked.join("; "))
            };
            warnings.push(format!(
                "type {name}, used in {}, is not defined by any file the server sent{asked}; \
                 fields of that type show undecoded",
                files.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        Assembled {
            services: descriptor::services(&repaired.set.file),
            set: repaired.set,
            warnings,
            changes: repaired.changes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::{DescriptorProto, FieldDescriptorProto};

    fn file(name: &str, package: &str, deps: &[&str], field_type: Option<&str>) -> Vec<u8> {
        FileDescriptorProto {
            name: Some(name.into()),
            package: Some(package.into()),
            dependency: deps.iter().map(|d| d.to_string()).collect(),
            message_type: vec![DescriptorProto {
                name: Some("M".into()),
                field: field_type
                    .map(|t| FieldDescriptorProto {
                        name: Some("f".into()),
                        number: Some(1),
                        label: Some(1),
                        r#type: Some(11),
                        type_name: Some(t.into()),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            }],
            syntax: Some("proto3".into()),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn files(q: &[Query]) -> Vec<&str> {
        q.iter()
            .filter_map(|q| match q {
                Query::File(f) => Some(f.as_str()),
                Query::Symbol(_) => None,
            })
            .collect()
    }

    fn symbols(q: &[Query]) -> Vec<&str> {
        q.iter()
            .filter_map(|q| match q {
                Query::Symbol(s) => Some(s.as_str()),
                Query::File(_) => None,
            })
            .collect()
    }

    #[test]
    fn asks_for_missing_imports_by_name_once_and_fills_well_known_types() {
        let mut a = Assembly::default();
        a.add(&[file(
            "a.proto",
            "p",
            &["b.proto", "google/protobuf/timestamp.proto"],
            Some(".google.protobuf.Timestamp"),
        )]);
        assert_eq!(files(&a.next_queries()), ["b.proto"]);
        a.add(&[file("b.proto", "q", &["c.proto", "a.proto"], None)]);
        assert_eq!(files(&a.next_queries()), ["c.proto"]);
        a.unavailable(&Query::File("c.proto".into()), "not found");
        assert!(a.next_queries().is_empty());
        let done = a.finish();
        assert!(done.warnings.is_empty(), "{:?}", done.warnings);
        let names: Vec<&str> = done.set.file.iter().map(|f| f.name()).collect();
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("google/protobuf/timestamp.proto") < pos("a.proto"));
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn asks_by_symbol_for_types_no_file_defines() {
        let mut a = Assembly::default();
        // As grpc-js sends it: no imports, a relative type name.
        a.add(&[file(
            "harness_v1.proto",
            "harness.v1",
            &[],
            Some("common.v1.Tag"),
        )]);
        let q = a.next_queries();
        assert!(files(&q).is_empty());
        assert_eq!(
            symbols(&q),
            [
                "harness.v1.M.common.v1.Tag",
                "harness.v1.common.v1.Tag",
                "harness.common.v1.Tag",
                "common.v1.Tag"
            ]
        );
        for s in [
            "harness.v1.M.common.v1.Tag",
            "harness.v1.common.v1.Tag",
            "common.v1.Tag",
        ] {
            a.unavailable(&Query::Symbol(s.into()), "Symbol not found");
        }
        let mut tag = FileDescriptorProto::decode(
            file("harness_common_v1.proto", "harness.common.v1", &[], None).as_slice(),
        )
        .unwrap();
        tag.message_type[0].name = Some("Tag".into());
        a.add(&[tag.encode_to_vec()]);
        assert!(a.next_queries().is_empty());
        let done = a.finish();
        assert!(done.warnings.is_empty(), "{:?}", done.warnings);
        let harness = done
            .set
            .file
            .iter()
            .find(|f| f.name() == "harness_v1.proto")
            .unwrap();
        assert_eq!(harness.dependency, ["harness_common_v1.proto"]);
        assert!(!done.changes.is_empty());
    }

    #[test]
    fn what_stays_missing_is_named_once_per_type() {
        let mut a = Assembly::default();
        a.add(&[file("a.proto", "p", &["gone.proto"], Some(".gone.Thing"))]);
        let q = a.next_queries();
        assert_eq!(files(&q), ["gone.proto"]);
        assert_eq!(symbols(&q), ["gone.Thing"]);
        a.unavailable(&q[0], "not found (code 5)");
        a.unavailable(&q[1], "Symbol not found (code 5)");
        assert!(a.next_queries().is_empty());
        let done = a.finish();
        assert_eq!(done.warnings.len(), 1, "{:?}", done.warnings);
        let w = &done.warnings[0];
        assert!(w.contains("gone.Thing") && w.contains("a.proto"), "{w}");
        assert!(w.contains("symbol gone.Thing: Symbol not found"), "{w}");
        // The rest of the file still loads.
        assert_eq!(done.set.file.len(), 1);
        assert_eq!(done.services.len(), 0);
    }

    #[test]
    fn undecodable_files_become_warnings() {
        let mut a = Assembly::default();
        a.add(&[vec![0xff, 0xff, 0xff]]);
        assert!(a.is_empty());
        assert_eq!(a.finish().warnings.len(), 1);
    }
}
