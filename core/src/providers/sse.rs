//! A Server-Sent Events reader that follows the WHATWG spec: LF, CRLF and CR line ends, comment
//! lines, multi-line `data:`, `event:` names, and events split across network reads at any byte
//! (including between the CR and LF of one line end, and inside a UTF-8 sequence). Bounded: a
//! line or an event larger than the decoder's limit is not buffered; the decoder says so
//! ([`SseDecoder::overflowed`]) and its reader fails the stream.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, empty when absent (the spec's "message").
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    pub id: Option<String>,
}

/// Incremental decoder: feed bytes, take complete events.
#[derive(Debug)]
pub struct SseDecoder {
    /// The largest line, and the largest event's data, in bytes.
    limit: usize,
    overflowed: bool,
    line: Vec<u8>,
    /// The previous byte was a CR, so a following LF belongs to the same line end.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

impl SseDecoder {
    /// A decoder without a size limit (for trusted input and tests).
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder whose lines and events may not exceed `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        SseDecoder {
            limit,
            overflowed: false,
            line: Vec::new(),
            after_cr: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
            id: None,
        }
    }

    /// Whether a line or an event went over the limit (then nothing more is decoded).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Feeds bytes; pushes every event completed by them into `out`. Line ends are found with
    /// `memchr`; a line that lies whole inside `bytes` is processed where it is, only the part of
    /// a line cut by the end of `bytes` is buffered.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        if self.overflowed || bytes.is_empty() {
            return;
        }
        let mut start = 0;
        if self.after_cr && bytes.first() == Some(&b'\n') {
            // The LF of a CRLF whose CR ended the previous read.
            start = 1;
        }
        self.after_cr = false;
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', &bytes[start..]) {
            let end = start + pos;
            if self.line.is_empty() {
                if end - start > self.limit {
                    self.overflow();
                    return;
                }
                self.process_line(&bytes[start..end], out);
            } else {
                if self.line.len().saturating_add(end - start) > self.limit {
                    self.overflow();
                    return;
                }
                self.line.extend_from_slice(&bytes[start..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out);
                // Keep the buffer's allocation for the next cut line.
                self.line = line;
                self.line.clear();
            }
            if self.overflowed {
                return;
            }
            start = end + 1;
            if bytes[end] == b'\r' {
                match bytes.get(start) {
                    Some(b'\n') => start += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        if self.line.len().saturating_add(bytes.len() - start) > self.limit {
            self.overflow();
            return;
        }
        self.line.extend_from_slice(&bytes[start..]);
    }

    fn overflow(&mut self) {
        self.overflowed = true;
        self.line = Vec::new();
        self.data = String::new();
    }

    /// Ends the input: a final event without a trailing blank line is NOT dispatched (per spec),
    /// but a last line without its line end is processed first.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        // Lenient: a server that closes right after the last data line still delivered it.
        self.dispatch(out);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(p) => {
                let v = &line[p + 1..];
                (&line[..p], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 (nearly always) is borrowed as it is; invalid bytes become U+FFFD.
        let value = match std::str::from_utf8(value) {
            Ok(v) => std::borrow::Cow::Borrowed(v),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => {
                if self.data.len().saturating_add(value.len()) >= self.limit {
                    self.overflow();
                    return;
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            _ => {} // retry and unknown fields are ignored
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if !self.has_data {
            self.event.clear();
            return;
        }
        out.push(SseEvent {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        });
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    fn bytewise(input: &[u8]) -> Vec<SseEvent> {
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        decode_all(&chunks)
    }

    #[test]
    fn line_ends_lf_crlf_cr_are_equivalent() {
        let lf = b"event: a\ndata: x\ndata: y\n\ndata: z\n\n";
        let crlf = b"event: a\r\ndata: x\r\ndata: y\r\n\r\ndata: z\r\n\r\n";
        let cr = b"event: a\rdata: x\rdata: y\r\rdata: z\r\r";
        let expected = vec![
            SseEvent {
                event: "a".into(),
                data: "x\ny".into(),
                id: None,
            },
            SseEvent {
                event: "".into(),
                data: "z".into(),
                id: None,
            },
        ];
        for input in [&lf[..], &crlf[..], &cr[..]] {
            assert_eq!(decode_all(&[input]), expected);
            assert_eq!(bytewise(input), expected);
        }
    }

    #[test]
    fn comments_and_fields_without_space() {
        let got = decode_all(&[b": OPENROUTER PROCESSING\n\ndata:{\"a\":1}\n\n"]);
        assert_eq!(
            got,
            vec![SseEvent {
                event: "".into(),
                data: "{\"a\":1}".into(),
                id: None
            }]
        );
    }

    #[test]
    fn lines_and_events_over_the_limit_overflow_without_growing() {
        let mut d = SseDecoder::with_limit(64);
        let mut out = Vec::new();
        d.feed(b"data: short\n\n", &mut out);
        assert_eq!(out.len(), 1);
        // A line that never ends: fed in pieces, it stops at the limit.
        for _ in 0..1000 {
            d.feed(&[b'x'; 10], &mut out);
        }
        assert!(d.overflowed());
        assert!(d.line.capacity() < 1024);
        // An event of many small data lines that add up past the limit.
        let mut d = SseDecoder::with_limit(64);
        for _ in 0..20 {
            d.feed(b"data: 0123456789\n", &mut out);
        }
        assert!(d.overflowed());
    }

    #[test]
    fn every_split_of_the_input_decodes_alike() {
        let input: &[u8] = b": c\r\nevent: a\rdata: x\r\ndata:  y\n\r\ndata: \xff\xfe\r\r\n\ndata: \xc3\xa9\nid: 7\n\n\r\ndata: z\r";
        let whole = decode_all(&[input]);
        assert_eq!(whole.len(), 4, "{whole:?}");
        assert_eq!(whole[1].data, "\u{fffd}\u{fffd}");
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let got = decode_all(&[&input[..i], &[], &input[i..j], &input[j..]]);
                assert_eq!(got, whole, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn utf8_split_across_reads() {
        let text = "data: h\u{e9}llo \u{1F600}\n\n".as_bytes();
        assert_eq!(bytewise(text)[0].data, "h\u{e9}llo \u{1F600}");
    }

    #[test]
    fn unterminated_last_event_is_delivered_at_end() {
        let got = decode_all(&[b"data: a\n\ndata: b"]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].data, "b");
    }
}
