//! Compiling `.proto` files a person adds in the inspector (protox, pure
//! Rust, so it runs in the browser): imports resolve among the given files
//! and the protobuf well-known types. Native, and tested natively.

/// Compile `.proto` sources in the browser (protox, pure Rust), resolving
/// imports among the given files and the well-known types.
pub fn compile(sources: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    use prost::Message as _;
    use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

    struct Memory(Vec<(String, String)>);
    impl FileResolver for Memory {
        fn open_file(&self, name: &str) -> Result<File, protox::Error> {
            // Match by full name, or by file name when imported with a directory.
            let found = self.0.iter().find(|(n, _)| n == name).or_else(|| {
                let base = name.rsplit('/').next().unwrap_or(name);
                self.0
                    .iter()
                    .find(|(n, _)| n.rsplit('/').next() == Some(base))
            });
            match found {
                Some((_, text)) => File::from_source(name, text),
                None => Err(protox::Error::file_not_found(name)),
            }
        }
    }
    let mut texts = Vec::new();
    for (name, bytes) in sources {
        let text =
            String::from_utf8(bytes.clone()).map_err(|_| format!("{name}: not UTF-8 text"))?;
        texts.push((name.clone(), text));
    }
    let names: Vec<String> = texts.iter().map(|(n, _)| n.clone()).collect();
    let mut resolver = ChainFileResolver::new();
    resolver.add(Memory(texts));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    compiler.open_files(&names).map_err(|e| format!("{e:?}"))?;
    Ok(compiler.file_descriptor_set().encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn compiles_files_that_import_each_other_and_well_known_types() {
        let sources = vec![
            (
                "api/svc.proto".to_owned(),
                b"syntax = \"proto3\"; package a; import \"types.proto\"; \
                  import \"google/protobuf/timestamp.proto\";\n\
                  service S { rpc Get(T) returns (T); }"
                    .to_vec(),
            ),
            (
                "types.proto".to_owned(),
                b"syntax = \"proto3\"; package a; import \"google/protobuf/timestamp.proto\";\n\
                  message T { google.protobuf.Timestamp at = 1; }"
                    .to_vec(),
            ),
        ];
        let bytes = compile(&sources).expect("compiles");
        let set = prost_types::FileDescriptorSet::decode(bytes.as_slice()).unwrap();
        assert_eq!(loom_shared::descriptor::services(&set.file), ["a.S"]);
        assert!(
            set.file
                .iter()
                .any(|f| f.name() == "google/protobuf/timestamp.proto")
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = compile(&[(
            "bad.proto".to_owned(),
            b"syntax = \"proto3\";\nmessage {".to_vec(),
        )])
        .expect_err("a syntax error");
        assert!(e.contains("bad.proto:2"), "{e}");
        let e = compile(&[("x.proto".to_owned(), vec![0xff, 0xfe])]).expect_err("not text");
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
