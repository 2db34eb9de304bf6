//! WebSocket framing (RFC 6455) for the server side of a connection.
//!
//! Server frames are never masked, so a frame's bytes are the same for every recipient: the
//! hub frames each event **once** ([`text`]) and every session writes those same bytes. Client
//! frames are parsed by actix-http's [`Parser`] (masking, lengths, control-frame rules); this
//! module adds what a session needs on top: continuations put back together and a size limit
//! on the whole message.

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use bytes::{Bytes, BytesMut};

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
    Text(Bytes),
    Binary,
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
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
    /// The next whole message in `buf`, if one is complete. Messages (after putting
    /// continuations together) are limited to `max` bytes.
    pub fn next(
        &mut self,
        buf: &mut BytesMut,
        max: usize,
    ) -> Result<Option<Incoming>, ProtocolError> {
        loop {
            let Some((fin, op, data)) = Parser::parse(buf, true, max)? else {
                return Ok(None);
            };
            let data = data.unwrap_or_default();
            let message = match op {
                OpCode::Ping => Incoming::Ping(data.freeze()),
                OpCode::Pong => Incoming::Pong,
                OpCode::Close => Incoming::Close(Parser::try_parse_close_payload(&data)?),
                OpCode::Text | OpCode::Binary if fin => {
                    if self.partial.is_some() {
                        return Err(ProtocolError::ContinuationStarted);
                    }
                    whole(op, data)
                }
                OpCode::Text | OpCode::Binary => {
                    if self.partial.is_some() {
                        return Err(ProtocolError::ContinuationStarted);
                    }
                    self.partial = Some((op, data));
                    continue;
                }
                OpCode::Continue => {
                    let Some((first, mut so_far)) = self.partial.take() else {
                        return Err(ProtocolError::ContinuationNotStarted);
                    };
                    if so_far.len() + data.len() > max {
                        return Err(ProtocolError::Overflow);
                    }
                    so_far.extend_from_slice(&data);
                    if !fin {
                        self.partial = Some((first, so_far));
                        continue;
                    }
                    whole(first, so_far)
                }
                OpCode::Bad => return Err(ProtocolError::BadOpCode),
            };
            return Ok(Some(message));
        }
    }
}

fn whole(op: OpCode, data: BytesMut) -> Incoming {
    if op == OpCode::Text {
        Incoming::Text(data.freeze())
    } else {
        Incoming::Binary
    }
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
            Some(Incoming::Text(Bytes::from_static(b"{\"op\":\"ping\"}")))
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
            Some(Incoming::Text(Bytes::from_static(b"hello")))
        );
    }

    #[test]
    fn the_size_limit_counts_the_whole_message() {
        let mut r = Reader::default();
        let mut one = client_frame(true, OpCode::Text, &[b'x'; 20]);
        assert!(matches!(r.next(&mut one, 10), Err(ProtocolError::Overflow)));
        let mut r = Reader::default();
        let mut parts = client_frame(false, OpCode::Text, &[b'x'; 8]);
        parts.extend_from_slice(&client_frame(true, OpCode::Continue, &[b'x'; 8]));
        assert!(matches!(
            r.next(&mut parts, 10),
            Err(ProtocolError::Overflow)
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
            Err(ProtocolError::ContinuationNotStarted)
        ));
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
