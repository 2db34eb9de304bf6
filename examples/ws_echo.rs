//! A WebSocket echo server for the Autobahn|Testsuite (`scripts/conformance.sh`).
//!
//! Not a route of the product: a harness that reads client frames through exactly the path a
//! Bellhop session reads them — [`wire::Inbound`] (bites of at least one whole frame, headers
//! judged before payloads), [`wire::Reader`] (continuations, control frames, UTF-8, close
//! payloads), the same close codes ([`wire::WireError::close`]) and the same lingering close
//! ([`wire::linger`]) — and answers with the same server framing. Only the handshake is parsed
//! here by hand, and messages are echoed instead of being read as protocol frames.
//!
//! `ws_echo [ADDR] [MAX_MESSAGE_BYTES]` — default `127.0.0.1:9001`, 32 MiB (Autobahn's section
//! 9 sends messages up to 16 MiB; the product's limit is `BELLHOP_WS_MAX_FRAME`).

use std::time::Duration;

use actix_http::ws::{CloseCode, OpCode, hash_key};
use bellhop::ws::wire::{self, Incoming};
use bytes::BytesMut;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let max: usize = args.next().map_or(32 << 20, |m| {
        m.parse().expect("MAX_MESSAGE_BYTES is a number")
    });
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("ws_echo listening on {}", listener.local_addr()?);
    loop {
        let (io, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(io, max).await {
                eprintln!("connection ended: {e}");
            }
        });
    }
}

async fn serve(mut io: TcpStream, max: usize) -> std::io::Result<()> {
    io.set_nodelay(true)?;
    let Some((key, early)) = handshake(&mut io).await? else {
        io.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
         sec-websocket-accept: {}\r\n\r\n",
        String::from_utf8_lossy(&hash_key(key.as_bytes()))
    );
    io.write_all(head.as_bytes()).await?;
    let mut inbound = wire::Inbound::new(early, max);
    loop {
        loop {
            let answer = match inbound.next_message() {
                Ok(None) => break,
                Ok(Some(Incoming::Text(t))) => wire::text(t.as_bytes()),
                Ok(Some(Incoming::Binary(b))) => wire::frame(OpCode::Binary, &b),
                Ok(Some(Incoming::Ping(p))) => wire::frame(OpCode::Pong, &p),
                Ok(Some(Incoming::Pong)) => continue,
                // Answered with the same code, as the product's sessions do.
                Ok(Some(Incoming::Close(reason))) => {
                    let code = reason.map_or(CloseCode::Normal, |r| r.code);
                    return close(io, code, "").await;
                }
                Err(e) => {
                    let (code, reason) = e.close();
                    return close(io, code, &reason).await;
                }
            };
            io.write_all(&answer).await?;
        }
        io.readable().await?;
        if inbound.read_from(&io)? {
            // The peer went away; whatever was read before the end is still answered.
            while let Ok(Some(_)) = inbound.next_message() {}
            return Ok(());
        }
    }
}

async fn close(mut io: TcpStream, code: CloseCode, reason: &str) -> std::io::Result<()> {
    io.write_all(&wire::close(code, reason)).await?;
    let _ = tokio::time::timeout(Duration::from_secs(10), wire::linger(&mut io)).await;
    Ok(())
}

/// Reads an HTTP/1.1 upgrade request: its `Sec-WebSocket-Key` and any bytes sent behind it.
async fn handshake(io: &mut TcpStream) -> std::io::Result<Option<(String, BytesMut)>> {
    let mut buf = BytesMut::with_capacity(4096);
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 16 * 1024 || io.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let early = buf.split_off(end);
    let key = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    });
    Ok(key.map(|k| (k, early)))
}
