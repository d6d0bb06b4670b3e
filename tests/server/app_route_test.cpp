// Which resource an /api target names, and which pages may call it: plain functions.

#include "server/app/app_route.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/app/cors.hpp"

namespace opencode_cache::server::app {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(AppRoute, NamesEachResourceWithItsDecodedId) {
  EXPECT_EQ(parse_app_route("/api/sessions/s1").resource, Resource::session);
  EXPECT_EQ(parse_app_route("/api/context/c").resource, Resource::context);
  EXPECT_EQ(parse_app_route("/api/metadata/m").resource, Resource::metadata);
  EXPECT_EQ(parse_app_route("/api/cache/stats").resource, Resource::cache_stats);
  EXPECT_EQ(parse_app_route("/api/cache/invalidate").resource, Resource::cache_invalidate);
  EXPECT_EQ(parse_app_route("/api/events").resource, Resource::events);
  EXPECT_EQ(parse_app_route("/api/events/x").resource, Resource::none);
  const AppRoute value = parse_app_route("/api/cache/a%2Fb%20c?wait=50&ttl=3");
  EXPECT_EQ(value.resource, Resource::cache_value);
  EXPECT_EQ(value.id, "a/b c");
  EXPECT_THAT(value.query, Contains(Pair("wait", "50")));
  EXPECT_EQ(*value.param("ttl"), "3");
  EXPECT_EQ(value.param("lease"), nullptr);
  const AppRoute lease = parse_app_route("/api/cache/k/lease");
  EXPECT_EQ(lease.resource, Resource::cache_lease);
  EXPECT_EQ(lease.id, "k");
  const AppRoute limit = parse_app_route("/api/ratelimit/user/ada");
  EXPECT_EQ(limit.resource, Resource::ratelimit);
  EXPECT_EQ(limit.type, "user");
  EXPECT_EQ(limit.id, "ada");
}

TEST(AppRoute, OtherTargetsNameNothing) {
  for (const char* target : {"/api/", "/api/sessions", "/api/sessions/a/b", "/api/cache/k/other",
                             "/api/ratelimit/user", "/api/unknown/x"}) {
    EXPECT_EQ(parse_app_route(target).resource, Resource::none) << target;
    EXPECT_EQ(parse_app_route(target).error, "") << target;
  }
}

TEST(AppRoute, UnusableIdsAreErrors) {
  EXPECT_THAT(parse_app_route("/api/sessions/").error, HasSubstr("the id is empty"));
  EXPECT_THAT(parse_app_route("/api/cache/%0a").error, HasSubstr("the key holds a control"));
  EXPECT_THAT(parse_app_route("/api/context/" + std::string(513, 'x')).error,
              HasSubstr("longer than 512"));
  EXPECT_EQ(parse_app_route("/api/context/" + std::string(512, 'x')).error, "");
  EXPECT_THAT(parse_app_route("/api/sessions/%g1").error, HasSubstr("not a valid URL path"));
  EXPECT_THAT(parse_app_route("/api/ratelimit/a:b/c").error, HasSubstr("holds ':'"));
}

const std::string* header(const http::Headers& headers, std::string_view name) {
  return http::find_header(headers, name);
}

TEST(CorsPolicy, AnswersAllowedOriginsOnly) {
  const CorsPolicy cors({"http://localhost:5173"});
  const std::string web_ui = "http://localhost:5173";
  const std::string other = "http://localhost:5174";
  EXPECT_TRUE(cors.allows(web_ui));
  EXPECT_FALSE(cors.allows(other));
  const auto allowed = cors.response_headers(&web_ui);
  ASSERT_NE(header(allowed, "access-control-allow-origin"), nullptr);
  EXPECT_EQ(*header(allowed, "access-control-allow-origin"), web_ui);
  EXPECT_EQ(*header(allowed, "vary"), "Origin");
  EXPECT_EQ(header(cors.response_headers(&other), "access-control-allow-origin"), nullptr);
  EXPECT_EQ(header(cors.response_headers(nullptr), "access-control-allow-origin"), nullptr);
  const auto preflight = cors.preflight_headers(web_ui);
  EXPECT_THAT(*header(preflight, "access-control-allow-methods"), HasSubstr("PATCH"));
}

TEST(CorsPolicy, AStarAdmitsEveryOriginWithoutVary) {
  const CorsPolicy cors({"*"});
  const std::string page = "https://anywhere.example";
  const auto headers = cors.response_headers(&page);
  EXPECT_EQ(*header(headers, "access-control-allow-origin"), "*");
  EXPECT_EQ(header(headers, "vary"), nullptr);
}

}  // namespace
}  // namespace opencode_cache::server::app
