//! How numbers, sizes and times look in the inspector.

/// `850 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`, `2m 03s`.
pub fn duration(nanos: u64) -> String {
    let n = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", n / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2} ms", n / 1e6)
    } else if nanos < 60_000_000_000 {
        format!("{:.2} s", n / 1e9)
    } else {
        let secs = nanos / 1_000_000_000;
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// `512 B`, `1.5 KiB`, `3.0 MiB`.
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if n < 1 << 20 {
        format!("{:.1} KiB", f / 1024.0)
    } else if n < 1 << 30 {
        format!("{:.1} MiB", f / 1048576.0)
    } else {
        format!("{:.2} GiB", f / 1073741824.0)
    }
}

/// `72,525`: a count with thousands separated.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in nanoseconds.
pub fn clock(unix_nanos: i64) -> String {
    let ms = unix_nanos.div_euclid(1_000_000);
    let day_ms = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// Hex dump: 16 bytes a line, offset, hex, and printable ASCII. At most
/// `limit` bytes are shown.
pub fn hex_dump(data: &[u8], limit: usize) -> String {
    let mut out = String::new();
    for (i, chunk) in data[..data.len().min(limit)].chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", i * 16));
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    if data.len() > limit {
        out.push_str(&format!("… {} more bytes\n", data.len() - limit));
    }
    out
}

/// The first `limit` bytes of `text` (cut at a character boundary), and
/// how many more there are.
pub fn text_excerpt(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… {} more bytes", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_excerpts() {
        assert_eq!(text_excerpt("short", 10), "short");
        assert_eq!(text_excerpt("abcdef", 3), "abc\n… 3 more bytes");
        // Never inside a character: "é" is two bytes.
        assert_eq!(text_excerpt("aé", 2), "a\n… 2 more bytes");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(850), "850 ns");
        assert_eq!(duration(12_300), "12.3 µs");
        assert_eq!(duration(4_560_000), "4.56 ms");
        assert_eq!(duration(1_230_000_000), "1.23 s");
        assert_eq!(duration(123_000_000_000), "2m 03s");
    }

    #[test]
    fn sizes_and_clock() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(clock(1_700_000_000_123_000_000), "22:13:20.123");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(72_525), "72,525");
        assert_eq!(count(1_000_000), "1,000,000");
    }

    #[test]
    fn hex() {
        let dump = hex_dump(b"hello, world!\x00\x01\x02\x03", 64);
        assert!(dump.starts_with("00000000  68 65 6c 6c 6f"));
        assert!(dump.contains("hello, world!..."));
        assert!(hex_dump(&[0; 40], 16).contains("24 more bytes"));
    }
}
