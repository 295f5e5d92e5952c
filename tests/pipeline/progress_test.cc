// Progress (src/common/progress.h) and the one time formatter (src/common/time.h), with a fake
// clock and a string sink instead of stderr.
#include "common/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "common/time.h"

namespace marquee {
namespace {

struct Fake {
  double now = 100.0;
  std::string out;
  Progress::Options Options(int tty) {
    Progress::Options o;
    o.tty = tty;
    o.clock = [this] { return now; };
    o.sink = [this](std::string_view s) { out += s; };
    return o;
  }
};

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(Progress, NotATerminalPrintsAPlainLineEveryFiveSeconds) {
  Fake f;
  {
    Progress p("import plays", 1000, "lines", f.Options(0));
    p.Tick(100);
    f.now += 1;
    p.Tick(100);
    EXPECT_EQ(f.out, "");  // not due yet
    f.now += 4;            // 5 s after the start
    p.Tick(300);
    EXPECT_EQ(f.out, "import plays:  50% (500/1000 lines), 100 lines/s, elapsed 0:05, ETA 0:05\n");
    f.now += 1;
    p.Tick(100);
    EXPECT_EQ(Lines(f.out), 1);  // at most one line per interval
    f.now += 9;
    p.Set(900);
    EXPECT_EQ(Lines(f.out), 2);
    EXPECT_EQ(f.out.find('\r'), std::string::npos);  // nothing redrawn in a log
  }
  // The destructor prints the final line once.
  EXPECT_EQ(Lines(f.out), 3);
  EXPECT_NE(f.out.find("import plays:  90% (900/1000 lines), 60 lines/s, elapsed 0:15, ETA 0:02\n"
                       "import plays: done, 900 lines in 0:15 (60 lines/s)\n"),
            std::string::npos)
      << f.out;
}

TEST(Progress, TerminalRedrawsOneLine) {
  Fake f;
  Progress p("ials", 1000, "", f.Options(1));
  f.now += 0.4;
  p.Set(250);
  EXPECT_EQ(f.out, "\rials:  25%, elapsed 0:00, ETA 0:01\x1b[K");  // no newline: redrawn
  f.now += 0.5;
  p.Set(500);
  EXPECT_EQ(Lines(f.out), 0);
  p.Finish();
  p.Finish();  // once only
  EXPECT_EQ(Lines(f.out), 1);
  EXPECT_NE(f.out.find("\rials: done in 0:01\x1b[K\n"), std::string::npos) << f.out;
}

TEST(Progress, QuietPrintsNothing) {
  Fake f;
  Progress::Options o = f.Options(0);
  o.enabled = false;
  {
    Progress p("x", 10, "lines", o);
    f.now += 100;
    p.Tick(5);
  }
  EXPECT_EQ(f.out, "");
}

TEST(Progress, TickIsThreadSafe) {
  Fake f;
  Progress::Options o = f.Options(0);
  o.clock = [] { return 0.0; };  // never due: only the final line counts the ticks
  std::string out;
  o.sink = [&out](std::string_view s) { out += s; };
  {
    Progress p("count", 0, "items", o);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&p] {
        for (int i = 0; i < 10000; ++i) p.Tick();
      });
    }
    for (auto& t : threads) t.join();
  }
  EXPECT_NE(out.find("count: done, 40000 items"), std::string::npos) << out;
}

TEST(Progress, StageCallbackStartsALinePerStage) {
  Fake f;
  auto cb = StageProgressCallback(f.Options(0));
  cb("ials", 0.0);
  f.now += 6;
  cb("ials", 0.5);
  f.now += 6;
  cb("ials", 1.0);
  cb("evaluate", 1.0);
  EXPECT_EQ(f.out,
            "ials:  50%, elapsed 0:06, ETA 0:06\n"
            "ials: done in 0:12\n"
            "evaluate: done in 0:00\n");
}

TEST(Time, OneIsoUtcFormatAndParser) {
  EXPECT_EQ(IsoUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(IsoUtc(1796454341), "2026-12-05T07:05:41Z");
  EXPECT_EQ(IsoUtcMillis(1796454341123), "2026-12-05T07:05:41.123Z");
  EXPECT_EQ(IsoUtcMillis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(ParseIsoUtc("2026-12-05T07:05:41Z"), 1796454341);
  EXPECT_EQ(ParseIsoUtc("2026-12-05 08:05:41.5+01:00"), 1796454341);
  EXPECT_EQ(ParseIsoUtc("2019-11-24 00:03:13.442536+00:00"), 1574553793);
  EXPECT_FALSE(ParseIsoUtc("2026-02-30").has_value());
  EXPECT_FALSE(ParseIsoUtc("yesterday").has_value());
  for (int64_t t : {0LL, 951782400LL, 1796454341LL, 4102444799LL}) {
    EXPECT_EQ(ParseIsoUtc(IsoUtc(t)), t) << t;
  }
}

}  // namespace
}  // namespace marquee
