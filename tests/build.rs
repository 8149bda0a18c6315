//! Compiles the test services with protox (no protoc needed), and writes
//! `OUT_DIR/test.fds`: an encoded `FileDescriptorSet` of every test proto and
//! its imports, as `protoc --include_imports --descriptor_set_out` would.

use std::path::PathBuf;

use prost::Message as _;

const PROTOS: &[&str] = &[
    "proto/loom/test/v1/probe.proto",
    "proto/loom/test/v1/catalog.proto",
    "proto/loom/test/v1/common.proto",
    "proto/loom/test/v1/money.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .btree_map(".")
        .compile_fds(fds)?;

    let set = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .open_files(PROTOS)?
        .file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("test.fds");
    std::fs::write(out, set.encode_to_vec())?;
    Ok(())
}
