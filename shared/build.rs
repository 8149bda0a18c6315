//! Compiles the capture event model (`proto/loom/capture/v1/events.proto`) and
//! the bundled `google.rpc` error model (`proto/google/rpc/*.proto`) with
//! protox (no protoc needed) into prost types, and writes the `google.rpc`
//! descriptor set (with its well-known-type imports) for the decoding engine,
//! plus the well-known types and gRPC Server Reflection as descriptor sets.

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = "proto/loom/capture/v1/events.proto";
    let rpc = [
        "proto/google/rpc/status.proto",
        "proto/google/rpc/error_details.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);

    let mut files = vec![events];
    files.extend(rpc);
    let fds = protox::compile(files, ["proto"])?;
    let mut config = prost_build::Config::new();
    config.bytes(["."]);
    config.btree_map(["."]);
    // TLS facts are rare and large: boxed, a cleartext call pays a pointer.
    config.boxed(".loom.capture.v1.CallStarted.client_tls");
    config.boxed(".loom.capture.v1.CallEnded.upstream_tls");
    config.enable_type_names();
    config.type_name_domain([".google.rpc"], "type.googleapis.com");
    config.compile_fds(fds)?;

    // The descriptor set the engine decodes error details with: google.rpc
    // plus the well-known types it imports.
    let rpc_fds = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .open_files(rpc)?
        .file_descriptor_set();
    std::fs::write(out.join("google_rpc.fds"), rpc_fds.encode_to_vec())?;

    // The protobuf well-known types, for servers whose reflection leaves them out.
    let wkt = [
        "google/protobuf/any.proto",
        "google/protobuf/api.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/empty.proto",
        "google/protobuf/field_mask.proto",
        "google/protobuf/source_context.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/type.proto",
        "google/protobuf/wrappers.proto",
    ];
    let wkt_fds = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .open_files(wkt)?
        .file_descriptor_set();
    std::fs::write(out.join("wkt.fds"), wkt_fds.encode_to_vec())?;

    // gRPC Server Reflection, so that a client's reflection calls through
    // the relay decode too.
    let reflection_fds = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .open_files([
            "grpc/reflection/v1/reflection.proto",
            "grpc/reflection/v1alpha/reflection.proto",
        ])?
        .file_descriptor_set();
    std::fs::write(out.join("reflection.fds"), reflection_fds.encode_to_vec())?;
    Ok(())
}
