//! Compiles the demo service (`proto/loom/demo/v1/*.proto`) with protox (no
//! protoc needed) into prost types and a tonic client and server, and writes
//! its descriptor set, with the well-known types it imports, to
//! `OUT_DIR/demo.fds` for the demo backend's server reflection.
//!
//! Also embeds the built web inspector when `LOOM_WEB_DIST` names a Trunk
//! output directory (the scripts set it after `trunk build`); without it the
//! relay serves a page saying how to build the inspector.

use std::path::{Path, PathBuf};

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/loom/demo/v1/demo.proto",
        "proto/loom/demo/v1/types.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let fds = protox::compile(files, ["proto"])?;
    let mut config = prost_build::Config::new();
    // `Any` packing needs each message's full name and type URL.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .bytes(".")
        .btree_map(".")
        .compile_fds_with_config(fds, config)?;

    let with_imports = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .open_files(files)?
        .file_descriptor_set();
    std::fs::write(out.join("demo.fds"), with_imports.encode_to_vec())?;

    embed_web(&out)?;
    Ok(())
}

/// Writes `OUT_DIR/web_assets.rs`: `(path, bytes)` for every file of the
/// bundle, or nothing when there is no bundle.
fn embed_web(out: &Path) -> std::io::Result<()> {
    println!("cargo:rerun-if-env-changed=LOOM_WEB_DIST");
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    if let Some(dist) = std::env::var_os("LOOM_WEB_DIST").map(PathBuf::from) {
        if dist.join("index.html").is_file() {
            println!("cargo:rerun-if-changed={}", dist.display());
            let mut files = Vec::new();
            collect(&dist, &dist, &mut files)?;
            files.sort();
            for (rel, abs) in files {
                code.push_str(&format!("    ({rel:?}, include_bytes!({abs:?})),\n"));
            }
        } else {
            // Rerun once the bundle is built.
            println!(
                "cargo:rerun-if-changed={}",
                dist.join("index.html").display()
            );
            println!(
                "cargo:warning=LOOM_WEB_DIST={} has no index.html; the inspector is not embedded",
                dist.display()
            );
        }
    }
    code.push_str("];\n");
    std::fs::write(out.join("web_assets.rs"), code)
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            files.push((rel, path.canonicalize()?.to_string_lossy().into_owned()));
        }
    }
    Ok(())
}
