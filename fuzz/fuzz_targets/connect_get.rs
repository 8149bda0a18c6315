//! A Connect GET's query, as `loom_shared::web_protocol::classify` and
//! `connect::GetRequest::parse` read it, on any text: neither panics, and
//! they agree: a query both call a Connect GET has one codec.
//!
//! Seeds (`fuzz/corpus/connect_get`): queries as connect-go's client
//! writes them (`connect=v1&base64=1&compression=…&encoding=…&message=…`,
//! URL-safe base64 without padding) and as `curl --get --data-urlencode`
//! does (JSON, percent-encoded).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loom_shared::web_protocol::connect::GetRequest;
use loom_shared::web_protocol::{Classified, classify};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let classified = classify("GET", None, None, Some(query));
    if let (
        Classified::Rpc {
            codec, codec_name, ..
        },
        Ok(get),
    ) = (&classified, GetRequest::parse(query))
    {
        assert_eq!((*codec, codec_name.clone()), get.codec());
    }
});
