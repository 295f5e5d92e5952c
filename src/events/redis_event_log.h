// The event log in Redis (docs/formats/state-redis.md), shared by every replica of a cluster:
//
//   - each member's events are one sorted set "mq:ev:{USER}" (score: the event time; member:
//     16 hex digits of the member's sequence number, then the value as EncodeEventValue writes
//     it), so the recent history is one ZREVRANGE, in (ts, seq) order like the RocksDB log;
//     "mq:evn:{USER}" counts the member's events (the sequence). Both keys carry the member as
//     their hash tag, so on Redis Cluster a member's keys live in one slot;
//   - an append is one Lua script per member (the sequence, the events and the trim to
//     ?history=N in one atomic step); one writer thread sends everything queued as one pipeline
//     and acknowledges each append once Redis replied OK (with appendfsync always Redis fsyncs
//     its AOF before replying: group commit on Redis's side);
//   - ForEach scans the keys (SCAN), sorts them by member and reads each set: (user, ts, seq)
//     order, like the RocksDB log.
//
// Errors: kUnavailable while Redis cannot be reached (appends fail, Recent throws; both recover
// by themselves once Redis is back); kFailedPrecondition at open for a Redis that could lose
// acknowledged writes (redis_client.h), and for appends to a read-only log.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>

#include "events/event_log.h"
#include "events/redis_client.h"

namespace marquee {

// Opens the event log in the Redis of `url`: connects and checks it (a writable log refuses a
// Redis that could lose acknowledged writes; read-only never writes, so it does not check).
std::unique_ptr<EventLog> OpenRedisEventLog(const RedisUrl& url, EventLogOptions options = {});

}  // namespace marquee
