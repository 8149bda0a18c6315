//! Assembling a usable descriptor set from what a server's reflection gives:
//! the requested file, then its missing dependencies, until the closure is
//! complete or nothing more can be had.
//!
//! Servers differ: some send every dependency with the first answer, many
//! send only the requested file, some cannot produce a dependency at all (or
//! know it under another name). `Assembly` keeps what it has, says what is
//! still missing, fills in the protobuf well-known types from Loom's bundled
//! copies, and records a warning for each dependency that stays missing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use prost::Message as _;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

/// Loom's bundled copies of `google/protobuf/*.proto`.
fn well_known() -> &'static [FileDescriptorProto] {
    static FILES: OnceLock<Vec<FileDescriptorProto>> = OnceLock::new();
    FILES.get_or_init(|| {
        FileDescriptorSet::decode(loom_shared::rpc::WELL_KNOWN_TYPES)
            .map(|set| set.file)
            .unwrap_or_default()
    })
}

#[derive(Default)]
pub struct Assembly {
    files: BTreeMap<String, FileDescriptorProto>,
    /// Files asked for already (so none is asked for twice).
    asked: BTreeSet<String>,
    pub warnings: Vec<String>,
}

impl Assembly {
    /// Add serialized `FileDescriptorProto`s from a reply.
    pub fn add(&mut self, raw: &[Vec<u8>]) {
        for bytes in raw {
            match FileDescriptorProto::decode(bytes.as_slice()) {
                Ok(file) => {
                    self.files.entry(file.name().to_owned()).or_insert(file);
                }
                Err(e) => self.warnings.push(format!(
                    "the server sent an undecodable file descriptor: {e}"
                )),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Dependencies named by some file but not present and not yet asked
    /// for; marks them as asked. Well-known types are filled in locally
    /// first, so they are never asked for.
    pub fn next_to_ask(&mut self) -> Vec<String> {
        self.fill_well_known();
        let mut wanted = Vec::new();
        for file in self.files.values() {
            for dep in &file.dependency {
                if !self.files.contains_key(dep)
                    && !self.asked.contains(dep)
                    && !wanted.contains(dep)
                {
                    wanted.push(dep.clone());
                }
            }
        }
        self.asked.extend(wanted.iter().cloned());
        wanted
    }

    /// The server could not provide `file`.
    pub fn missing(&mut self, file: &str, why: &str) {
        let importers: Vec<&str> = self
            .files
            .values()
            .filter(|f| f.dependency.iter().any(|d| d == file))
            .map(|f| f.name())
            .collect();
        self.warnings.push(format!(
            "dependency {file} (imported by {}) is not available from the server: {why}; \
             fields of its types will show undecoded",
            importers.join(", ")
        ));
    }

    fn fill_well_known(&mut self) {
        // A well-known file may import another (api.proto imports type.proto),
        // so repeat until nothing more is added.
        loop {
            let needed: BTreeSet<String> = self
                .files
                .values()
                .flat_map(|f| f.dependency.iter())
                .filter(|d| d.starts_with("google/protobuf/") && !self.files.contains_key(*d))
                .cloned()
                .collect();
            let mut added = false;
            for file in well_known().iter().filter(|f| needed.contains(f.name())) {
                self.files.insert(file.name().to_owned(), file.clone());
                added = true;
            }
            if !added {
                return;
            }
        }
    }

    /// Fully-qualified service names defined in the assembled files.
    pub fn services(&self) -> Vec<String> {
        self.files
            .values()
            .flat_map(|f| {
                let pkg = f.package().to_owned();
                f.service.iter().map(move |s| {
                    if pkg.is_empty() {
                        s.name().to_owned()
                    } else {
                        format!("{pkg}.{}", s.name())
                    }
                })
            })
            .collect()
    }

    /// The files, dependencies before dependents.
    pub fn into_set(self) -> FileDescriptorSet {
        let mut ordered = Vec::with_capacity(self.files.len());
        let mut placed = BTreeSet::new();
        for name in self.files.keys() {
            place(name, &self.files, &mut placed, &mut ordered, 0);
        }
        FileDescriptorSet { file: ordered }
    }
}

fn place(
    name: &str,
    files: &BTreeMap<String, FileDescriptorProto>,
    placed: &mut BTreeSet<String>,
    out: &mut Vec<FileDescriptorProto>,
    depth: usize,
) {
    // Depth bounds a hostile import cycle.
    if placed.contains(name) || depth > 256 {
        return;
    }
    let Some(file) = files.get(name) else {
        return;
    };
    placed.insert(name.to_owned());
    for dep in &file.dependency {
        place(dep, files, placed, out, depth + 1);
    }
    out.push(file.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, deps: &[&str]) -> Vec<u8> {
        FileDescriptorProto {
            name: Some(name.into()),
            package: Some("p".into()),
            dependency: deps.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn asks_for_each_missing_dependency_once_and_fills_well_known_types() {
        let mut a = Assembly::default();
        a.add(&[file(
            "a.proto",
            &["b.proto", "google/protobuf/timestamp.proto"],
        )]);
        assert_eq!(a.next_to_ask(), vec!["b.proto".to_owned()]);
        a.add(&[file("b.proto", &["c.proto", "a.proto"])]);
        assert_eq!(a.next_to_ask(), vec!["c.proto".to_owned()]);
        a.missing("c.proto", "not found");
        assert!(a.next_to_ask().is_empty());
        assert!(a.warnings[0].contains("c.proto") && a.warnings[0].contains("b.proto"));
        let set = a.into_set();
        let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
        // Dependencies first, cycles tolerated.
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("google/protobuf/timestamp.proto") < pos("a.proto"));
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn undecodable_files_become_warnings() {
        let mut a = Assembly::default();
        a.add(&[vec![0xff, 0xff, 0xff]]);
        assert!(a.is_empty());
        assert_eq!(a.warnings.len(), 1);
    }
}
