//! A WebSocket subscriber: tokio-tungstenite over a plain `TcpStream`,
//! with a small read buffer (tungstenite's default is 128 KiB, which
//! across tens of thousands of clients would be the bench's own memory
//! problem, not the server's).

use std::io;

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::plan::{parse_delivery, Plan};

/// Read buffer per connection; events are a few hundred bytes.
const READ_BUF_BYTES: usize = 4096;

/// Most messages taken in one batch without waiting.
const MAX_BATCH_MESSAGES: usize = 256;

/// One subscribed `/ws` connection.
pub struct WsConn {
    ws: WebSocketStream<TcpStream>,
}

/// Connects, upgrades and subscribes to the plan's topic; `Ok` once the
/// server confirmed with `subscribed`.
pub async fn connect(plan: &Plan) -> Result<WsConn, String> {
    let stream = TcpStream::connect(plan.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUF_BYTES)
        .write_buffer_size(0);
    let url = format!("ws://{}/ws", plan.authority);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let subscribe = format!(r#"{{"type":"subscribe","topics":["{}"]}}"#, plan.topic);
    ws.send(Message::text(subscribe))
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().contains(r#""type":"subscribed""#) => {
                return Ok(WsConn { ws });
            }
            Some(Ok(Message::Text(t))) if t.as_str().contains(r#""type":"error""#) => {
                return Err(format!("refused: {}", t.as_str()));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("closed before subscribing".into()),
        }
    }
}

impl WsConn {
    /// Waits for the next message and appends its `(t, n)` if it is a
    /// bench event; `Ok(false)` when the server closed the connection.
    pub async fn next_batch(&mut self, out: &mut Vec<(u64, u64)>) -> io::Result<bool> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if let Some(d) = parse_delivery(t.as_bytes()) {
                        out.push(d);
                    }
                    // Take whatever else is already read, so a batch costs
                    // one histogram lock, as on SSE.
                    for _ in 0..MAX_BATCH_MESSAGES {
                        match self.ws.next().now_or_never() {
                            Some(Some(Ok(Message::Text(t)))) => {
                                if let Some(d) = parse_delivery(t.as_bytes()) {
                                    out.push(d);
                                }
                            }
                            Some(Some(Ok(_))) => {}
                            // Pending, or an end the next call reports.
                            _ => break,
                        }
                    }
                    return Ok(true);
                }
                Some(Ok(Message::Close(_))) | None => return Ok(false),
                // Pings are answered by tungstenite on the next read/write.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
    }
}
