// GET /: the dashboard page, served from the binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(GatewayTest, DashboardIsOnePageThatTalksOnlyToTheGateway) {
  start();
  const auto page = client().request("GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_THAT(page.header("content-security-policy"), HasSubstr("connect-src 'self'"));
  EXPECT_THAT(page.header("content-security-policy"), HasSubstr("default-src 'none'"));
  EXPECT_THAT(page.body, HasSubstr("<title>opencode-cache</title>"));
  // What it reads, all from the gateway: no script or style from anywhere else.
  EXPECT_THAT(page.body, HasSubstr("fetch('/metrics'"));
  EXPECT_THAT(page.body, HasSubstr("'/api/cache/stats'"));
  EXPECT_THAT(page.body, ::testing::Not(HasSubstr("<script src")));
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
}

TEST_F(GatewayTest, DashboardAnswersOnlyGet) {
  start();
  const auto post = client().request("POST", "/", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), "GET");
}

TEST_F(GatewayTest, DashboardRequestsAreCountedUnderTheirRoute) {
  start();
  client().request("GET", "/");
  EXPECT_THAT(client().request("GET", "/metrics").body,
              HasSubstr(R"(opencode_cache_requests_total{route="/",status="200")"));
}

}  // namespace
}  // namespace opencode_cache::testing
