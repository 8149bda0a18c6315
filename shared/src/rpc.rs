//! The `google.rpc` error model (`Status` and the standard error details),
//! bundled so that `grpc-status-details-bin` decodes even when a server's
//! reflection does not include these types.

#![allow(clippy::doc_lazy_continuation, rustdoc::bare_urls)]

pub use generated::*;

/// The prost types of `proto/google/rpc/*.proto`, re-exported above. Their
/// docs are the proto's comments, and the bundled protos leave many messages
/// and fields uncommented (googleapis documents them), hence the `allow`.
#[allow(missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
}

/// An encoded `google.protobuf.FileDescriptorSet` of `google/rpc/status.proto`
/// and `google/rpc/error_details.proto`, with the well-known types they import.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/google_rpc.fds"));

/// An encoded `google.protobuf.FileDescriptorSet` of the protobuf well-known
/// types (`google/protobuf/*.proto`), for schemas whose source left them out.
pub const WELL_KNOWN_TYPES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wkt.fds"));

/// An encoded `google.protobuf.FileDescriptorSet` of gRPC Server Reflection
/// (`grpc/reflection/v1/reflection.proto` and `v1alpha`), so that reflection
/// calls a client makes through the relay decode like any other.
pub const REFLECTION: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/reflection.fds"));

/// The type URL prefix servers use in `google.protobuf.Any`.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Pack a message as an `Any` with its standard type URL.
pub fn to_any<M: prost::Name>(message: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: M::type_url(),
        value: prost::Message::encode_to_vec(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn the_bundled_set_holds_the_error_model_and_its_imports() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let names: Vec<&str> = fds.file.iter().map(|f| f.name()).collect();
        for want in [
            "google/rpc/status.proto",
            "google/rpc/error_details.proto",
            "google/protobuf/any.proto",
            "google/protobuf/duration.proto",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
    }

    #[test]
    fn the_well_known_types_are_bundled() {
        let fds = prost_types::FileDescriptorSet::decode(WELL_KNOWN_TYPES).unwrap();
        let names: Vec<&str> = fds.file.iter().map(|f| f.name()).collect();
        assert!(names.contains(&"google/protobuf/timestamp.proto"));
        assert!(names.contains(&"google/protobuf/struct.proto"));
        assert_eq!(names.len(), 11);
    }

    #[test]
    fn reflection_is_bundled() {
        let fds = prost_types::FileDescriptorSet::decode(REFLECTION).unwrap();
        let names: Vec<&str> = fds.file.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "grpc/reflection/v1/reflection.proto",
                "grpc/reflection/v1alpha/reflection.proto"
            ]
        );
    }

    #[test]
    fn details_pack_with_their_type_urls() {
        let any = to_any(&BadRequest::default());
        assert_eq!(any.type_url, "type.googleapis.com/google.rpc.BadRequest");
    }
}
