// The route table is the one list of routes: every row (method, path, scope) must be documented
// in docs/api/openapi.yaml, with its {parameters} as path parameters, and every documented
// operation must be a row. Parameterised rows are compared as written: OpenAPI spells a path
// parameter {name} as the route table does, and "/v1/models/{name}:predict" is a legal path.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "serving_test_util.h"

namespace marquee {
namespace {

// path -> method -> the operation's text, from the `paths:` section (two-space paths, four-space
// methods).
std::map<std::string, std::map<std::string, std::string>> Operations(const std::string& yaml) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::istringstream in(yaml.substr(yaml.find("\npaths:\n")));
  std::string line, path, method;
  std::getline(in, line);
  std::getline(in, line);  // "paths:"
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') break;  // the next top-level section
    if (line.starts_with("  /") && line.ends_with(":")) {
      path = line.substr(2, line.size() - 3);
      method.clear();
    } else if (line.size() > 4 && line.starts_with("    ") && line[4] != ' ' &&
               line.ends_with(":")) {
      method = line.substr(4, line.size() - 5);
    } else if (!path.empty() && !method.empty()) {
      out[path][method] += line + "\n";
    }
  }
  return out;
}

TEST(RouteTable, EveryRowIsDocumentedInOpenApiAndEveryOperationIsARow) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::InProcessServerOptions o;
  o.events = false;
  marquee::testing::InProcessServer server(home, o);  // every route provider, as serve wires it
  std::ifstream f(std::string(MARQUEE_SOURCE_DIR) + "/docs/api/openapi.yaml");
  ASSERT_TRUE(f) << "docs/api/openapi.yaml";
  std::stringstream text;
  text << f.rdbuf();
  const auto ops = Operations(text.str());
  std::set<std::pair<std::string, std::string>> rows;
  for (const RouteRow& row : server.service()->routes()) {
    std::string method = row.method;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rows.emplace(row.path, method);
    auto p = ops.find(row.path);
    ASSERT_NE(p, ops.end()) << row.path << " is not in docs/api/openapi.yaml";
    auto m = p->second.find(method);
    ASSERT_NE(m, p->second.end()) << row.method << " " << row.path << " is not documented";
    // Every {parameter} of the row is a documented path parameter of the operation.
    for (size_t open = row.path.find('{'); open != std::string::npos;
         open = row.path.find('{', open + 1)) {
      const std::string param = row.path.substr(open + 1, row.path.find('}', open) - open - 1);
      EXPECT_NE(m->second.find("{name: " + param + ", in: path, required: true"), std::string::npos)
          << row.method << " " << row.path << ": path parameter " << param << " is not documented";
    }
    if (row.scope == kScopeNone) {
      EXPECT_NE(m->second.find("security: []"), std::string::npos) << row.path;
    } else {
      EXPECT_NE(m->second.find("scope " + std::string(ScopeName(row.scope))), std::string::npos)
          << row.method << " " << row.path << ": the summary should name scope "
          << ScopeName(row.scope);
    }
  }
  for (const auto& [path, methods] : ops) {
    for (const auto& [method, body] : methods) {
      EXPECT_TRUE(rows.count({path, method}))
          << method << " " << path << " is documented but no row serves it";
    }
  }
  EXPECT_GT(rows.size(), 12u);
}

}  // namespace
}  // namespace marquee
