//! One captured gRPC message, decoded: decompressed per the call's
//! `grpc-encoding`, then rendered with the schema (or without).

use bytes::Bytes;
use prost_reflect::MessageDescriptor;
use serde_json::{Map, Value, json};

use super::MAX_DECOMPRESSED_BYTES;
use super::body::Body;
use super::compression::{Encoding, decompress};
use super::json::JsonOptions;
use crate::pb;

/// A decoded message and its sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    /// Position among the call's messages (both directions), in capture order.
    pub index: usize,
    /// Which way it went: client to server, or back.
    pub direction: pb::Direction,
    /// Position among the call's messages in the same direction.
    pub ordinal: usize,
    /// Nanoseconds since the call's start, when its last byte arrived.
    pub offset_nanos: u64,
    /// Bytes on the wire after the 5-byte prefix (what was captured).
    pub wire_size: usize,
    /// The length the prefix declared (differs when truncated).
    pub declared_length: u32,
    /// The capture kept only the first `wire_size` bytes.
    pub truncated: bool,
    /// Only the first `wire_size` bytes arrived, as a live preview: the
    /// relay has the whole message ([`crate::engine::Session::complete_message`]
    /// puts it in place).
    pub preview: bool,
    /// The compressed flag was set; `encoding` says with what.
    pub compressed: bool,
    /// The direction's `grpc-encoding`, when the compressed flag was set;
    /// `None` for an uncompressed message.
    pub encoding: Option<Encoding>,
    /// Size after decompression; `None` when decompression failed.
    pub size: Option<usize>,
    /// The payload decoded: JSON, schema-less, or raw bytes.
    pub body: Body,
}

impl MessageView {
    /// Decodes `message` (the `index`th of its call, `ordinal`th in its
    /// direction). `desc` is its type, or why there is none; `encoding` is
    /// its direction's `grpc-encoding`.
    pub fn decode(
        message: &pb::Message,
        index: usize,
        ordinal: usize,
        desc: Result<&MessageDescriptor, &str>,
        encoding: &Encoding,
        options: &JsonOptions,
    ) -> Self {
        let wire_size = message.payload.len();
        let (size, body) = match plain_payload(message, encoding) {
            Ok(plain) => {
                let size = plain.len();
                let body = if message.preview {
                    Body::schemaless(
                        format!(
                            "preview: the first {wire_size} of {} bytes; the relay has the whole message",
                            message.declared_length
                        ),
                        &plain,
                    )
                } else if message.truncated {
                    Body::schemaless(
                        format!(
                            "truncated: the capture kept only {wire_size} of {} bytes",
                            message.declared_length
                        ),
                        &plain,
                    )
                } else {
                    Body::decode(desc, plain, options)
                };
                (Some(size), body)
            }
            Err(reason) => (
                None,
                Body::Raw {
                    reason,
                    bytes: message.payload.clone(),
                },
            ),
        };
        MessageView {
            index,
            direction: message.direction(),
            ordinal,
            offset_nanos: message.offset_nanos,
            wire_size,
            declared_length: message.declared_length,
            truncated: message.truncated,
            preview: message.preview,
            compressed: message.compressed,
            encoding: message.compressed.then(|| encoding.clone()),
            size,
            body,
        }
    }

    /// The message's fields and sizes, with the body (see [`Body::to_json`])
    /// merged in.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("index".into(), json!(self.ordinal));
        out.insert("offsetNanos".into(), json!(self.offset_nanos));
        out.insert("wireSize".into(), json!(self.wire_size));
        if let Some(size) = self.size {
            out.insert("size".into(), json!(size));
        }
        if let Some(encoding) = &self.encoding {
            out.insert("compressed".into(), json!(encoding.name()));
        }
        if self.truncated {
            out.insert("truncated".into(), json!(true));
        }
        if self.preview {
            out.insert("preview".into(), json!(true));
        }
        if self.truncated || self.preview {
            out.insert("declaredLength".into(), json!(self.declared_length));
        }
        if let Value::Object(body) = self.body.to_json() {
            out.extend(body);
        }
        Value::Object(out)
    }
}

/// The payload after decompression, or why it could not be had.
fn plain_payload(message: &pb::Message, encoding: &Encoding) -> Result<Bytes, String> {
    if !message.compressed {
        return Ok(message.payload.clone());
    }
    decompress(encoding, &message.payload, MAX_DECOMPRESSED_BYTES).map_err(|e| {
        if message.truncated || message.preview {
            format!(
                "{e} (only the first {} bytes are here)",
                message.payload.len()
            )
        } else {
            e.to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use prost_reflect::Value as V;

    use super::*;
    use crate::engine::testing;

    fn message(payload: impl Into<Bytes>, compressed: bool) -> pb::Message {
        pb::Message::new(pb::Direction::Request, 10, compressed, payload)
    }

    #[test]
    fn plain_and_compressed_messages_decode() {
        let schema = testing::schema();
        let desc = testing::sample_descriptor(&schema);
        let plain = testing::sample(&schema, &[("name", V::String("hi".into()))]);
        let options = JsonOptions {
            show_defaults: false,
            ..JsonOptions::default()
        };
        let view = MessageView::decode(
            &message(plain.clone(), false),
            0,
            0,
            Ok(&desc),
            &Encoding::Identity,
            &options,
        );
        assert_eq!(view.body.json(), Some(&json!({"name": "hi"})));
        assert_eq!(
            (view.wire_size, view.size),
            (plain.len(), Some(plain.len()))
        );

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let view = MessageView::decode(
            &message(gz.clone(), true),
            0,
            0,
            Ok(&desc),
            &Encoding::Gzip,
            &options,
        );
        assert_eq!(view.body.json(), Some(&json!({"name": "hi"})));
        assert_eq!((view.wire_size, view.size), (gz.len(), Some(plain.len())));
        assert_eq!(view.to_json()["compressed"], json!("gzip"));
    }

    #[test]
    fn undecompressable_messages_keep_their_bytes() {
        let schema = testing::schema();
        let desc = testing::sample_descriptor(&schema);
        let options = JsonOptions::default();
        for (encoding, why) in [
            (Encoding::Gzip, "corrupt gzip"),
            (
                Encoding::Other("snappy".into()),
                "unsupported grpc-encoding",
            ),
            (Encoding::Identity, "identity"),
        ] {
            let view = MessageView::decode(
                &message(&b"\x01\x02garbage"[..], true),
                0,
                0,
                Ok(&desc),
                &encoding,
                &options,
            );
            let Body::Raw { reason, bytes } = &view.body else {
                panic!("{encoding}: {:?}", view.body);
            };
            assert!(reason.contains(why), "{reason}");
            assert_eq!(&bytes[..], b"\x01\x02garbage");
            assert_eq!(view.size, None);
            assert_eq!(view.to_json()["raw"], json!("AQJnYXJiYWdl"));
        }
    }

    #[test]
    fn undecodable_and_truncated_messages_are_schemaless() {
        let schema = testing::schema();
        let desc = testing::sample_descriptor(&schema);
        let options = JsonOptions::default();
        // Field 1 (string) with a length running past the end.
        let view = MessageView::decode(
            &message(&b"\x0a\x09abc"[..], false),
            0,
            0,
            Ok(&desc),
            &Encoding::Identity,
            &options,
        );
        let note = view.body.note().unwrap();
        assert!(
            note.contains("does not decode as loom.enginetest.Sample"),
            "{note}"
        );
        let mut m = message(&b"\x08\x01\x0a\x09abc"[..], false);
        m.truncated = true;
        m.declared_length = 11;
        let view = MessageView::decode(&m, 0, 0, Ok(&desc), &Encoding::Identity, &options);
        let Body::Schemaless { reason, wire } = &view.body else {
            panic!("{:?}", view.body);
        };
        assert!(reason.contains("7 of 11 bytes"), "{reason}");
        assert_eq!(wire.fields.len(), 1);
        assert!(wire.unparsed.is_some());
        let json = view.to_json();
        assert_eq!(
            (json["truncated"].clone(), json["declaredLength"].clone()),
            (json!(true), json!(11))
        );
    }
}
