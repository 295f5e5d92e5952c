// Route patterns: parameters, TF Serving-style verb suffixes, decoding, query strings.
#include "serving/route_match.h"

#include <gtest/gtest.h>

#include "marquee/error.h"

namespace marquee {
namespace {

TEST(RouteMatch, LiteralAndParameterSegments) {
  PathParams p;
  EXPECT_TRUE(MatchRoute("/api/v1/runs", "/api/v1/runs", &p));
  EXPECT_FALSE(MatchRoute("/api/v1/runs", "/api/v1/runs/", &p));
  ASSERT_TRUE(MatchRoute("/api/v1/runs/{id}", "/api/v1/runs/42", &p));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].first, "id");
  EXPECT_EQ(p[0].second, "42");
  EXPECT_FALSE(MatchRoute("/api/v1/runs/{id}", "/api/v1/runs/", &p));  // empty segment
  EXPECT_FALSE(MatchRoute("/api/v1/runs/{id}", "/api/v1/runs/4/x", &p));
  EXPECT_FALSE(MatchRoute("/api/v1/runs/{id}", "/api/v1/models/4", &p));
}

TEST(RouteMatch, VerbSuffixAndDecoding) {
  PathParams p;
  ASSERT_TRUE(MatchRoute("/v1/models/{name}/labels/{label}:recommend",
                         "/v1/models/title%20recs/labels/production:recommend", &p));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].second, "title recs");
  EXPECT_EQ(p[1].second, "production");
  EXPECT_FALSE(MatchRoute("/v1/models/{name}:recommend", "/v1/models/recs:predict", &p));
  EXPECT_FALSE(MatchRoute("/v1/models/{name}:recommend", "/v1/models/:recommend", &p));
  EXPECT_FALSE(MatchRoute("/v1/models/{name}", "/v1/models/a%zz", &p));  // bad escape
  EXPECT_EQ(RouteParamCount("/v1/models/{name}/versions/{v}:predict"), 2);
  EXPECT_EQ(RouteParamCount("/api/v1/runs/compare"), 0);
}

TEST(RouteMatch, InvalidPatternsAreRefused) {
  EXPECT_NO_THROW(ValidateRoutePattern("/v1/models/{name}:predict"));
  EXPECT_THROW(ValidateRoutePattern("v1/x"), Error);
  EXPECT_THROW(ValidateRoutePattern("/v1//x"), Error);
  EXPECT_THROW(ValidateRoutePattern("//"), Error);
  EXPECT_NO_THROW(ValidateRoutePattern("/ui/"));  // a directory path: '/' after a segment
  EXPECT_TRUE(MatchRoute("/ui/", "/ui/", nullptr));
  EXPECT_FALSE(MatchRoute("/ui/", "/ui", nullptr));
  EXPECT_THROW(ValidateRoutePattern("/v1/{}"), Error);
  EXPECT_THROW(ValidateRoutePattern("/v1/{a-b}"), Error);
  EXPECT_THROW(ValidateRoutePattern("/v1/x{a}"), Error);
  EXPECT_THROW(ValidateRoutePattern("/v1/{a}{b}"), Error);
}

TEST(RouteMatch, QueryStrings) {
  PathParams q = ParseQuery("/api/v1/runs?model=recs&metric=auc%3E%3D0.7&metric=loss<1&x=a+b&&");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"model", "recs"}));
  EXPECT_EQ(q[1].second, "auc>=0.7");
  EXPECT_EQ(q[2].second, "loss<1");
  EXPECT_EQ(q[3].second, "a b");
  EXPECT_TRUE(ParseQuery("/api/v1/runs").empty());
  EXPECT_THROW(ParseQuery("/x?a=%4"), Error);
  EXPECT_EQ(*PercentDecode(PercentEncode("a b/ü?&="), false), "a b/ü?&=");
  EXPECT_EQ(PercentEncode("A-z_0.~"), "A-z_0.~");
}

}  // namespace
}  // namespace marquee
