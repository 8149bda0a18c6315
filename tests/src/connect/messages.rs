//! `loom.test.v1.WebRequest` and `WebReply` as hand-written prost messages
//! (the Rust tests do not compile `web.proto`), for tests that build or
//! read the bytes themselves.

/// `loom.test.v1.WebRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebRequest {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(bytes = "vec", tag = "2")]
    pub blob: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub count: u32,
    #[prost(uint32, tag = "4")]
    pub reply_size: u32,
    #[prost(uint32, tag = "5")]
    pub fail_code: u32,
    #[prost(string, tag = "6")]
    pub fail_message: String,
    #[prost(uint32, tag = "7")]
    pub delay_ms: u32,
}

/// `loom.test.v1.WebReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebReply {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(bytes = "vec", tag = "2")]
    pub blob: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub index: u32,
    #[prost(btree_map = "string, string", tag = "4")]
    pub echoed: std::collections::BTreeMap<String, String>,
    #[prost(uint64, tag = "5")]
    pub requests: u64,
    #[prost(uint64, tag = "6")]
    pub blob_bytes: u64,
    #[prost(string, tag = "7")]
    pub protocol: String,
    #[prost(string, tag = "8")]
    pub http_version: String,
    #[prost(string, tag = "9")]
    pub http_method: String,
    #[prost(string, tag = "10")]
    pub content_type: String,
    #[prost(string, tag = "11")]
    pub request_encoding: String,
}
