//! Compiles `proto/loom/capture/v1/events.proto` with protox (no protoc needed)
//! into prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/loom/capture/v1/events.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let mut config = prost_build::Config::new();
    config.bytes(["."]);
    config.compile_fds(fds)?;
    Ok(())
}
