// A full disk during event ingest (issue #12): the write that cannot be stored is refused with
// kUnavailable "no space left on device" and never acknowledged, the log says it is not
// writable, it resumes by itself once space is freed (no restart, no append needed), and
// neither the next write nor closing the log while it is stopped aborts the process (RocksDB
// 7.8 asserted `sync_without_flush_called_` on both).
#include <sys/mount.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "events/event_log.h"
#include "events/full_disk_fs.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

Event E(std::string user, std::string item, int64_t ts) {
  Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = "play";
  e.ts = ts;
  return e;
}

std::vector<std::string> Items(const EventLog& log, const std::string& user) {
  std::vector<std::string> out;
  for (const StoredEvent& e : log.Recent(user, 1000)) out.push_back(e.item);
  return out;
}

// Waits up to `limit` for the log to turn writable again.
bool WaitWritable(const EventLog& log, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (log.writable()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return log.writable();
}

void ExpectNoSpace(const std::function<void()>& fn) {
  try {
    fn();
    ADD_FAILURE() << "the write was acknowledged on a full disk";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("no space left on device"), std::string::npos) << e.what();
  }
}

// An event log on `disk`, retrying every 20 ms.
EventLogOptions OnDisk(const testing::FullDisk& disk) {
  EventLogOptions o;
  o.tuning.env = disk.env.get();
  o.retry_interval = std::chrono::milliseconds(20);
  return o;
}

TEST(EventLogFullDisk, RefusesWritesThenResumesByItselfOnceSpaceIsFreed) {
  testing::TempDir dir;
  testing::FullDisk disk;
  const EventLogOptions o = OnDisk(disk);
  {
    auto log = EventLog::Open(dir.file("events"), o);
    log->Append({E("a", "before", 1)});
    EXPECT_TRUE(log->writable());

    disk.fs->full = true;
    ExpectNoSpace([&] { log->Append({E("a", "lost1", 2)}); });
    std::string why;
    EXPECT_FALSE(log->writable(&why));
    EXPECT_NE(why.find("no space left on device"), std::string::npos) << why;
    // Still stopped (the writer's resume attempts fail too): refused again, no abort.
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    ExpectNoSpace([&] { log->Append({E("a", "lost2", 3)}); });
    EXPECT_FALSE(log->writable());

    // Space comes back: the writer thread resumes without any append or restart.
    disk.fs->full = false;
    ASSERT_TRUE(WaitWritable(*log, std::chrono::seconds(10))) << "the log never resumed";
    log->Append({E("a", "after", 4)});
    EXPECT_EQ(Items(*log, "a"), (std::vector<std::string>{"after", "before"}));
  }
  // Reopened from disk (default environment): exactly the acknowledged events.
  auto log = EventLog::Open(dir.file("events"));
  EXPECT_EQ(Items(*log, "a"), (std::vector<std::string>{"after", "before"}));
}

TEST(EventLogFullDisk, ClosingWhileStoppedKeepsAcknowledgedEventsAndDoesNotAbort) {
  testing::TempDir dir;
  testing::FullDisk disk;
  const EventLogOptions o = OnDisk(disk);
  {
    auto log = EventLog::Open(dir.file("events"), o);
    log->Append({E("u", "kept1", 1), E("u", "kept2", 2)});
    disk.fs->full = true;
    ExpectNoSpace([&] { log->Append({E("u", "lost", 3)}); });
    ASSERT_FALSE(log->writable());
    ASSERT_GT(disk.fs->refused.load(), 0);
  }  // closed while the disk is still full (SIGTERM on a stopped server)
  disk.fs->full = false;
  auto log = EventLog::Open(dir.file("events"));
  EXPECT_EQ(Items(*log, "u"), (std::vector<std::string>{"kept2", "kept1"}));
  log->Append({E("u", "next", 4)});
  EXPECT_EQ(log->Recent("u", 1)[0].item, "next");
}

// The write-ahead log fails on an empty memtable (the first write after an open or a flush):
// DB::Resume() would keep the failed log writer and the next write would abort in RocksDB 7.8,
// so the log is closed and reopened instead. Reads keep working while it is stopped.
TEST(EventLogFullDisk, FirstWriteAfterOpenFailsThenResumes) {
  testing::TempDir dir;
  {
    auto log = EventLog::Open(dir.file("events"));
    log->Append({E("a", "old", 1)});
  }
  testing::FullDisk disk;
  EventLogOptions o;
  o.tuning.env = disk.env.get();
  o.retry_interval = std::chrono::milliseconds(20);
  {
    auto log = EventLog::Open(dir.file("events"), o);  // the old event is flushed at open
    disk.fs->full = true;
    ExpectNoSpace([&] { log->Append({E("a", "lost", 2)}); });
    EXPECT_FALSE(log->writable());
    EXPECT_EQ(Items(*log, "a"), std::vector<std::string>{"old"});  // reads still answer
    std::this_thread::sleep_for(std::chrono::milliseconds(60));    // failed resume attempts
    disk.fs->full = false;
    ASSERT_TRUE(WaitWritable(*log, std::chrono::seconds(10))) << "the log never resumed";
    log->Append({E("a", "new", 3)});
    log->Append({E("a", "newer", 4)});
    EXPECT_EQ(Items(*log, "a"), (std::vector<std::string>{"newer", "new", "old"}));
  }
  auto log = EventLog::Open(dir.file("events"));
  EXPECT_EQ(Items(*log, "a"), (std::vector<std::string>{"newer", "new", "old"}));
}

// The same on a real file system that fills up: an 8 MiB tmpfs (needs root to mount; skipped
// otherwise). RocksDB's write-ahead log then hits ENOSPC mid-record.
TEST(EventLogFullDiskSlow, RealTmpfsFillsUpAndRecoversAfterSpaceIsFreed) {
  testing::TempDir dir;
  const std::string mnt = dir.file("tmpfs");
  std::filesystem::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno)
                 << "): needs root; the injected-failure tests cover the same paths";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  {
    std::ofstream filler(mnt + "/filler", std::ios::binary);
    std::string mib(1 << 20, 'f');
    for (int i = 0; i < 4; ++i) filler << mib;
  }
  EventLogOptions o;
  o.retry_interval = std::chrono::milliseconds(50);
  size_t acknowledged = 0;
  {
    auto log = EventLog::Open(mnt + "/events", o);
    const std::string item(200, 'i');
    bool refused = false;
    for (int batch = 0; batch < 1000 && !refused; ++batch) {
      std::vector<Event> events;
      for (int i = 0; i < 500; ++i) events.push_back(E("u", item, batch * 500 + i));
      try {
        log->Append(std::move(events));
        acknowledged += 500;
      } catch (const Error& e) {
        refused = true;
        EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
        EXPECT_NE(std::string(e.what()).find("no space left on device"), std::string::npos)
            << e.what();
      }
    }
    ASSERT_TRUE(refused) << "8 MiB never filled up";
    ASSERT_GT(acknowledged, 0u);
    std::string why;
    EXPECT_FALSE(log->writable(&why));
    EXPECT_NE(why.find("no space left on device"), std::string::npos) << why;
    ExpectNoSpace([&] { log->Append({E("u", "x", 0)}); });

    std::filesystem::remove(mnt + "/filler");
    ASSERT_TRUE(WaitWritable(*log, std::chrono::seconds(20))) << "the log never resumed";
    log->Append({E("v", "after", 1)});
    acknowledged += 1;
    size_t n = 0;
    log->ForEach([&](const StoredEvent&) {
      ++n;
      return true;
    });
    EXPECT_EQ(n, acknowledged);
  }
  // Again from a fresh open with the disk filled to the last byte: the very first write fails
  // (empty memtable, see FirstWriteAfterOpenFailsThenResumes).
  {
    auto log = EventLog::Open(mnt + "/events", o);
    {
      std::ofstream filler(mnt + "/filler", std::ios::binary);
      std::string kib(1024, 'f');
      while (filler.write(kib.data(), kib.size())) {
      }
    }
    ExpectNoSpace([&] { log->Append({E("w", "refused", 0)}); });
    EXPECT_FALSE(log->writable());
    std::filesystem::remove(mnt + "/filler");
    ASSERT_TRUE(WaitWritable(*log, std::chrono::seconds(20))) << "the log never resumed";
    log->Append({E("w", "after", 1)});
    log->Append({E("w", "after2", 2)});
    acknowledged += 2;
  }
  auto log = EventLog::Open(mnt + "/events");
  size_t n = 0;
  log->ForEach([&](const StoredEvent&) {
    ++n;
    return true;
  });
  EXPECT_EQ(n, acknowledged) << "an acknowledged event was lost, or a refused one stored";
}

}  // namespace
}  // namespace marquee
