// The dashboard's static files (src/control/ui_routes.cc): index.html and hashed assets served
// from a UI directory without an API key, with their Content-Type and cache headers; names that
// could leave the directory refused; the "not built" page when the assets are missing, while
// the API keeps answering.
#include <gtest/gtest.h>

#include <fstream>

#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using marquee::testing::HttpResult;

constexpr const char* kRead = "key-read-0123456789abcdef";

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  ASSERT_TRUE(f.good()) << path;
}

class UiRoutesTest : public ::testing::Test {
 protected:
  // A server whose UI directory is `ui_dir`, with a read key (the static files need none).
  void Start(const std::string& ui_dir) {
    marquee::testing::InProcessServerOptions o;
    o.events = false;
    o.control_plane = false;  // added here, with the UI directory
    o.api_keys = std::string(kRead) + " read\n";
    AddControlPlane(o.core, ControlPlaneOptions{.home = dir_.file("home"), .ui_dir = ui_dir});
    server_ = std::make_unique<marquee::testing::InProcessServer>(dir_.file("home"), std::move(o));
    server_->Start();
  }
  HttpResult Get(const std::string& path, const std::string& headers = "") {
    // A refused request may close its connection: each call has its own.
    marquee::testing::HttpClient c(server_->port());
    return c.Call("GET", path, "", headers);
  }

  marquee::testing::TempDir dir_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
};

TEST_F(UiRoutesTest, ServesIndexAndHashedAssetsWithoutAKey) {
  const std::string ui = dir_.file("dist");
  std::filesystem::create_directories(ui + "/assets");
  WriteText(ui + "/index.html", "<!doctype html><title>app</title>");
  WriteText(ui + "/assets/index-Ab12_c.js", "console.log('app');");
  WriteText(ui + "/assets/index-Ab12_c.css", "body{}");
  Start(ui);

  for (const char* path : {"/ui/", "/ui"}) {
    HttpResult r = Get(path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "<!doctype html><title>app</title>") << path;
    EXPECT_NE(r.headers.find("content-type: text/html"), std::string::npos) << r.headers;
    EXPECT_NE(r.headers.find("cache-control: no-cache"), std::string::npos) << r.headers;
  }
  HttpResult js = Get("/ui/assets/index-Ab12_c.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log('app');");
  EXPECT_NE(js.headers.find("content-type: text/javascript"), std::string::npos) << js.headers;
  EXPECT_NE(js.headers.find("immutable"), std::string::npos) << js.headers;
  HttpResult css = Get("/ui/assets/index-Ab12_c.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_NE(css.headers.find("content-type: text/css"), std::string::npos) << css.headers;
  // The API itself still needs its key.
  EXPECT_EQ(Get("/api/v1/runs").status, 401);
  EXPECT_EQ(Get("/api/v1/runs", std::string("Authorization: Bearer ") + kRead + "\r\n").status,
            200);
  // A missing asset, and a file type the app never produces, are 404.
  EXPECT_EQ(Get("/ui/assets/nope-123.js").status, 404);
  WriteText(ui + "/assets/notes.exe", "x");
  EXPECT_EQ(Get("/ui/assets/notes.exe").status, 404);
}

TEST_F(UiRoutesTest, RefusesNamesThatCouldLeaveTheDirectory) {
  const std::string ui = dir_.file("dist");
  std::filesystem::create_directories(ui + "/assets");
  WriteText(ui + "/index.html", "app");
  WriteText(ui + "/secret.js", "outside the assets");
  WriteText(dir_.file("secret.js"), "outside the ui dir");
  WriteText(ui + "/assets/.hidden.js", "hidden");
  Start(ui);
  for (const char* path : {"/ui/assets/..%2Fsecret.js", "/ui/assets/..%2F..%2Fsecret.js",
                           "/ui/assets/%2E%2E", "/ui/assets/..", "/ui/assets/.hidden.js",
                           "/ui/assets/a%00.js", "/ui/assets/a%5Cb.js", "/ui/assets/%C3%A9.js"}) {
    HttpResult r = Get(path);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    EXPECT_EQ(r.body.find("outside"), std::string::npos) << path;
    EXPECT_NE(r.body.find("ui asset"), std::string::npos) << path << ": " << r.body;
  }
  // Unencoded dots and slashes never reach the asset row.
  for (const char* path : {"/ui/assets/../secret.js", "/ui/assets/x/../../secret.js"}) {
    HttpResult r = Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("outside"), std::string::npos) << path;
  }
}

TEST_F(UiRoutesTest, MissingAssetsShowTheNotBuiltPageAndTheApiStillAnswers) {
  const std::string ui = dir_.file("never-built");  // does not exist
  Start(ui);
  HttpResult r = Get("/ui/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.headers.find("content-type: text/html"), std::string::npos) << r.headers;
  EXPECT_NE(r.body.find("not built"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("scripts/setup"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(ui), std::string::npos) << "names the directory it looked in";
  EXPECT_EQ(Get("/ui/assets/index-1.js").status, 404);
  EXPECT_EQ(Get("/api/v1/models", std::string("Authorization: Bearer ") + kRead + "\r\n").status,
            200);
}

TEST(DefaultUiDir, FollowsTheEnvironmentThenTheBuildTree) {
  ::unsetenv("MARQUEE_UI_DIR");
  EXPECT_EQ(DefaultUiDir(), std::string(MARQUEE_SOURCE_DIR) + "/ui/dist");
  ::setenv("MARQUEE_UI_DIR", "/some/where", 1);
  EXPECT_EQ(DefaultUiDir(), "/some/where");
  ::unsetenv("MARQUEE_UI_DIR");
}

}  // namespace
}  // namespace marquee
