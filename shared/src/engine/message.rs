//! One captured message, decoded: decompressed per the call's compression
//! header (`grpc-encoding`, or Connect's `content-encoding` /
//! `connect-content-encoding`), then rendered by the call's codec: protobuf
//! with the schema (or without), the JSON codec's text as JSON (checked
//! against the schema when there is one), another codec as bytes.

use bytes::Bytes;
use prost_reflect::MessageDescriptor;
use serde_json::{Map, Value, json};

use super::MAX_DECOMPRESSED_BYTES;
use super::body::Body;
use super::compression::{Encoding, decompress};
use super::json::JsonOptions;
use super::json_text;
use super::protocol::Codec;
use crate::pb;

/// How the messages of one direction of a call are decoded.
#[derive(Debug, Clone, Copy)]
pub struct Decoding<'a> {
    /// The message type, or why there is none.
    pub desc: Result<&'a MessageDescriptor, &'a str>,
    /// The direction's compression.
    pub encoding: &'a Encoding,
    /// The call's codec.
    pub codec: &'a Codec,
    /// How protobuf messages are rendered as JSON.
    pub options: &'a JsonOptions,
}

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
    /// The direction's compression (`grpc-encoding`, or Connect's), when
    /// the compressed flag was set; `None` for an uncompressed message.
    pub encoding: Option<Encoding>,
    /// Size after decompression; `None` when decompression failed.
    pub size: Option<usize>,
    /// The payload decoded: JSON, schema-less, or raw bytes.
    pub body: Body,
}

impl MessageView {
    /// Decodes `message` (the `index`th of its call, `ordinal`th in its
    /// direction) as `how` says.
    pub fn decode(message: &pb::Message, index: usize, ordinal: usize, how: &Decoding<'_>) -> Self {
        let wire_size = message.payload.len();
        let encoding = how.encoding;
        let (size, body) = match plain_payload(message, encoding) {
            Ok(plain) => {
                let size = plain.len();
                let part = if message.preview {
                    Some(format!(
                        "preview: the first {wire_size} of {} bytes; the relay has the whole message",
                        message.declared_length
                    ))
                } else if message.truncated {
                    Some(format!(
                        "truncated: the capture kept only {wire_size} of {} bytes",
                        message.declared_length
                    ))
                } else {
                    None
                };
                let body = match (part, how.codec) {
                    (Some(reason), Codec::Json) => Body::Text {
                        reason,
                        text: String::from_utf8_lossy(&plain).into_owned(),
                    },
                    (Some(reason), _) => Body::schemaless(reason, &plain),
                    (None, Codec::Proto) => Body::decode(how.desc, plain, how.options),
                    (None, Codec::Json) => json_text::decode(how.desc, &plain),
                    (None, Codec::Other(_)) => Body::Raw {
                        reason: format!(
                            "the {} codec: shown as bytes (Loom decodes proto and JSON)",
                            how.codec
                        ),
                        bytes: plain,
                    },
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
pub(crate) fn plain_payload(message: &pb::Message, encoding: &Encoding) -> Result<Bytes, String> {
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

    /// `m` decoded as the proto codec's first message.
    fn proto(
        m: &pb::Message,
        desc: Result<&MessageDescriptor, &str>,
        encoding: &Encoding,
        options: &JsonOptions,
    ) -> MessageView {
        let how = Decoding {
            desc,
            encoding,
            codec: &Codec::Proto,
            options,
        };
        MessageView::decode(m, 0, 0, &how)
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
        let view = proto(
            &message(plain.clone(), false),
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
        let view = proto(
            &message(gz.clone(), true),
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
            let view = proto(
                &message(&b"\x01\x02garbage"[..], true),
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
        let view = proto(
            &message(&b"\x0a\x09abc"[..], false),
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
        let view = proto(&m, Ok(&desc), &Encoding::Identity, &options);
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
