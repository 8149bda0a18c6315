//! Reading the frame headers of an HTTP/2 byte stream as it goes by,
//! without taking part in the protocol: what the relay needs to see of a
//! client's frames that its HTTP/2 library does not report (a reset of a
//! stream that has already closed).
//!
//! [`FrameScanner`] is fed the bytes in whatever pieces they arrive and
//! calls back for each RST_STREAM. It never fails and never allocates:
//! bytes it cannot make sense of are the HTTP/2 library's to refuse.

/// Length of the client connection preface.
pub const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const RST_STREAM: u8 = 0x3;

/// Follows frame boundaries across the pieces of a client's byte stream.
#[derive(Debug, Clone)]
pub struct FrameScanner {
    /// Preface bytes still to skip.
    preface: usize,
    header: [u8; FRAME_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to pass over.
    skip: usize,
    /// The current frame is a RST_STREAM: its stream and code so far.
    reset: Option<(u32, [u8; 4], usize)>,
}

impl Default for FrameScanner {
    fn default() -> Self {
        FrameScanner::new()
    }
}

impl FrameScanner {
    /// A scanner for a client's stream, which starts with the preface.
    pub fn new() -> Self {
        FrameScanner {
            preface: PREFACE_LEN,
            header: [0; FRAME_HEADER_LEN],
            have: 0,
            skip: 0,
            reset: None,
        }
    }

    /// The next bytes, in order; `on_reset(stream, error_code)` for each
    /// RST_STREAM they complete.
    pub fn scan(&mut self, mut bytes: &[u8], mut on_reset: impl FnMut(u32, u32)) {
        let skip = self.preface.min(bytes.len());
        self.preface -= skip;
        bytes = &bytes[skip..];
        while !bytes.is_empty() {
            if let Some((stream, code, got)) = &mut self.reset {
                let take = (4 - *got).min(bytes.len());
                code[*got..*got + take].copy_from_slice(&bytes[..take]);
                *got += take;
                bytes = &bytes[take..];
                self.skip -= take;
                if *got == 4 {
                    let (stream, code) = (*stream, u32::from_be_bytes(*code));
                    self.reset = None;
                    on_reset(stream, code);
                }
                continue;
            }
            if self.skip > 0 {
                let take = self.skip.min(bytes.len());
                self.skip -= take;
                bytes = &bytes[take..];
                continue;
            }
            let take = (FRAME_HEADER_LEN - self.have).min(bytes.len());
            self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have < FRAME_HEADER_LEN {
                continue;
            }
            self.have = 0;
            let h = self.header;
            let length = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            self.skip = length;
            if h[3] == RST_STREAM && length == 4 {
                self.reset = Some((stream, [0; 4], 0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let len = payload.len() as u32;
        v.extend_from_slice(&len.to_be_bytes()[1..]);
        v.push(kind);
        v.push(0);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn finds_resets_across_any_split() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(0x4, 0, &[0; 6]));
        bytes.extend(frame(0x0, 1, &[1, 2, 3, 4, 5]));
        bytes.extend(frame(RST_STREAM, 1, &8u32.to_be_bytes()));
        bytes.extend(frame(RST_STREAM, 3, &2u32.to_be_bytes()));
        for cut in 1..bytes.len() {
            let mut scanner = FrameScanner::new();
            let mut seen = Vec::new();
            for piece in bytes.chunks(cut) {
                scanner.scan(piece, |stream, code| seen.push((stream, code)));
            }
            assert_eq!(seen, [(1, 8), (3, 2)], "pieces of {cut}");
        }
    }

    #[test]
    fn garbage_is_passed_over() {
        let mut scanner = FrameScanner::new();
        scanner.scan(&[0xff; 10_000], |_, _| {});
        scanner.scan(&[], |_, _| {});
    }
}
