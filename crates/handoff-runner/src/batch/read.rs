//! Reading a batch's inputs into chunks: NDJSON lines and whole `.json` files, each held in
//! memory only up to its payload limit.

use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;

use handoff_core::{Code, Error};

use super::{CHUNK_BYTES, CHUNK_PAYLOADS, Chunk, Done, Input, Record};

/// The read buffer of an NDJSON input. A chunk also ends when this buffer runs dry, so a slow
/// stream (a pipe, a terminal) gets its outputs as its lines arrive.
const READ_BUFFER: usize = 1 << 20;
/// White space around a payload does not count against its limit: a line or a file is read
/// whole up to `payload_bytes` plus this much (and the engine checks the payload itself).
const ROOM: usize = 4096;
/// How many of the first bytes of a payload too long to be read whole its dead letter keeps.
pub(super) const KEPT: usize = 4096;

/// Reads payloads from the inputs in order, a chunk at a time. Only the input being read has
/// a read buffer.
pub(super) struct Reader<'r> {
    inputs: std::vec::IntoIter<Input<'r>>,
    /// The input being read.
    current: Option<Current<'r>>,
    next_index: usize,
    line: u64,
    /// The largest payload the plan accepts.
    limit: usize,
}

/// The input being read: its buffer, its index among the inputs, and whether it is one whole
/// payload.
struct Current<'r> {
    reader: BufReader<Box<dyn Read + 'r>>,
    index: usize,
    whole: bool,
}

/// What reading one payload gave: the bytes consumed and the payload's length (its line
/// without the newline, or the whole file).
struct Read1 {
    consumed: u64,
    len: u64,
}

impl<'r> Reader<'r> {
    /// A reader of `inputs` for payloads of at most `limit` bytes.
    pub(super) fn new(inputs: Vec<Input<'r>>, limit: usize) -> Self {
        let mut reader = Reader {
            inputs: inputs.into_iter(),
            current: None,
            next_index: 0,
            line: 0,
            limit,
        };
        reader.advance();
        reader
    }

    /// Moves on to the next input.
    fn advance(&mut self) {
        self.line = 0;
        self.current = self.inputs.next().map(|input| {
            let capacity = if input.whole { 1 << 16 } else { READ_BUFFER };
            let index = self.next_index;
            self.next_index += 1;
            Current {
                reader: BufReader::with_capacity(capacity, input.source),
                index,
                whole: input.whole,
            }
        });
    }

    pub(super) fn done(&self) -> bool {
        self.current.is_none()
    }

    pub(super) fn stop(&mut self) {
        self.current = None;
        self.inputs = Vec::new().into_iter();
    }

    /// Appends payloads to `chunk` until it is full, the inputs end, or the next read could
    /// wait for more input; returns the bytes read. A payload longer than the limit (and the
    /// white space room) is cut to its first [`KEPT`] bytes as it is read, and fails with E400;
    /// an empty or blank `.json` file fails with E406; a blank line is no payload.
    pub(super) fn fill(&mut self, chunk: &mut Chunk<'_>) -> io::Result<u64> {
        let mut bytes = 0u64;
        let keep = self.limit.saturating_add(ROOM);
        while let Some(Current {
            reader,
            index,
            whole,
        }) = self.current.as_mut()
        {
            let (index, whole) = (*index, *whole);
            if chunk.records.len() >= CHUNK_PAYLOADS || chunk.data.len() >= CHUNK_BYTES {
                break;
            }
            if !chunk.records.is_empty() && reader.buffer().is_empty() {
                chunk.drained = true;
                break;
            }
            let start = chunk.data.len();
            let read = if whole {
                read_whole(reader, &mut chunk.data, keep)?
            } else {
                read_line(reader, &mut chunk.data, keep)?
            };
            bytes += read.consumed;
            self.line += 1;
            let line = (!whole).then_some(self.line);
            if read.consumed == 0 || whole {
                self.advance();
            }
            let cut = read.len > keep as u64;
            if cut {
                chunk
                    .data
                    .truncate(char_boundary(&chunk.data, start, start + KEPT));
            }
            let raw = trimmed(&chunk.data, start);
            let failed = if cut {
                Some(Error::new(
                    Code::PayloadTooLarge,
                    format!(
                        "payload is {} bytes, the limit is {}; it was not read whole, and only \
                         its first {} bytes are kept",
                        read.len,
                        self.limit,
                        raw.len()
                    ),
                ))
            } else if raw.is_empty() && whole {
                let what = if read.len == 0 {
                    "is empty"
                } else {
                    "holds only white space"
                };
                Some(Error::new(Code::EmptyInput, format!("the file {what}")))
            } else {
                None
            };
            if raw.is_empty() && failed.is_none() {
                chunk.data.truncate(start);
                continue;
            }
            chunk.records.push(Record {
                input: index,
                line,
                raw,
                length: cut.then_some(read.len),
                ready: failed.is_some(),
                result: failed.map_or(Ok(Done::NoRule), Err),
                latency_ns: 0,
                at: None,
            });
        }
        Ok(bytes)
    }
}

/// `BufRead::read_until(b'\n')` that appends at most `keep` bytes of the line to `out` and
/// only counts the rest, finding the newline with the vectorized `memchr` (the standard
/// library's search is a word at a time; lines are kilobytes long).
fn read_line(reader: &mut impl BufRead, out: &mut Vec<u8>, keep: usize) -> io::Result<Read1> {
    let (mut consumed, mut len) = (0u64, 0u64);
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (take, newline) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        // Bytes of this line stored so far: all of them while `len < keep`.
        let room = (keep as u64).saturating_sub(len) as usize;
        out.extend_from_slice(&buf[..take.min(room)]);
        let used = take + usize::from(newline);
        reader.consume(used);
        len += take as u64;
        consumed += used as u64;
        if newline || used == 0 {
            return Ok(Read1 { consumed, len });
        }
    }
}

/// The whole stream, of which at most `keep + 1` bytes are appended to `out` (one more than
/// `keep` says it is longer); the rest is only counted.
fn read_whole(reader: &mut impl BufRead, out: &mut Vec<u8>, keep: usize) -> io::Result<Read1> {
    let n = reader.take(keep as u64 + 1).read_to_end(out)? as u64;
    let rest = if n > keep as u64 {
        io::copy(reader, &mut io::sink())?
    } else {
        0
    };
    Ok(Read1 {
        consumed: n + rest,
        len: n + rest,
    })
}

/// `end`, moved back (at most 3 bytes) so that `data[start..end]` does not end inside a UTF-8
/// character: a payload cut to its first bytes stays text when it was text.
fn char_boundary(data: &[u8], start: usize, end: usize) -> usize {
    let end = end.min(data.len());
    (start.max(end.saturating_sub(3))..=end)
        .rev()
        .find(|&i| i == data.len() || i == start || !(0x80..0xC0).contains(&data[i]))
        .unwrap_or(end)
}

/// The range of `data[start..]` without leading and trailing ASCII white space.
fn trimmed(data: &[u8], start: usize) -> Range<usize> {
    let line = &data[start..];
    let lead = line.len() - line.trim_ascii_start().len();
    let trail = line.len() - line.trim_ascii_end().len();
    if lead == line.len() {
        start..start
    } else {
        start + lead..data.len() - trail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_keeps_at_most_keep_bytes_whatever_the_reads() {
        let text = b"0123456789\nab\n\nxyz";
        for capacity in [1, 3, 64] {
            let mut reader = BufReader::with_capacity(capacity, &text[..]);
            let mut got = Vec::new();
            let mut out = Vec::new();
            loop {
                let start = out.len();
                let r = read_line(&mut reader, &mut out, 4).unwrap();
                if r.consumed == 0 {
                    break;
                }
                got.push((r.consumed, r.len, out[start..].to_vec()));
            }
            assert_eq!(
                got,
                [
                    (11, 10, b"0123".to_vec()),
                    (3, 2, b"ab".to_vec()),
                    (1, 0, Vec::new()),
                    (3, 3, b"xyz".to_vec()),
                ],
                "read {capacity} bytes at a time"
            );
        }
    }

    #[test]
    fn a_whole_file_keeps_one_byte_more_than_keep_and_counts_the_rest() {
        let mut out = Vec::new();
        let r = read_whole(&mut BufReader::new(&b"abcdefgh"[..]), &mut out, 3).unwrap();
        assert_eq!((r.consumed, r.len, out.as_slice()), (8, 8, &b"abcd"[..]));
        let mut out = Vec::new();
        let r = read_whole(&mut BufReader::new(&b"abc"[..]), &mut out, 3).unwrap();
        assert_eq!((r.consumed, r.len, out.as_slice()), (3, 3, &b"abc"[..]));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // "aé€😀": 1, 2, 3 and 4 bytes.
        let data = "aé€😀".as_bytes();
        let ends: Vec<usize> = (0..=data.len())
            .map(|end| char_boundary(data, 0, end))
            .collect();
        assert_eq!(ends, [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]);
        assert_eq!(char_boundary(data, 2, 2), 2);
    }
}
