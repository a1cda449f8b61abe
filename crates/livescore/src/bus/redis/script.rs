//! The Lua scripts that make ids global: each runs atomically in Redis, so
//! "take the next seq" and "append the entry" can never be split or
//! interleaved by another node.

use std::sync::LazyLock;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;

use super::{Keys, DEDUP_TTL, RETENTION_EVENTS};
use crate::bus::BusError;
use crate::model::EventId;

/// Creates the epoch if there is none (a new deployment, or a Redis that
/// lost its data: then seq and stream start over with it) and returns
/// `{epoch, seq}`, the seq of the newest event.
const INIT: &str = r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local seq = redis.call('GET', KEYS[2]) or '0'
return {epoch, seq}
";

/// Appends one event unless this publish id was already appended (a
/// retry after a lost reply), and returns `{epoch, seq}` either way; or
/// `{'expired'}` when Redis runs it after the publish's fence (it sat in a
/// socket or a stalled server past the time its publisher was answered
/// "not published"), appending nothing.
/// KEYS: epoch, seq, stream, publish-id record.
/// ARGV: fresh epoch, maxlen, topic, event, data, record ttl (ms), fence
/// (milliseconds since 1970 on Redis's clock).
const PUBLISH: &str = r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local done = redis.call('GET', KEYS[4])
if done then
  local e, s = string.match(done, '^(%d+)-(%d+)$')
  if e == epoch then
    return {e, s}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[7]) then
  return {'expired'}
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], seq .. '-0',
  'e', epoch, 't', ARGV[3], 'v', ARGV[4], 'd', ARGV[5], 'p', t[1] .. string.format('%06d', tonumber(t[2])))
redis.call('SET', KEYS[4], epoch .. '-' .. seq, 'PX', ARGV[6])
return {epoch, tostring(seq)}
";

static INIT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(INIT));
static PUBLISH_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(PUBLISH));

/// `(epoch, newest seq)`, creating the epoch if missing.
pub(super) async fn init(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    fresh_epoch: u64,
) -> Result<(u64, u64), BusError> {
    let reply: Vec<String> = INIT_SCRIPT
        .key(&keys.epoch)
        .key(&keys.seq)
        .key(&keys.stream)
        .arg(fresh_epoch.to_string())
        .invoke_async(conn)
        .await?;
    parse_pair(&reply)
}

/// What the publish script did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Appended {
    /// Appended now, or earlier under the same publish id.
    Id(EventId),
    /// Refused: Redis ran it after the fence.
    Expired,
}

/// Appends `(topic, event, data)` once under `publish_id`, unless Redis
/// runs it after `fence_ms` (Redis's clock).
pub(super) async fn publish(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    publish_id: &str,
    (fresh_epoch, fence_ms): (u64, u64),
    (topic, event, data): (&str, &str, &Bytes),
) -> Result<Appended, redis::RedisError> {
    let reply: Vec<String> = PUBLISH_SCRIPT
        .key(&keys.epoch)
        .key(&keys.seq)
        .key(&keys.stream)
        .key(format!("{}{publish_id}", keys.publish))
        .arg(fresh_epoch.to_string())
        .arg(RETENTION_EVENTS)
        .arg(topic)
        .arg(event)
        .arg(data.as_ref())
        .arg(DEDUP_TTL.as_millis() as u64)
        .arg(fence_ms)
        .invoke_async(conn)
        .await?;
    if reply == ["expired"] {
        return Ok(Appended::Expired);
    }
    let (epoch, seq) = parse_pair(&reply).map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::Parse, "bad publish reply", e.to_string()))
    })?;
    Ok(Appended::Id(EventId::new(epoch, seq)))
}

/// Milliseconds since 1970 on Redis's clock.
pub(super) async fn server_time_ms(conn: &mut MultiplexedConnection) -> Result<u64, BusError> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(secs * 1000 + micros / 1000)
}

fn parse_pair(reply: &[String]) -> Result<(u64, u64), BusError> {
    match reply {
        [e, s] => match (e.parse(), s.parse()) {
            (Ok(e), Ok(s)) => Ok((e, s)),
            _ => Err(BusError::Corrupt(format!("epoch/seq {e:?}/{s:?}"))),
        },
        _ => Err(BusError::Corrupt(format!("script reply {reply:?}"))),
    }
}

/// Against the machine's Redis (127.0.0.1:6379), under a prefix of its own.
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_retried_publish_is_appended_once_and_a_lost_epoch_starts_over() {
        let prefix = format!("lstest-script-{}-{}", std::process::id(), fastrand::u64(..));
        let keys = Keys::new(&prefix);
        let client = redis::Client::open("redis://127.0.0.1:6379").expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("the machine's Redis on 6379");
        let (epoch, head) = init(&mut conn, &keys, 7).await.expect("init");
        assert_eq!((epoch, head), (7, 0));
        let data = Bytes::from_static(b"{}");
        let ev = ("news", "flash", &data);
        let now = server_time_ms(&mut conn).await.expect("TIME");
        let open = (8, now + 60_000);
        let first = publish(&mut conn, &keys, "node.1", open, ev)
            .await
            .expect("publish");
        // The same publish id again (a retry after a lost reply): same id.
        let again = publish(&mut conn, &keys, "node.1", open, ev)
            .await
            .expect("retry");
        let next = publish(&mut conn, &keys, "node.2", open, ev)
            .await
            .expect("next");
        assert_eq!(first, Appended::Id(EventId::new(7, 1)));
        assert_eq!(again, first);
        assert_eq!(next, Appended::Id(EventId::new(7, 2)));
        // Run after its fence: refused, nothing appended; a retry of an
        // id appended before its fence still finds it.
        let late = publish(&mut conn, &keys, "node.4", (8, now - 1), ev)
            .await
            .expect("late");
        assert_eq!(late, Appended::Expired);
        let found = publish(&mut conn, &keys, "node.2", (8, now - 1), ev)
            .await
            .expect("retry after the fence");
        assert_eq!(found, next);
        let len: u64 = redis::cmd("XLEN")
            .arg(&keys.stream)
            .query_async(&mut conn)
            .await
            .expect("xlen");
        assert_eq!(len, 2, "appended once per publish id");
        // The epoch key lost (a flush): the next publish starts a new history.
        let _: () = redis::cmd("DEL")
            .arg(&keys.epoch)
            .query_async(&mut conn)
            .await
            .expect("del");
        let fresh = publish(&mut conn, &keys, "node.3", (9, now + 60_000), ev)
            .await
            .expect("publish");
        assert_eq!(fresh, Appended::Id(EventId::new(9, 1)));
        let _: () = redis::cmd("DEL")
            .arg(&keys.stream)
            .arg(&keys.seq)
            .arg(&keys.epoch)
            .arg(format!("{}node.1", keys.publish))
            .arg(format!("{}node.2", keys.publish))
            .arg(format!("{}node.3", keys.publish))
            .arg(format!("{}node.4", keys.publish))
            .query_async(&mut conn)
            .await
            .expect("clean up");
    }
}
