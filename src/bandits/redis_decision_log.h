// The decision log in Redis (docs/formats/state-redis.md), shared by every replica of a cluster:
//
//   - decisions are spread over 16 shards by the last hex digit of their id (random bits); every
//     key of a shard carries the hash tag {dN}, so on Redis Cluster a shard is one slot and the
//     Lua scripts that touch it run where its keys are. Per shard: "mq:dec:{dN}:ID" (the
//     decision record, Decision::ToJson), "mq:out:{dN}:ID" (its outcome), "mq:dtime:{dN}" (ids
//     by time: a sorted set of score 0 read by ZRANGEBYLEX, since an id starts with its time),
//     "mq:dopen:{dN}" (open ids by deadline) and "mq:dcnt:{dN}" (the counters: a hash of
//     counter key + NUL + metric letter);
//   - an append is one script (record, indexes and counters together); a reward or a default
//     reward is one script that checks the outcome and the deadline and writes the outcome,
//     closes the decision and counts it, atomically: concurrent rewards on any replicas, and the
//     sweepers of every replica, close a decision exactly once with the outcomes of
//     decision_log.h (joined; kAlreadyExists; kFailedPrecondition "late"; kNotFound);
//   - one writer thread sends everything queued as one pipeline (group commit; Redis fsyncs its
//     AOF before replying with appendfsync always), runs the sweeps too, and calls on_closed for
//     the decisions this process closed before their callbacks;
//   - the counters of the shards are summed when read (WithCounters): the same answers as the
//     RocksDB log's (decision_stats.h). ForEach merges the shards' time indexes; it is not one
//     snapshot (a decision closed meanwhile may show either outcome).
//
// Errors: as DecisionLog's, plus kUnavailable while Redis cannot be reached (writes fail, reads
// throw; both recover by themselves) and kFailedPrecondition at open for a Redis that could lose
// acknowledged writes (events/redis_client.h).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>

#include "bandits/decision_log.h"
#include "events/redis_client.h"

namespace marquee {

// Opens the decision log in the Redis of `url` and, unless read-only, sweeps it once and starts
// the sweeper. kInvalidArgument for bad options; kUnavailable / kFailedPrecondition as above.
std::unique_ptr<DecisionLog> OpenRedisDecisionLog(const RedisUrl& url, DecisionLogOptions options);

}  // namespace marquee
