//! Assembling the pool: bundled types first, then every set's files one by
//! one, dependencies first, skipping (and reporting) those that fail.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::DescriptorPool;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

use super::{SchemaProblem, SchemaSource, ServiceOrigin};
use crate::descriptor::qualified;
use crate::{pb, rpc};

/// The bundled well-known types and `google.rpc` error model (built once).
pub(super) fn bundled() -> (DescriptorPool, Vec<SchemaProblem>) {
    static BUNDLED_POOL: OnceLock<(DescriptorPool, Vec<SchemaProblem>)> = OnceLock::new();
    BUNDLED_POOL.get_or_init(build_bundled).clone()
}

fn build_bundled() -> (DescriptorPool, Vec<SchemaProblem>) {
    let mut pool = DescriptorPool::new();
    let mut problems = Vec::new();
    for (what, bytes) in [
        ("well-known types", rpc::WELL_KNOWN_TYPES),
        ("google.rpc", rpc::FILE_DESCRIPTOR_SET),
        ("gRPC Server Reflection", rpc::REFLECTION),
    ] {
        if let Err(e) = pool.decode_file_descriptor_set(bytes) {
            problems.push(SchemaProblem {
                source: SchemaSource::bundled(),
                file: None,
                message: format!("the bundled {what} do not load: {e}"),
                repaired: false,
            });
        }
    }
    (pool, problems)
}

pub(super) struct Built {
    pub pool: DescriptorPool,
    pub problems: Vec<SchemaProblem>,
    pub services: HashMap<String, ServiceOrigin>,
    /// Upstreams some of whose files did not go into the pool as they came:
    /// another upstream's different copy of the file won, or the file could
    /// not be added (a conflict with another upstream's file, most often).
    /// Their calls need a pool of their own (`super::own`).
    pub diverging: HashSet<String>,
}

struct Candidate {
    file: FileDescriptorProto,
    set: usize,
}

/// Whether `set` can go on top of `pool` as it is: each of its files is new
/// there, or the very same file. (Otherwise the pool must be rebuilt, so
/// that the newer copy wins.)
pub(super) fn extends(pool: &DescriptorPool, set: &pb::Descriptors) -> bool {
    let Ok(decoded) = FileDescriptorSet::decode(set.file_descriptor_set.clone()) else {
        return true;
    };
    decoded.file.iter().all(|file| {
        pool.get_file_by_name(file.name())
            .is_none_or(|known| known.file_descriptor_proto() == file)
    })
}

/// Builds a pool from `base` plus `sets` (later sets win). `base` is taken
/// by value so that adding to it copies nothing when no one else holds it.
pub(super) fn merge(base: DescriptorPool, sets: &[pb::Descriptors]) -> Built {
    let mut problems = Vec::new();
    let sources: Vec<SchemaSource> = sets.iter().map(SchemaSource::of).collect();
    let problem = |set: usize, file: Option<&str>, message: String, repaired: bool| SchemaProblem {
        source: sources[set].clone(),
        file: file.map(str::to_owned),
        message,
        repaired,
    };

    // Every file, newest set first; a name seen in a newer set shadows older copies.
    let mut candidates: HashMap<String, Candidate> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut declared: HashMap<String, (usize, String)> = HashMap::new();
    let mut diverging: HashSet<String> = HashSet::new();
    for (index, set) in sets.iter().enumerate().rev() {
        let decoded = match FileDescriptorSet::decode(set.file_descriptor_set.clone()) {
            Ok(decoded) => decoded,
            Err(e) => {
                problems.push(problem(
                    index,
                    None,
                    format!("not a valid FileDescriptorSet ({e}); skipped"),
                    false,
                ));
                continue;
            }
        };
        for file in decoded.file {
            let name = file.name().to_owned();
            if name.is_empty() {
                problems.push(problem(
                    index,
                    None,
                    "a file without a name; skipped".into(),
                    false,
                ));
                continue;
            }
            if base.get_file_by_name(&name).is_some() {
                continue;
            }
            if let Some(newer) = candidates.get(&name) {
                if shadows(&sets[newer.set], set) && newer.file != file {
                    diverging.insert(set.upstream.clone());
                }
                continue;
            }
            for service in &file.service {
                let full = qualified(file.package(), service.name());
                declared.entry(full).or_insert((index, name.clone()));
            }
            order.push(name.clone());
            candidates.insert(name, Candidate { file, set: index });
        }
    }

    // Add them dependencies first (iteratively: import chains can be long).
    let mut pool = base;
    let mut failures: HashMap<String, String> = HashMap::new();
    let mut visited: HashSet<String> = HashSet::new();
    for root in &order {
        if !visited.insert(root.clone()) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        while let Some((name, next)) = stack.last_mut() {
            let Some(candidate) = candidates.get(*name) else {
                stack.pop();
                continue;
            };
            if let Some(dep) = candidate.file.dependency.get(*next) {
                *next += 1;
                if let Some((dep_name, _)) = candidates.get_key_value(dep.as_str())
                    && visited.insert(dep_name.clone())
                {
                    stack.push((dep_name.as_str(), 0));
                }
                continue;
            }
            let name = *name;
            stack.pop();
            if let Some((message, repaired)) =
                add(&mut pool, &candidate.file, &failures, &candidates)
            {
                if !repaired {
                    failures.insert(name.to_owned(), message.clone());
                    let upstream = &sets[candidate.set].upstream;
                    if !upstream.is_empty() {
                        diverging.insert(upstream.clone());
                    }
                }
                problems.push(problem(candidate.set, Some(name), message, repaired));
            }
        }
    }

    let services = declared
        .into_iter()
        .map(|(service, (set, file))| {
            let error = if pool.get_service_by_name(&service).is_some() {
                None
            } else {
                Some(
                    failures
                        .get(&file)
                        .cloned()
                        .unwrap_or_else(|| format!("{file} was not added to the schema")),
                )
            };
            let origin = ServiceOrigin {
                source: sources[set].clone(),
                file,
                error,
            };
            (service, origin)
        })
        .collect();

    Built {
        pool,
        problems,
        services,
        diverging,
    }
}

/// Whether a file of `newer` hiding `older`'s different copy of it makes
/// `older`'s upstream diverge: both came from upstreams, different ones. (A
/// local file, or a newer set from the same upstream, replaces a file the
/// same way in an upstream's own pool as in the merged one.)
fn shadows(newer: &pb::Descriptors, older: &pb::Descriptors) -> bool {
    !newer.upstream.is_empty() && !older.upstream.is_empty() && newer.upstream != older.upstream
}

/// Adds one file. Returns `None` when it went in as is, else what happened
/// and whether it went in anyway (repaired: without its missing imports).
fn add(
    pool: &mut DescriptorPool,
    file: &FileDescriptorProto,
    failures: &HashMap<String, String>,
    candidates: &HashMap<String, Candidate>,
) -> Option<(String, bool)> {
    // prost-reflect 0.16 panics (instead of failing) on an unknown syntax.
    if let Some(syntax) = file.syntax.as_deref()
        && !matches!(syntax, "proto2" | "proto3")
    {
        return Some((format!("unsupported syntax {syntax:?}; skipped"), false));
    }
    let missing: Vec<&String> = file
        .dependency
        .iter()
        .filter(|dep| pool.get_file_by_name(dep).is_none())
        .collect();
    let error = match pool.add_file_descriptor_proto(file.clone()) {
        Ok(()) => return None,
        Err(e) => e.to_string(),
    };
    if missing.is_empty() {
        return Some((format!("{error}; skipped"), false));
    }
    let why: Vec<String> = missing
        .iter()
        .map(|dep| {
            if failures.contains_key(dep.as_str()) {
                format!("{dep} (which could not be added)")
            } else if candidates.contains_key(dep.as_str()) {
                format!("{dep} (an import cycle)")
            } else {
                format!("{dep} (not in any descriptor set)")
            }
        })
        .collect();
    let why = why.join(", ");
    match pool.add_file_descriptor_proto(without_imports(file, &missing)) {
        Ok(()) => Some((format!("imports {why}; added without it"), true)),
        Err(e) => Some((
            format!("imports {why}, and cannot do without it: {e}; skipped"),
            false,
        )),
    }
}

/// `file` without the imports named in `drop`.
fn without_imports(file: &FileDescriptorProto, drop: &[&String]) -> FileDescriptorProto {
    let mut out = file.clone();
    let mut new_index = Vec::with_capacity(file.dependency.len());
    out.dependency.clear();
    for dep in &file.dependency {
        if drop.contains(&dep) {
            new_index.push(None);
        } else {
            new_index.push(i32::try_from(out.dependency.len()).ok());
            out.dependency.push(dep.clone());
        }
    }
    let remap = |indexes: &[i32]| -> Vec<i32> {
        indexes
            .iter()
            .filter_map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| new_index.get(i).copied().flatten())
            })
            .collect()
    };
    out.public_dependency = remap(&file.public_dependency);
    out.weak_dependency = remap(&file.weak_dependency);
    out
}
