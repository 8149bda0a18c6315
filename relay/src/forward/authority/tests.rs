//! The repair, byte for byte: what `h2` reads after it.

use super::*;
use tokio::io::AsyncReadExt as _;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut v = len[1..].to_vec();
    v.extend_from_slice(&[kind, flags]);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

type Fields = Vec<(String, String)>;

/// What `h2` would read: the fields of each header block, with a
/// decoder that never saw the client's.
fn blocks(mut bytes: &[u8]) -> (Vec<Fields>, Vec<Vec<u8>>) {
    assert!(bytes.starts_with(PREFACE));
    bytes = &bytes[PREFACE.len()..];
    let mut decoder = Decoder::default();
    let (mut out, mut data, mut block) = (Vec::new(), Vec::new(), Vec::new());
    while !bytes.is_empty() {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let (kind, flags) = (bytes[3], bytes[4]);
        let mut payload = &bytes[9..9 + len];
        bytes = &bytes[9 + len..];
        if kind == HEADERS && flags & PRIORITY != 0 {
            payload = &payload[5..];
        }
        match kind {
            HEADERS | CONTINUATION => block.extend_from_slice(payload),
            _ => data.push(payload.to_vec()),
        }
        if matches!(kind, HEADERS | CONTINUATION) && flags & END_HEADERS != 0 {
            let mut fields = Vec::new();
            let mut input = std::mem::take(&mut block);
            decoder.decode(&mut input, &mut fields).unwrap();
            out.push(
                fields
                    .into_iter()
                    .map(|(n, v, _)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
                    .collect(),
            );
        }
    }
    (out, data)
}

async fn repaired(input: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut repair = RepairAuthority::new(Box::new(std::io::Cursor::new(input)));
    let mut out = Vec::new();
    repair.read_to_end(&mut out).await?;
    Ok(out)
}

fn request(encoder: &mut Encoder<'_>, authority: &str, big: usize) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST".to_owned()),
        (":scheme", "http".to_owned()),
        (":path", "/pkg.S/M".to_owned()),
        (":authority", authority.to_owned()),
        ("x-big", "b".repeat(big)),
    ] {
        // Indexed, so that later blocks refer to the client's table.
        let field = (
            name.as_bytes().to_vec(),
            value.into_bytes(),
            Encoder::WITH_INDEXING,
        );
        encoder.encode(field, &mut block).unwrap();
    }
    block
}

#[tokio::test]
async fn a_socket_path_becomes_localhost_and_everything_else_passes() {
    let mut encoder = Encoder::default();
    let path = "%2Ftmp%2Floom.sock";
    let first = request(&mut encoder, path, 10);
    // The same again, all indexed in the client's dynamic table (62 is
    // the newest entry): only a decoder that kept it can read this.
    let second: Vec<u8> = [66u8, 65, 64, 63, 62].iter().map(|i| 0x80 | i).collect();
    let mut input = PREFACE.to_vec();
    input.extend(frame(0x4, 0, 0, &[]));
    // Padded, with priority, split over a CONTINUATION.
    let mut padded = vec![3];
    padded.extend_from_slice(&[0, 0, 0, 0, 16]);
    padded.extend_from_slice(&first[..10]);
    padded.extend_from_slice(&[0, 0, 0]);
    input.extend(frame(HEADERS, PADDED | PRIORITY, 1, &padded));
    input.extend(frame(CONTINUATION, END_HEADERS, 1, &first[10..]));
    input.extend(frame(0x0, END_STREAM, 1, b"\0\0\0\0\x02hi"));
    input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &second));
    let out = repaired(input).await.unwrap();
    let (blocks, data) = blocks(&out);
    assert_eq!(blocks.len(), 2);
    for block in &blocks {
        let get = |n: &str| block.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get(":authority"), Some(LOCAL_AUTHORITY));
        assert_eq!(get(":path"), Some("/pkg.S/M"));
        assert_eq!(get("x-big"), Some("bbbbbbbbbb"));
    }
    assert_eq!(
        data,
        [vec![], b"\0\0\0\0\x02hi".to_vec()],
        "SETTINGS and DATA untouched"
    );
}

#[tokio::test]
async fn a_good_authority_stays_and_a_large_block_is_split() {
    let mut encoder = Encoder::default();
    let block = request(&mut encoder, "backend:443", 40_000);
    let mut input = PREFACE.to_vec();
    let chunks: Vec<&[u8]> = block.chunks(MAX_FRAME).collect();
    assert!(chunks.len() >= 3);
    for (i, chunk) in chunks.iter().enumerate() {
        let kind = if i == 0 { HEADERS } else { CONTINUATION };
        let flags = if i + 1 == chunks.len() {
            END_HEADERS
        } else {
            0
        };
        input.extend(frame(kind, flags, 1, chunk));
    }
    let out = repaired(input).await.unwrap();
    let (blocks, _) = blocks(&out);
    assert!(blocks[0].contains(&(":authority".into(), "backend:443".into())));
    assert!(
        blocks[0]
            .iter()
            .any(|(k, v)| k == "x-big" && v.len() == 40_000)
    );
}

#[tokio::test]
async fn bad_blocks_end_the_connection_with_a_reason() {
    let mut input = PREFACE.to_vec();
    input.extend(frame(
        HEADERS,
        END_HEADERS,
        1,
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ));
    let err = repaired(input).await.unwrap_err();
    assert!(err.to_string().contains("HPACK"), "{err}");
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, 0, 1, &[0x82]));
    input.extend(frame(0x0, 0, 1, b"x"));
    let err = repaired(input).await.unwrap_err();
    assert!(err.to_string().contains("cut"), "{err}");
}

proptest::proptest! {
    #[test]
    fn arbitrary_blocks_never_panic(block in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &block));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _ = runtime.block_on(repaired(input));
    }
}
