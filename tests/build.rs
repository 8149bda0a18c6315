//! Compiles the probe test service with protox (no protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/loom/test/v1/probe.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
