//! The hand-written reflection service: answers `file_containing_symbol`
//! and `file_by_filename` from the test descriptor set, in v1 and v1alpha,
//! as the backend's options say (slowly, withholding files, failing, or
//! hanging). Like grpc-go, grpcio and grpc-js, and unlike tonic's own
//! service, it sends no response headers before the first request arrives.

use super::*;
/// The files the backend can describe, and where each symbol is declared.
pub(super) struct Schema {
    files: BTreeMap<String, FileDescriptorProto>,
    symbols: HashMap<String, String>,
}

impl Schema {
    pub(super) fn load() -> Schema {
        let mut files = BTreeMap::new();
        let mut symbols = HashMap::new();
        for file in test_fds().file {
            let name = file.name().to_owned();
            let prefix = match file.package() {
                "" => String::new(),
                p => format!("{p}."),
            };
            for service in &file.service {
                let service_name = format!("{prefix}{}", service.name());
                for method in &service.method {
                    symbols.insert(format!("{service_name}.{}", method.name()), name.clone());
                }
                symbols.insert(service_name, name.clone());
            }
            for message in &file.message_type {
                add_message_symbols(&prefix, message, &name, &mut symbols);
            }
            for e in &file.enum_type {
                symbols.insert(format!("{prefix}{}", e.name()), name.clone());
            }
            for ext in &file.extension {
                symbols.insert(format!("{prefix}{}", ext.name()), name.clone());
            }
            files.insert(name, file);
        }
        Schema { files, symbols }
    }

    /// `name` and (unless `only_requested`) its transitive dependencies,
    /// requested file first, skipping omitted files (and what only they import).
    fn closure(&self, name: &str, only_requested: bool, omit: &[String]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        while let Some(next) = stack.pop() {
            if omit.contains(&next) || !seen.insert(next.clone()) {
                continue;
            }
            let Some(file) = self.files.get(&next) else {
                continue;
            };
            out.push(file.encode_to_vec());
            if only_requested {
                break;
            }
            stack.extend(file.dependency.iter().rev().cloned());
        }
        out
    }
}

fn add_message_symbols(
    prefix: &str,
    message: &DescriptorProto,
    file: &str,
    symbols: &mut HashMap<String, String>,
) {
    let full = format!("{prefix}{}", message.name());
    let nested_prefix = format!("{full}.");
    for nested in &message.nested_type {
        add_message_symbols(&nested_prefix, nested, file, symbols);
    }
    for e in &message.enum_type {
        symbols.insert(format!("{nested_prefix}{}", e.name()), file.to_owned());
    }
    for field in &message.field {
        symbols.insert(format!("{nested_prefix}{}", field.name()), file.to_owned());
    }
    symbols.insert(full, file.to_owned());
}

/// The reflection service, for both versions: requests of either version are
/// re-read as v1 (the two are the same on the wire), answered, and the answer
/// re-encoded as the version asked.
#[derive(Clone)]
pub(super) struct Reflector {
    pub(super) schema: Arc<Schema>,
    pub(super) options: Arc<ReflectionOptions>,
    pub(super) stats: Arc<Stats>,
}

/// Re-read one message as another with the same wire format.
fn transcode<A: prost::Message, B: prost::Message + Default>(a: &A) -> B {
    B::decode(a.encode_to_vec().as_slice()).expect("same wire format")
}

impl Reflector {
    fn services(&self) -> Vec<String> {
        let mut names = vec![CATALOG_SERVICE.to_owned(), PROBE_SERVICE.to_owned()];
        match self.options.mode {
            ReflectionMode::V1Only => {
                names.push("grpc.reflection.v1.ServerReflection".into());
            }
            ReflectionMode::V1AlphaOnly => {
                names.push("grpc.reflection.v1alpha.ServerReflection".into());
            }
            ReflectionMode::Both | ReflectionMode::Failing | ReflectionMode::V1Hangs => {
                names.push("grpc.reflection.v1.ServerReflection".into());
                names.push("grpc.reflection.v1alpha.ServerReflection".into());
            }
            ReflectionMode::None
            | ReflectionMode::TonicV1
            | ReflectionMode::TonicV1Alpha
            | ReflectionMode::TonicBoth => {}
        }
        names
    }

    fn answer(&self, request: v1::ServerReflectionRequest) -> v1::ServerReflectionResponse {
        use v1::server_reflection_request::MessageRequest;
        use v1::server_reflection_response::MessageResponse;
        let options = &self.options;
        let not_found = |what: String| {
            MessageResponse::ErrorResponse(v1::ErrorResponse {
                error_code: NOT_FOUND,
                error_message: format!("{what} not found"),
            })
        };
        let file_response = |file: &str| {
            if options.omit_files.iter().any(|f| f == file) || !self.schema.files.contains_key(file)
            {
                return not_found(format!("file {file}"));
            }
            MessageResponse::FileDescriptorResponse(v1::FileDescriptorResponse {
                file_descriptor_proto: self.schema.closure(
                    file,
                    options.only_requested_file,
                    &options.omit_files,
                ),
            })
        };
        let message_response = match &request.message_request {
            Some(MessageRequest::FileByFilename(name)) => file_response(name),
            Some(MessageRequest::FileContainingSymbol(symbol)) => {
                match self.schema.symbols.get(symbol) {
                    Some(file) => file_response(file),
                    None => not_found(format!("symbol {symbol}")),
                }
            }
            Some(MessageRequest::ListServices(_)) => {
                MessageResponse::ListServicesResponse(v1::ListServiceResponse {
                    service: self
                        .services()
                        .into_iter()
                        .map(|name| v1::ServiceResponse { name })
                        .collect(),
                })
            }
            _ => MessageResponse::ErrorResponse(v1::ErrorResponse {
                error_code: UNIMPLEMENTED,
                error_message: "not supported by the test server".into(),
            }),
        };
        v1::ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            message_response: Some(message_response),
        }
    }

    async fn exchange<Req, Res>(
        &self,
        version: Version,
        request: Request<Streaming<Req>>,
    ) -> Result<Response<BoxStream<Res>>, Status>
    where
        Req: prost::Message + Default + Send + 'static,
        Res: prost::Message + Default + Send + 'static,
    {
        let exchange = self.stats.open_exchange(version, request.metadata());
        let mut inbound = request.into_inner();
        // Like grpc-go, grpcio and grpc-js: no response headers until the
        // first request has arrived (tonic's own service sends them at once).
        let first = inbound.next().await;
        if self.options.mode == ReflectionMode::V1Hangs && version == Version::V1 {
            if let Some(Ok(req)) = &first {
                self.stats.record_request(exchange, &transcode(req));
            }
            // Neither answers nor refuses, until the client gives up.
            std::future::pending::<()>().await;
        }
        let (tx, rx) = mpsc::channel::<Result<Res, Status>>(16);
        let this = self.clone();
        tokio::spawn(async move {
            let mut inbound = futures_util::stream::iter(first).chain(inbound);
            while let Some(item) = inbound.next().await {
                let Ok(req) = item else { return };
                let req: v1::ServerReflectionRequest = transcode(&req);
                this.stats.record_request(exchange, &req);
                if this.options.mode == ReflectionMode::Failing {
                    let _ = tx
                        .send(Err(Status::unavailable("reflection fails on purpose")))
                        .await;
                    return;
                }
                let response = this.answer(req);
                if !this.options.delay.is_zero() {
                    tokio::time::sleep(this.options.delay).await;
                }
                this.stats.bump(&this.stats.responses_sent);
                if tx.send(Ok(transcode(&response))).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(
            Box::pin(ReceiverStream::new(rx)) as BoxStream<Res>
        ))
    }
}

pub(super) struct V1Reflection(pub(super) Reflector);
pub(super) struct V1AlphaReflection(pub(super) Reflector);

#[tonic::async_trait]
impl v1::server_reflection_server::ServerReflection for V1Reflection {
    type ServerReflectionInfoStream = BoxStream<v1::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<v1::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        self.0.exchange(Version::V1, request).await
    }
}

#[tonic::async_trait]
impl v1alpha::server_reflection_server::ServerReflection for V1AlphaReflection {
    type ServerReflectionInfoStream = BoxStream<v1alpha::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<v1alpha::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        self.0.exchange(Version::V1Alpha, request).await
    }
}
