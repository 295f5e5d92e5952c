#include "marquee/env.h"

#include <gtest/gtest.h>

#include <set>

#include "common/sha256.h"
#include "common/thread_pool.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

TEST(Env, AtomicWriteReplacesWholeFile) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.file("f.txt");
  env->WriteFileAtomic(path, "first");
  env->WriteFileAtomic(path, "second version");
  EXPECT_EQ(env->ReadFile(path), "second version");
  EXPECT_EQ(env->FileSize(path), 14u);
  EXPECT_EQ(env->ListDir(dir.path()), std::vector<std::string>{"f.txt"});  // no temp files left
}

TEST(Env, UncommittedWriteLeavesNothing) {
  testing::TempDir dir;
  Env* env = Env::Default();
  {
    auto f = env->NewWritableFile(dir.file("partial.bin"));
    f->Append(std::string(3 << 20, 'x'));  // larger than the write buffer
    EXPECT_EQ(f->Size(), 3u << 20);
    // Destroyed without Commit(), as when an exception unwinds a half-done write.
  }
  EXPECT_TRUE(env->ListDir(dir.path()).empty());
  EXPECT_FALSE(env->FileExists(dir.file("partial.bin")));
}

TEST(Env, ErrorsNameThePathAndCode) {
  Env* env = Env::Default();
  try {
    env->ReadFile("/nonexistent/marquee/file");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/marquee/file"), std::string::npos);
  }
  EXPECT_THROW(env->NewWritableFile("/nonexistent/dir/x"), Error);
  EXPECT_THROW(env->ListDir("/nonexistent/dir"), Error);
}

TEST(Env, MapFileSeesContent) {
  testing::TempDir dir;
  Env* env = Env::Default();
  env->WriteFileAtomic(dir.file("m"), "mapped");
  auto m = env->MapFile(dir.file("m"));
  ASSERT_EQ(m->data().size(), 6u);
  EXPECT_EQ(m->data()[0], 'm');
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.HexDigest(), Sha256Hex("abc"));
}

TEST(ThreadPool, StaticPartitionCoversRangeOnceAndRethrows) {
  std::vector<int> hits(1001, 0);
  ParallelFor(hits.size(), 3, [&](size_t b, size_t e, int) {
    for (size_t i = b; i < e; ++i) ++hits[i];
  });
  for (int h : hits) EXPECT_EQ(h, 1);
  std::vector<int> dyn(777, 0);
  ParallelForDynamic(dyn.size(), 2, 10, [&](size_t i, int) { ++dyn[i]; });
  for (int h : dyn) EXPECT_EQ(h, 1);
  EXPECT_THROW(ParallelFor(10, 2,
                           [](size_t b, size_t, int) {
                             if (b > 0) Fail(ErrorCode::kInternal, "boom");
                           }),
               Error);
}

TEST(ErrorTable, CodesMapToDistinctExitCodesAndSensibleHttp) {
  EXPECT_EQ(ExitCodeFor(ErrorCode::kInvalidArgument), 2);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kCorruption), "corruption");
  std::set<int> exits;
  for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c) {
    exits.insert(ExitCodeFor(static_cast<ErrorCode>(c)));
  }
  EXPECT_EQ(exits.size(), static_cast<size_t>(ErrorCode::kInternal) + 1);
  EXPECT_EQ(exits.count(0), 0u);
  EXPECT_EQ(exits.count(1), 0u);
}

}  // namespace
}  // namespace marquee
