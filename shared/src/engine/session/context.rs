//! What decoding one call's messages needs, worked out once per call (its
//! method's message types with its own upstream's schema, each direction's
//! compression, its codec), and a message decoded through the call's cache.

use std::sync::Arc;

use prost_reflect::MessageDescriptor;

use crate::engine::call::{CallRecord, DecodeCache};
use crate::engine::compression::Encoding;
use crate::engine::json::JsonOptions;
use crate::engine::message::{Decoding, MessageView};
use crate::engine::protocol::Codec;
use crate::engine::schema::Schema;
use crate::pb;

/// What decoding a call's messages needs.
pub(crate) struct CallContext {
    /// The schema generation and view options the views are decoded with.
    pub(crate) key: (u64, JsonOptions),
    request: Result<MessageDescriptor, String>,
    response: Result<MessageDescriptor, String>,
    request_encoding: Encoding,
    response_encoding: Encoding,
    codec: Codec,
}

impl CallContext {
    pub(crate) fn new(call: &CallRecord, schema: &Schema, options: &JsonOptions) -> Self {
        let method = schema.resolve_for(&call.summary.upstream, &call.summary.path);
        CallContext {
            key: (schema.generation(), *options),
            request: method.as_ref().map(|m| m.input()).map_err(Clone::clone),
            response: method.as_ref().map(|m| m.output()).map_err(Clone::clone),
            request_encoding: call.encoding(pb::Direction::Request),
            response_encoding: call.encoding(pb::Direction::Response),
            codec: call.codec(),
        }
    }

    /// How the messages going `direction` decode.
    pub(crate) fn for_direction(&self, direction: pb::Direction) -> Decoding<'_> {
        let (desc, encoding) = if direction == pb::Direction::Response {
            (&self.response, &self.response_encoding)
        } else {
            (&self.request, &self.request_encoding)
        };
        Decoding {
            desc: desc.as_ref().map_err(String::as_str),
            encoding,
            codec: &self.codec,
            options: &self.key.1,
        }
    }

    /// Message `message` (the `index`th, `ordinal`th of its direction)
    /// decoded now, with `options` instead of the context's own.
    pub(crate) fn decode_with(
        &self,
        message: &pb::Message,
        index: usize,
        ordinal: usize,
        options: &JsonOptions,
    ) -> MessageView {
        let how = Decoding {
            options,
            ..self.for_direction(message.direction())
        };
        MessageView::decode(message, index, ordinal, &how)
    }
}

/// Message `index` of `call` (`ordinal` among its direction's), from the
/// cache or decoded now.
pub(crate) fn decoded(
    call: &mut CallRecord,
    context: &CallContext,
    index: usize,
    ordinal: usize,
) -> Option<Arc<MessageView>> {
    if let Some(view) = DecodeCache::get(&call.cache, context.key, index) {
        return Some(view);
    }
    let message = call.messages.get(index)?;
    let how = context.for_direction(message.direction());
    let view = Arc::new(MessageView::decode(message, index, ordinal, &how));
    let len = call.messages.len();
    let cache = call.cache.get_or_insert_with(|| {
        Box::new(DecodeCache {
            key: context.key,
            views: Vec::new(),
        })
    });
    if cache.key != context.key {
        cache.key = context.key;
        cache.views.clear();
    }
    cache.views.resize(len, None);
    if let Some(slot) = cache.views.get_mut(index) {
        *slot = Some(view.clone());
    }
    Some(view)
}
