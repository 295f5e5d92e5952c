// The real `marquee serve --bandit` process against the three ways in of issue #12 by which bytes
// that are not UTF-8 used to abort it (std::terminate from building the error body): a target
// byte before authentication, a malformed body around a partial character, and a decision id
// cut inside a character. Each must get an answer and leave the process running.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "../registry/registry_test_util.h"
#include "bandit_test_util.h"
#include "common/text.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpClient;
using marquee::testing::HttpResult;

bool Alive(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

TEST(ServeHostileSlow, BytesThatAreNotUtf8NeverEndTheProcess) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  auto policy = marquee::testing::SkewedPolicy();
  const int64_t v = marquee::testing::RegisterPolicy(home, "artwork", *policy);
  marquee::testing::SetAlias(home, "artwork", "production", v);
  const std::string port_file = dir.file("port");
  const std::string log = dir.file("serve.log");
  marquee::testing::WriteText(dir.file("keys"), "writer-key-0123456789 read,write\n");
  pid_t pid = marquee::testing::SpawnCli(
      {"--home", home, "--threads", "2", "serve", "--port", "0", "--port-file", port_file,
       "--bandit", "artwork@production", "--api-keys", dir.file("keys")},
      log);
  ASSERT_GT(pid, 0);
  const uint16_t port = marquee::testing::WaitForPort(port_file, pid);
  ASSERT_GT(port, 0) << marquee::testing::Slurp(log);
  const std::string auth = "X-API-Key: writer-key-0123456789\r\n";

  auto expect = [&](const HttpResult& r, int status, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << EscapeForTerminal(r.body);
    EXPECT_TRUE(IsValidUtf8(r.body)) << what << ": " << EscapeForTerminal(r.body);
    json j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j["error"].is_object() && j["error"]["message"].is_string())
        << what << ": " << EscapeForTerminal(r.body);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(Alive(pid)) << what << " ended the process:\n" << marquee::testing::Slurp(log);
    HttpClient c(port);
    c.SetTimeout(5000);
    EXPECT_EQ(c.Get("/healthz").status, 200) << what;
  };
  {  // (a) No key needed: the route lookup comes before authentication.
    HttpClient c(port);
    c.SetTimeout(5000);
    c.SendRaw("GET /\xc3 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(c.ReadResponse(), 404, "(a) GET /\\xc3");
  }
  {  // (b) A JSON syntax error just after the first byte of 'é'.
    HttpClient c(port);
    c.SetTimeout(5000);
    expect(c.Call("POST", "/v1/recommend", "{\"a\":\xc3\xa9}", auth), 400, "(b) {\"a\":é}");
  }
  {  // (c) Valid JSON: a 64-byte decision id whose last character is 'é' (2 bytes).
    HttpClient c(port);
    c.SetTimeout(5000);
    const std::string body =
        json{{"decision_id", std::string(63, 'a') + "\u00e9"}, {"reward", 1}}.dump();
    expect(c.Call("POST", "/v1/reward", body, auth), 400, "(c) decision_id aaa...é");
  }
  {  // And a body that is not UTF-8 at all.
    HttpClient c(port);
    c.SetTimeout(5000);
    expect(c.Call("POST", "/v1/decide", "{\"model\": \"\xff\"}", auth), 400, "(d) \\xff in a body");
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(marquee::testing::WaitChild(pid), 0) << marquee::testing::Slurp(log);
}

}  // namespace
}  // namespace marquee
