//! Schemas from local files, for servers without reflection:
//! `--descriptor-set FILE` (protoc `--include_imports --descriptor_set_out`
//! or `buf build -o` output) and `--proto PATH` (compiled in-process with
//! protox; no protoc needed). Loaded once at start-up; any problem stops the
//! relay before it serves, with the file, line and message.

use std::path::{Path, PathBuf};

use loom_shared::descriptor;
use loom_shared::pb::{self, SchemaOrigin};
use prost::Message as _;
use prost_types::FileDescriptorSet;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("--descriptor-set {path}: cannot read it: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "--descriptor-set {path}: not a FileDescriptorSet (as written by `protoc --include_imports \
         --descriptor_set_out` or `buf build -o`): {cause}"
    )]
    NotASet {
        path: PathBuf,
        cause: prost::DecodeError,
    },
    #[error("--proto {path}: {message}")]
    Proto { path: PathBuf, message: String },
    #[error("--proto {path}: no .proto files there")]
    NoProtos { path: PathBuf },
}

/// Load every local schema, in the order given: descriptor sets, then protos.
pub fn load(
    descriptor_sets: &[PathBuf],
    protos: &[PathBuf],
    includes: &[PathBuf],
) -> Result<Vec<pb::Descriptors>, SchemaError> {
    let mut out = Vec::new();
    for path in descriptor_sets {
        let bytes = std::fs::read(path).map_err(|cause| SchemaError::Read {
            path: path.clone(),
            cause,
        })?;
        let set =
            FileDescriptorSet::decode(bytes.as_slice()).map_err(|cause| SchemaError::NotASet {
                path: path.clone(),
                cause,
            })?;
        out.push(descriptors(set, SchemaOrigin::DescriptorSet, path));
    }
    for path in protos {
        let set = compile(path, includes)?;
        out.push(descriptors(set, SchemaOrigin::Proto, path));
    }
    Ok(out)
}

fn compile(path: &Path, includes: &[PathBuf]) -> Result<FileDescriptorSet, SchemaError> {
    let files = proto_files(path).map_err(|e| SchemaError::Proto {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if files.is_empty() {
        return Err(SchemaError::NoProtos {
            path: path.to_owned(),
        });
    }
    let includes: Vec<PathBuf> = if includes.is_empty() {
        let root = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        };
        vec![if root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root.to_owned()
        }]
    } else {
        includes.to_vec()
    };
    let fail = |e: protox::Error| SchemaError::Proto {
        path: path.to_owned(),
        // protox's Debug form is the one-line `file:line:column: message`.
        message: format!("{e:?}"),
    };
    let mut compiler = protox::Compiler::new(&includes).map_err(fail)?;
    compiler.include_imports(true);
    compiler.open_files(&files).map_err(fail)?;
    Ok(compiler.file_descriptor_set())
}

/// `path` itself, or every `.proto` below it, sorted.
fn proto_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        std::fs::metadata(path)?;
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "proto") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn descriptors(set: FileDescriptorSet, origin: SchemaOrigin, path: &Path) -> pb::Descriptors {
    pb::Descriptors::schema(
        set.encode_to_vec(),
        descriptor::services(&set.file),
        origin,
        path.display().to_string(),
        "",
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn compiles_a_proto_with_well_known_imports() {
        let (_dir, path) = temp(
            "a.proto",
            "syntax = \"proto3\"; package p; import \"google/protobuf/timestamp.proto\";\n\
             message M { google.protobuf.Timestamp t = 1; }\nservice S { rpc Get(M) returns (M); }\n",
        );
        let loaded = load(&[], &[path], &[]).unwrap();
        assert_eq!(loaded[0].services, vec!["p.S".to_owned()]);
        assert_eq!(loaded[0].origin(), SchemaOrigin::Proto);
        assert!(
            loaded[0].location.ends_with("a.proto"),
            "{}",
            loaded[0].location
        );
        let set = FileDescriptorSet::decode(loaded[0].file_descriptor_set.clone()).unwrap();
        assert!(
            set.file
                .iter()
                .any(|f| f.name() == "google/protobuf/timestamp.proto")
        );
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let (_dir, path) = temp(
            "broken.proto",
            "syntax = \"proto3\";\nmessage A { int32 x = }\n",
        );
        let err = load(&[], &[path], &[]).unwrap_err().to_string();
        assert!(err.contains("broken.proto:2:"), "{err}");
    }

    #[test]
    fn garbage_descriptor_sets_are_refused() {
        let (_dir, path) = temp("x.protoset", "definitely not protobuf \u{0}\u{1}");
        let err = load(&[path], &[], &[]).unwrap_err().to_string();
        assert!(
            err.contains("x.protoset") && err.contains("FileDescriptorSet"),
            "{err}"
        );
        let err = load(&[PathBuf::from("/nonexistent/x.pb")], &[], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/x.pb"), "{err}");
    }
}
