//! WebSocket framing (RFC 6455) for the server side of a connection.
//!
//! Server frames are never masked, so a frame's bytes are the same for every recipient: the
//! hub frames each event **once** ([`text`]) and every session writes those same bytes. Client
//! frames are parsed by actix-http's [`Parser`] (masking, lengths, control-frame rules); this
//! module adds what a session needs on top: continuations put back together and a size limit
//! on the whole message.

use std::io;

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::net::TcpStream;

/// Largest header of a server frame: 2 bytes plus an 8-byte extended length.
pub const MAX_HEADER: usize = 10;

/// The header of an unmasked, final frame of `op` with a payload of `len` bytes.
#[must_use]
pub fn header(op: OpCode, len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x80 | u8::from(op);
    let n = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, n)
}

/// A whole text frame: header and payload in one buffer, ready to be shared.
#[must_use]
pub fn text(payload: &[u8]) -> Bytes {
    frame(OpCode::Text, payload)
}

/// A whole unmasked frame of `op`.
#[must_use]
pub fn frame(op: OpCode, payload: &[u8]) -> Bytes {
    let (h, n) = header(op, payload.len());
    let mut buf = BytesMut::with_capacity(n + payload.len());
    buf.extend_from_slice(&h[..n]);
    buf.extend_from_slice(payload);
    buf.freeze()
}

/// The server's ping: empty, the same bytes for every session.
pub const PING: &[u8] = &[0x89, 0x00];

/// A close frame with `code` and a short reason (truncated to fit a control frame).
#[must_use]
pub fn close(code: CloseCode, reason: &str) -> Bytes {
    let mut payload = u16::from(code).to_be_bytes().to_vec();
    let mut reason = reason;
    // Control frames carry at most 125 bytes; cut on a character boundary.
    while reason.len() > 123 {
        let mut end = 123;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason = &reason[..end];
    }
    payload.extend_from_slice(reason.as_bytes());
    frame(OpCode::Close, &payload)
}

/// The payload of a server frame built by this module (for tests and tools that read frames
/// back).
#[must_use]
pub fn payload(frame: &[u8]) -> &[u8] {
    let n = match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    };
    frame.get(n..).unwrap_or_default()
}

/// One complete message from a client.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A text message, checked to be UTF-8.
    Text(ByteString),
    Binary(Bytes),
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

/// The largest header of a client frame: 2 bytes, an 8-byte extended length and the mask.
pub const MAX_CLIENT_HEADER: usize = 14;

/// Why a client's bytes end the connection, and so the close it gets.
#[derive(Debug)]
pub enum WireError {
    /// A frame (or a message put back together) larger than the limit: 1009.
    TooLarge { max: usize },
    /// A text message that is not UTF-8: 1007.
    NotUtf8,
    /// Anything else RFC 6455 says fails the connection: 1002.
    Protocol(ProtocolError),
}

impl WireError {
    /// The close a client gets for this error.
    #[must_use]
    pub fn close(&self) -> (CloseCode, String) {
        match self {
            Self::TooLarge { max } => (
                CloseCode::Size,
                format!("frames are limited to {max} bytes"),
            ),
            Self::NotUtf8 => (CloseCode::Invalid, "text is not UTF-8".into()),
            Self::Protocol(_) => (CloseCode::Protocol, "protocol error".into()),
        }
    }
}

impl From<ProtocolError> for WireError {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { max } => write!(f, "frame larger than {max} bytes"),
            Self::NotUtf8 => f.write_str("text is not UTF-8"),
            Self::Protocol(e) => write!(f, "{e}"),
        }
    }
}

/// What the header of the frame at the front of `buf` already rules out, before its payload
/// arrives. actix-http's parser only judges a frame once all of it is buffered: a frame that
/// is too large (or a control frame that is fragmented or too long) would otherwise be read —
/// or waited for — in full before it is refused.
fn check_header(buf: &[u8], max: usize) -> Result<(), WireError> {
    let [first, second, ..] = *buf else {
        return Ok(());
    };
    let fin = first & 0x80 != 0;
    let op = OpCode::from(first & 0x0f);
    let control = matches!(op, OpCode::Close | OpCode::Ping | OpCode::Pong);
    if control && !fin {
        // RFC 6455 §5.5: control frames must not be fragmented; fail without answering.
        return Err(WireError::Protocol(ProtocolError::ContinuationFragment(op)));
    }
    let len = match second & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => u64::from(u16::from_be_bytes([b[0], b[1]])),
            None => return Ok(()),
        },
        127 => match buf.get(2..10) {
            Some(b) => u64::from_be_bytes(b.try_into().expect("8 bytes")),
            None => return Ok(()),
        },
        n => u64::from(n),
    };
    if control && len > 125 {
        return Err(WireError::Protocol(ProtocolError::InvalidLength(
            usize::try_from(len).unwrap_or(usize::MAX),
        )));
    }
    if len > max as u64 {
        return Err(WireError::TooLarge { max });
    }
    Ok(())
}

/// Reassembles client messages from frames.
///
/// Holds nothing between messages: an idle session pays only for this enum's tag.
#[derive(Debug, Default)]
pub struct Reader {
    /// A fragmented message in progress: its first opcode and the payload so far.
    partial: Option<(OpCode, BytesMut)>,
}

impl Reader {
    /// The next whole message in `buf`, if one is complete. Frames, and messages after putting
    /// continuations together, are limited to `max` bytes; a frame's header is judged as soon
    /// as it arrives, so a frame over the limit is refused before its payload is read.
    pub fn next(&mut self, buf: &mut BytesMut, max: usize) -> Result<Option<Incoming>, WireError> {
        loop {
            check_header(buf, max)?;
            let Some((fin, op, data)) = Parser::parse(buf, true, max).map_err(|e| match e {
                ProtocolError::Overflow => WireError::TooLarge { max },
                e => WireError::Protocol(e),
            })?
            else {
                return Ok(None);
            };
            let data = data.unwrap_or_default();
            let message = match op {
                OpCode::Ping => Incoming::Ping(data.freeze()),
                OpCode::Pong => Incoming::Pong,
                OpCode::Close => Incoming::Close(Parser::try_parse_close_payload(&data)?),
                OpCode::Text | OpCode::Binary if fin => {
                    if self.partial.is_some() {
                        return Err(ProtocolError::ContinuationStarted.into());
                    }
                    whole(op, data)?
                }
                OpCode::Text | OpCode::Binary => {
                    if self.partial.is_some() {
                        return Err(ProtocolError::ContinuationStarted.into());
                    }
                    self.partial = Some((op, data));
                    continue;
                }
                OpCode::Continue => {
                    let Some((first, mut so_far)) = self.partial.take() else {
                        return Err(ProtocolError::ContinuationNotStarted.into());
                    };
                    if so_far.len() + data.len() > max {
                        return Err(WireError::TooLarge { max });
                    }
                    so_far.extend_from_slice(&data);
                    if !fin {
                        self.partial = Some((first, so_far));
                        continue;
                    }
                    whole(first, so_far)?
                }
                OpCode::Bad => return Err(ProtocolError::BadOpCode.into()),
            };
            return Ok(Some(message));
        }
    }
}

fn whole(op: OpCode, data: BytesMut) -> Result<Incoming, WireError> {
    let data = data.freeze();
    Ok(if op == OpCode::Text {
        Incoming::Text(ByteString::try_from(data).map_err(|_| WireError::NotUtf8)?)
    } else {
        Incoming::Binary(data)
    })
}

/// Client bytes read before they are handled (a flood is taken in bites).
const READ_BITE: usize = 64 * 1024;

/// The read side of a server connection: the client's bytes not yet handled and the message
/// being put back together. Sessions and the conformance harness (`examples/ws_echo.rs`) read
/// through this one path.
#[derive(Debug)]
pub struct Inbound {
    /// Client bytes not yet handled; unallocated between messages.
    input: BytesMut,
    reader: Reader,
    max: usize,
}

impl Inbound {
    /// `early` holds bytes the client sent right behind its handshake.
    #[must_use]
    pub fn new(early: BytesMut, max_message: usize) -> Self {
        Self {
            // A buffer is kept only if it holds early frames.
            input: if early.is_empty() {
                BytesMut::new()
            } else {
                early
            },
            reader: Reader::default(),
            max: max_message,
        }
    }

    /// Whether bytes wait to be handled.
    #[must_use]
    pub fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    /// Reads what the socket holds, a bite at a time, without waiting; `Ok(true)` at the end
    /// of the stream.
    ///
    /// A bite is at least one whole frame of the largest size allowed, so a frame the limit
    /// allows can always complete: with a smaller bite, a frame larger than the bite would
    /// never be read to its end, and a socket that stays readable would wake the session
    /// forever.
    pub fn read_from(&mut self, io: &TcpStream) -> io::Result<bool> {
        let bite = READ_BITE.max(self.max.saturating_add(MAX_CLIENT_HEADER));
        while self.input.len() < bite {
            self.input.reserve(4096);
            match io.try_read_buf(&mut self.input) {
                Ok(0) => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// The next whole message already read, if any.
    pub fn next_message(&mut self) -> Result<Option<Incoming>, WireError> {
        let next = self.reader.next(&mut self.input, self.max);
        if matches!(next, Ok(None)) && self.input.is_empty() {
            // An idle connection keeps no buffer.
            self.input = BytesMut::new();
        }
        next
    }
}

/// Bytes a closing connection reads and throws away while waiting for the client's close.
const LINGER_BYTES: usize = 1024 * 1024;

/// After our close frame is written: ends our side and reads until the client closes too, since
/// unread bytes would turn our close into a reset, which can destroy the close frame before the
/// client reads it. At most [`LINGER_BYTES`] are read: a client that keeps sending (the rest
/// of a frame that was refused, or a flood) is then simply dropped, so a refused frame costs
/// no more than that. The caller bounds the time.
pub async fn linger(io: &mut TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    io.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match io.read(&mut sink).await? {
            0 => break,
            n => left = left.saturating_sub(n),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser sends it.
    fn client_frame(fin: bool, op: OpCode, payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        Parser::write_message(&mut buf, payload, op, fin, true);
        buf
    }

    #[test]
    fn headers_use_the_shortest_length_encoding() {
        for (len, n) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let f = frame(OpCode::Text, &vec![b'x'; len]);
            assert_eq!(f.len(), n + len, "length {len}");
            assert_eq!(payload(&f).len(), len);
            // actix-http's own parser (in client mode) reads it back.
            let mut buf = BytesMut::from(&f[..]);
            let (fin, op, data) = Parser::parse(&mut buf, false, usize::MAX).unwrap().unwrap();
            assert!(fin);
            assert_eq!(op, OpCode::Text);
            assert_eq!(data.map_or(0, |d| d.len()), len);
        }
    }

    #[test]
    fn continuations_are_put_back_together_with_control_frames_between() {
        let mut buf = client_frame(false, OpCode::Text, b"{\"op\":");
        buf.extend_from_slice(&client_frame(true, OpCode::Ping, b"p"));
        buf.extend_from_slice(&client_frame(false, OpCode::Continue, b"\"pi"));
        buf.extend_from_slice(&client_frame(true, OpCode::Continue, b"ng\"}"));
        let mut r = Reader::default();
        assert_eq!(
            r.next(&mut buf, 1024).unwrap(),
            Some(Incoming::Ping(Bytes::from_static(b"p")))
        );
        assert_eq!(
            r.next(&mut buf, 1024).unwrap(),
            Some(Incoming::Text(ByteString::from_static("{\"op\":\"ping\"}")))
        );
        assert_eq!(r.next(&mut buf, 1024).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_for_more_bytes() {
        let whole = client_frame(true, OpCode::Text, b"hello");
        let mut buf = BytesMut::from(&whole[..3]);
        let mut r = Reader::default();
        assert_eq!(r.next(&mut buf, 1024).unwrap(), None);
        buf.extend_from_slice(&whole[3..]);
        assert_eq!(
            r.next(&mut buf, 1024).unwrap(),
            Some(Incoming::Text(ByteString::from_static("hello")))
        );
    }

    #[test]
    fn the_size_limit_counts_the_whole_message() {
        let mut r = Reader::default();
        let mut one = client_frame(true, OpCode::Text, &[b'x'; 20]);
        assert!(matches!(
            r.next(&mut one, 10),
            Err(WireError::TooLarge { max: 10 })
        ));
        let mut r = Reader::default();
        let mut parts = client_frame(false, OpCode::Text, &[b'x'; 8]);
        parts.extend_from_slice(&client_frame(true, OpCode::Continue, &[b'x'; 8]));
        assert!(matches!(
            r.next(&mut parts, 10),
            Err(WireError::TooLarge { max: 10 })
        ));
    }

    #[test]
    fn unmasked_client_frames_and_stray_continuations_are_protocol_errors() {
        let mut r = Reader::default();
        let mut unmasked = BytesMut::from(&text(b"hi")[..]);
        assert!(r.next(&mut unmasked, 1024).is_err());
        let mut stray = client_frame(true, OpCode::Continue, b"x");
        assert!(matches!(
            r.next(&mut stray, 1024),
            Err(WireError::Protocol(ProtocolError::ContinuationNotStarted))
        ));
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_by_its_header_alone() {
        // Only the 14-byte header of a frame announcing 65,537 bytes has arrived.
        let whole = client_frame(true, OpCode::Text, &vec![b'x'; 65_537]);
        let mut head = BytesMut::from(&whole[..MAX_CLIENT_HEADER]);
        assert!(matches!(
            Reader::default().next(&mut head, 65_536),
            Err(WireError::TooLarge { max: 65_536 })
        ));
        // A frame of exactly the limit waits for its payload, then is whole.
        let whole = client_frame(true, OpCode::Text, &vec![b'x'; 65_536]);
        let mut buf = BytesMut::from(&whole[..MAX_CLIENT_HEADER]);
        let mut r = Reader::default();
        assert!(r.next(&mut buf, 65_536).unwrap().is_none());
        buf.extend_from_slice(&whole[MAX_CLIENT_HEADER..]);
        assert!(
            matches!(r.next(&mut buf, 65_536), Ok(Some(Incoming::Text(t))) if t.len() == 65_536)
        );
    }

    #[test]
    fn control_frames_that_are_fragmented_or_too_long_fail_at_once() {
        let mut fragmented = client_frame(false, OpCode::Ping, b"p");
        assert!(matches!(
            Reader::default().next(&mut fragmented, 1024),
            Err(WireError::Protocol(_))
        ));
        // A ping announcing 126 bytes: refused before the payload arrives.
        let long = client_frame(true, OpCode::Ping, &[b'p'; 126]);
        let mut head = BytesMut::from(&long[..8]);
        assert!(matches!(
            Reader::default().next(&mut head, 1024),
            Err(WireError::Protocol(_))
        ));
    }

    #[test]
    fn text_must_be_utf8_and_binary_keeps_its_bytes() {
        let mut bad = client_frame(true, OpCode::Text, &[0xff, 0xfe]);
        assert!(matches!(
            Reader::default().next(&mut bad, 1024),
            Err(WireError::NotUtf8)
        ));
        let mut bin = client_frame(true, OpCode::Binary, &[0, 1, 2]);
        assert_eq!(
            Reader::default().next(&mut bin, 1024).unwrap(),
            Some(Incoming::Binary(Bytes::from_static(&[0, 1, 2])))
        );
    }

    #[test]
    fn close_frames_carry_code_and_a_reason_that_fits() {
        let f = close(CloseCode::Other(4001), &"é".repeat(100));
        assert!(payload(&f).len() <= 125);
        let reason = Parser::try_parse_close_payload(payload(&f))
            .unwrap()
            .unwrap();
        assert_eq!(reason.code, CloseCode::Other(4001));
        assert!(reason.description.unwrap().starts_with('é'));
    }
}
