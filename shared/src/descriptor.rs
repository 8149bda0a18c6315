//! Descriptor graphs: what a set of `FileDescriptorProto`s declares, what it
//! refers to, and repairing graphs whose imports do not match their use.
//!
//! Real servers' reflection is not always a well-formed `protoc` output.
//! grpc-js's `@grpc/reflection`, for one, names files after their package
//! (`harness_v1.proto`, `google_protobuf.proto`) and declares no imports at
//! all, although its files use each other's types; and a file imported by a
//! name the server does not know may still be had by one of its symbols.
//! [`Graph`] holds the files gathered so far and works out, by symbol
//! rather than by file name:
//! - which referenced types no file defines ([`Graph::unresolved`]), so the
//!   caller can ask the server for them by symbol;
//! - the repaired set ([`Graph::repair`]): every file's dependency list
//!   rewritten to the files that define what it uses, the protobuf
//!   well-known types taken from Loom's bundled copies (also in place of a
//!   server's oddly named copy of them), and a note for each reference that
//!   still does not resolve.
//!
//! [`services`] lists the services of a set: the one definition of that.
//!
//! Pure functions over descriptors: no IO, and the same in the relay and in
//! the browser.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};

use crate::rpc;

/// `package.Name`, or `Name` without a package.
pub fn qualified(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_owned()
    } else {
        format!("{package}.{name}")
    }
}

/// The fully-qualified names of the services `files` define, in order.
pub fn services<'a>(files: impl IntoIterator<Item = &'a FileDescriptorProto>) -> Vec<String> {
    files
        .into_iter()
        .flat_map(|f| f.service.iter().map(|s| qualified(f.package(), s.name())))
        .collect()
}

/// Loom's bundled `google/protobuf/*.proto` files.
pub fn well_known_files() -> &'static [FileDescriptorProto] {
    static FILES: OnceLock<Vec<FileDescriptorProto>> = OnceLock::new();
    FILES.get_or_init(|| {
        FileDescriptorSet::decode(rpc::WELL_KNOWN_TYPES)
            .map(|set| set.file)
            .unwrap_or_default()
    })
}

/// A type one file refers to: a field's type, a method's input or output, an
/// extension's extendee.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The file that refers to it.
    pub file: String,
    /// The name as written: fully-qualified with a leading `.`, or relative.
    pub name: String,
    /// The scope a relative name is resolved in (`pkg.Message`).
    pub scope: String,
}

impl Reference {
    /// The fully-qualified names it could mean, most specific first (the
    /// protobuf scoping rules; a leading `.` means exactly one).
    pub fn candidates(&self) -> Vec<String> {
        if let Some(full) = self.name.strip_prefix('.') {
            return vec![full.to_owned()];
        }
        let mut out = Vec::new();
        let mut scope = self.scope.as_str();
        loop {
            out.push(qualified(scope, &self.name));
            match scope.rsplit_once('.') {
                Some((parent, _)) => scope = parent,
                None if scope.is_empty() => break,
                None => scope = "",
            }
        }
        out
    }
}

/// The files gathered for one schema, keyed by file name.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    files: BTreeMap<String, FileDescriptorProto>,
}

/// The outcome of [`Graph::repair`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Repaired {
    /// Every file, dependencies before dependents.
    pub set: FileDescriptorSet,
    /// What was changed, in words (imports added, files replaced).
    pub changes: Vec<String>,
    /// References no file defines: the types that will show undecoded.
    pub unresolved: Vec<Reference>,
}

impl Graph {
    /// Adds a file; a file of the same name already present is kept.
    pub fn add(&mut self, file: FileDescriptorProto) {
        self.files.entry(file.name().to_owned()).or_insert(file);
    }

    /// Whether no file has been added yet.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether a file called `name` has been added (bundled well-known types
    /// count only if added).
    pub fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The file called `name`, as it was added.
    pub fn file(&self, name: &str) -> Option<&FileDescriptorProto> {
        self.files.get(name)
    }

    /// Every file added, sorted by file name (not in dependency order; see
    /// [`Graph::repair`] for that).
    pub fn files(&self) -> impl Iterator<Item = &FileDescriptorProto> {
        self.files.values()
    }

    /// Imports some file declares that no file here has, sorted, without the
    /// well-known types (which [`Graph::repair`] fills in).
    pub fn missing_imports(&self) -> Vec<String> {
        let bundled = bundled_names();
        let mut out: BTreeSet<String> = BTreeSet::new();
        for file in self.files.values() {
            for dep in &file.dependency {
                if !self.files.contains_key(dep) && !bundled.contains_key(dep.as_str()) {
                    out.insert(dep.clone());
                }
            }
        }
        out.into_iter().collect()
    }

    /// The files that import `name`.
    pub fn importers(&self, name: &str) -> Vec<&str> {
        self.files
            .values()
            .filter(|f| f.dependency.iter().any(|d| d == name))
            .map(|f| f.name())
            .collect()
    }

    /// References that neither these files nor the bundled well-known types
    /// define, in file order.
    pub fn unresolved(&self) -> Vec<Reference> {
        let index = self.index();
        self.references()
            .into_iter()
            .filter(|r| resolve(&index, r).is_none())
            .collect()
    }

    /// The set to decode with: imports rewritten to match what each file
    /// uses, well-known types from the bundled copies.
    pub fn repair(&self) -> Repaired {
        let mut changes = Vec::new();
        let mut files = self.files.clone();

        // A server's own copy of the well-known types under another name
        // would clash with the bundled ones: use the bundled ones instead.
        let bundled = bundled_index();
        files.retain(|name, file| {
            let odd =
                file.package() == "google.protobuf" && !bundled_names().contains_key(name.as_str());
            let covered = definitions(file).iter().all(|d| bundled.contains_key(d));
            if odd && covered {
                changes.push(format!(
                    "{name} holds well-known types: Loom's bundled copies are used instead"
                ));
            }
            !(odd && covered)
        });

        let graph = Graph { files };
        let index = graph.index();
        let mut unresolved = Vec::new();
        let mut files = graph.files;
        let names: Vec<String> = files.keys().cloned().collect();
        let mut needed_bundled: BTreeSet<&'static str> = BTreeSet::new();
        for name in &names {
            let Some(file) = files.get(name) else {
                continue;
            };
            let mut wanted: Vec<String> = Vec::new();
            for reference in references(file) {
                match resolve(&index, &reference) {
                    Some(definer) if definer != name.as_str() => {
                        if !wanted.iter().any(|w| w == definer) {
                            wanted.push(definer.to_owned());
                        }
                    }
                    Some(_) => {}
                    None => unresolved.push(reference),
                }
            }
            let declared = &file.dependency;
            let keep: Vec<String> = declared
                .iter()
                .filter(|d| wanted.contains(d) || files.contains_key(d.as_str()))
                .cloned()
                .collect();
            let mut deps = keep.clone();
            for w in &wanted {
                if !deps.contains(w) {
                    deps.push(w.clone());
                }
            }
            let dropped: Vec<&String> = declared.iter().filter(|d| !deps.contains(d)).collect();
            let added: Vec<&String> = deps.iter().filter(|d| !declared.contains(d)).collect();
            if !added.is_empty() {
                changes.push(format!(
                    "{name}: added imports {} for the types it uses",
                    join(&added)
                ));
            }
            if !dropped.is_empty() {
                changes.push(format!(
                    "{name}: dropped imports {} that no file here has and none of its types need",
                    join(&dropped)
                ));
            }
            for dep in &deps {
                if let Some(&b) = bundled_names().get(dep.as_str())
                    && !files.contains_key(dep)
                {
                    needed_bundled.insert(b);
                }
            }
            if deps != *declared {
                let file = files.get_mut(name).expect("name is a key");
                *file = with_dependencies(file, deps);
            }
        }
        // The bundled files needed, and what they import in turn.
        let mut pending: Vec<&'static str> = needed_bundled.into_iter().collect();
        while let Some(name) = pending.pop() {
            if files.contains_key(name) {
                continue;
            }
            if let Some(file) = well_known_files().iter().find(|f| f.name() == name) {
                for dep in &file.dependency {
                    if let Some(&b) = bundled_names().get(dep.as_str()) {
                        pending.push(b);
                    }
                }
                files.insert(name.to_owned(), file.clone());
            }
        }
        Repaired {
            set: ordered(&files),
            changes,
            unresolved,
        }
    }

    /// Every symbol defined here or in the bundled well-known types, and
    /// the file that defines it (files here win).
    fn index(&self) -> HashMap<String, String> {
        let mut index: HashMap<String, String> = bundled_index()
            .iter()
            .map(|(k, v)| (k.clone(), (*v).to_owned()))
            .collect();
        for file in self.files.values() {
            for symbol in definitions(file) {
                index.insert(symbol, file.name().to_owned());
            }
        }
        index
    }

    fn references(&self) -> Vec<Reference> {
        self.files.values().flat_map(references).collect()
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The file that defines what `reference` names, if any.
fn resolve<'a>(index: &'a HashMap<String, String>, reference: &Reference) -> Option<&'a str> {
    reference
        .candidates()
        .iter()
        .find_map(|c| index.get(c).map(String::as_str))
}

fn bundled_names() -> &'static HashMap<&'static str, &'static str> {
    static NAMES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        well_known_files()
            .iter()
            .map(|f| (f.name(), f.name()))
            .collect()
    })
}

fn bundled_index() -> &'static HashMap<String, &'static str> {
    static INDEX: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = HashMap::new();
        for file in well_known_files() {
            for symbol in definitions(file) {
                index.insert(symbol, file.name());
            }
        }
        index
    })
}

/// The fully-qualified names of the messages, enums, services and
/// extensions a file defines, nested ones included.
pub fn definitions(file: &FileDescriptorProto) -> Vec<String> {
    let package = file.package();
    let mut out = Vec::new();
    for message in &file.message_type {
        message_definitions(package, message, &mut out, 0);
    }
    for e in &file.enum_type {
        out.push(qualified(package, e.name()));
    }
    for s in &file.service {
        out.push(qualified(package, s.name()));
    }
    for x in &file.extension {
        out.push(qualified(package, x.name()));
    }
    out
}

/// Nesting deeper than this is not followed (a hostile descriptor).
const MAX_DEPTH: usize = 64;

fn message_definitions(
    scope: &str,
    message: &DescriptorProto,
    out: &mut Vec<String>,
    depth: usize,
) {
    let name = qualified(scope, message.name());
    if depth < MAX_DEPTH {
        for nested in &message.nested_type {
            message_definitions(&name, nested, out, depth + 1);
        }
        for e in &message.enum_type {
            out.push(qualified(&name, e.name()));
        }
        for x in &message.extension {
            out.push(qualified(&name, x.name()));
        }
    }
    out.push(name);
}

/// Every type a file refers to.
pub fn references(file: &FileDescriptorProto) -> Vec<Reference> {
    let mut out = Vec::new();
    let package = file.package();
    let mut push = |scope: &str, name: &str| {
        if !name.is_empty() {
            out.push(Reference {
                file: file.name().to_owned(),
                name: name.to_owned(),
                scope: scope.to_owned(),
            });
        }
    };
    let mut stack: Vec<(String, &DescriptorProto, usize)> = file
        .message_type
        .iter()
        .map(|m| (qualified(package, m.name()), m, 0))
        .collect();
    while let Some((scope, message, depth)) = stack.pop() {
        for field in message.field.iter().chain(&message.extension) {
            push(&scope, field.type_name());
            push(&scope, field.extendee());
        }
        if depth < MAX_DEPTH {
            for nested in &message.nested_type {
                stack.push((qualified(&scope, nested.name()), nested, depth + 1));
            }
        }
    }
    for field in &file.extension {
        push(package, field.type_name());
        push(package, field.extendee());
    }
    for service in &file.service {
        let scope = qualified(package, service.name());
        for method in &service.method {
            push(&scope, method.input_type());
            push(&scope, method.output_type());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn with_dependencies(file: &FileDescriptorProto, deps: Vec<String>) -> FileDescriptorProto {
    let mut out = file.clone();
    let index_of = |name: &str| {
        deps.iter()
            .position(|d| d == name)
            .and_then(|i| i32::try_from(i).ok())
    };
    let remap = |indexes: &[i32]| -> Vec<i32> {
        indexes
            .iter()
            .filter_map(|&i| {
                let old = file.dependency.get(usize::try_from(i).ok()?)?;
                index_of(old)
            })
            .collect()
    };
    out.public_dependency = remap(&file.public_dependency);
    out.weak_dependency = remap(&file.weak_dependency);
    out.dependency = deps;
    out
}

/// The files, dependencies before dependents (import cycles tolerated).
fn ordered(files: &BTreeMap<String, FileDescriptorProto>) -> FileDescriptorSet {
    let mut out = Vec::with_capacity(files.len());
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    for root in files.keys() {
        // Iterative depth-first: import chains can be long.
        let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        if !placed.insert(root.as_str()) {
            continue;
        }
        while let Some((name, next)) = stack.last_mut() {
            let Some(file) = files.get(*name) else {
                stack.pop();
                continue;
            };
            if let Some(dep) = file.dependency.get(*next) {
                *next += 1;
                if let Some((dep_name, _)) = files.get_key_value(dep.as_str())
                    && placed.insert(dep_name.as_str())
                {
                    stack.push((dep_name.as_str(), 0));
                }
                continue;
            }
            out.push(file.clone());
            stack.pop();
        }
    }
    FileDescriptorSet { file: out }
}

#[cfg(test)]
mod tests;
