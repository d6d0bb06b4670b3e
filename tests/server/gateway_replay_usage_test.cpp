// OPENCODE_CACHE_REPLAY_USAGE end to end, for each API: on a hit only the events that carry a
// usage object differ from the recording, and they report the prompt as cache reads (cached)
// or nothing at all (zero).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "server/support/gateway_fixture.hpp"

namespace opencode_cache::testing {
namespace {

namespace json = boost::json;

std::vector<std::string> split_events(const std::string& stream) {
  std::vector<std::string> events;
  for (std::size_t at = 0; at < stream.size();) {
    const std::size_t end = stream.find("\n\n", at);
    if (end == std::string::npos) {
      events.push_back(stream.substr(at));
      break;
    }
    events.push_back(stream.substr(at, end + 2 - at));
    at = end + 2;
  }
  return events;
}

json::value data_of(const std::string& event) {
  const std::size_t at = event.find("data: ");
  return json::parse(event.substr(at + 6));
}

// The indexes of the events that differ; the streams must have as many events.
std::vector<std::size_t> differing(const std::string& recorded, const std::string& replayed) {
  const auto a = split_events(recorded);
  const auto b = split_events(replayed);
  EXPECT_EQ(a.size(), b.size());
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) out.push_back(i);
  }
  return out;
}

class ReplayUsageTest : public GatewayTest {
 protected:
  // The miss and the hit of one streamed request.
  std::pair<HttpResponse, HttpResponse> twice(const std::string& target, const std::string& body) {
    HttpClient http = client();
    auto first = http.post(target, body, {{"anthropic-version", "2023-06-01"}});
    auto second = http.post(target, body, {{"anthropic-version", "2023-06-01"}});
    EXPECT_EQ(first.header("x-cache"), "MISS");
    EXPECT_EQ(second.header("x-cache"), "HIT");
    return {first, second};
  }
};

TEST_F(ReplayUsageTest, CachedModeChatCompletions) {
  start({{"OPENCODE_CACHE_REPLAY_USAGE", "cached"}});
  const auto [miss, hit] = twice("/v1/chat/completions", chat_body("u", true));
  const auto changed = differing(miss.body, hit.body);
  ASSERT_EQ(changed.size(), 1u);
  const auto event = split_events(hit.body)[changed[0]];
  const auto usage = data_of(event).at("usage");
  EXPECT_EQ(usage.at("prompt_tokens_details").at("cached_tokens"), 11);
  EXPECT_EQ(usage.at("prompt_tokens"), 11);
  EXPECT_EQ(usage.at("completion_tokens"), 9);
  EXPECT_TRUE(event.starts_with("data: "));
  const auto json_hit = client().post("/v1/chat/completions", chat_body("uj", false));
  const auto json_again = client().post("/v1/chat/completions", chat_body("uj", false));
  EXPECT_EQ(
      json::parse(json_again.body).at("usage").at("prompt_tokens_details").at("cached_tokens"), 11);
  EXPECT_FALSE(
      json::parse(json_hit.body).at("usage").as_object().contains("prompt_tokens_details"));
}

TEST_F(ReplayUsageTest, CachedModeResponses) {
  start({{"OPENCODE_CACHE_REPLAY_USAGE", "cached"}});
  const auto [miss, hit] = twice("/v1/responses", responses_body("u", true));
  const auto changed = differing(miss.body, hit.body);
  ASSERT_EQ(changed.size(), 1u);
  const auto event = split_events(hit.body)[changed[0]];
  EXPECT_TRUE(event.starts_with("event: response.completed\ndata: "));
  const auto response = data_of(event).at("response");
  EXPECT_EQ(response.at("usage").at("input_tokens_details").at("cached_tokens"), 11);
  EXPECT_EQ(response.at("usage").at("input_tokens"), 11);
  EXPECT_EQ(response.at("usage").at("output_tokens"), 9);
  // Everything else in the event is the recording's, encrypted reasoning included.
  EXPECT_EQ(response.at("output"),
            data_of(split_events(miss.body)[changed[0]]).at("response").at("output"));
}

TEST_F(ReplayUsageTest, CachedModeMessagesMovesThePromptToCacheReads) {
  start({{"OPENCODE_CACHE_REPLAY_USAGE", "cached"}});
  const auto [miss, hit] = twice("/v1/messages", messages_body("u", true));
  // message_delta carries only output_tokens: nothing to move, so it stays as recorded.
  const auto changed = differing(miss.body, hit.body);
  ASSERT_EQ(changed.size(), 1u);
  const auto event = split_events(hit.body)[changed[0]];
  EXPECT_TRUE(event.starts_with("event: message_start\ndata: "));
  const auto usage = data_of(event).at("message").at("usage");
  EXPECT_EQ(usage.at("input_tokens"), 0);
  EXPECT_EQ(usage.at("cache_creation_input_tokens"), 0);
  EXPECT_EQ(usage.at("cache_read_input_tokens"), 11);
  EXPECT_EQ(usage.at("output_tokens"), 1);
}

TEST_F(ReplayUsageTest, ZeroModeClearsEveryCountOfEachApi) {
  start({{"OPENCODE_CACHE_REPLAY_USAGE", "zero"}});
  const auto [chat_miss, chat_hit] = twice("/v1/chat/completions", chat_body("z", true));
  EXPECT_EQ(differing(chat_miss.body, chat_hit.body).size(), 1u);
  EXPECT_THAT(chat_hit.body,
              ::testing::HasSubstr(
                  R"("usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0})"));

  const auto [responses_miss, responses_hit] = twice("/v1/responses", responses_body("z", true));
  const auto responses_changed = differing(responses_miss.body, responses_hit.body);
  ASSERT_EQ(responses_changed.size(), 1u);
  const auto usage =
      data_of(split_events(responses_hit.body)[responses_changed[0]]).at("response").at("usage");
  EXPECT_EQ(usage.at("input_tokens"), 0);
  EXPECT_EQ(usage.at("total_tokens"), 0);
  EXPECT_EQ(usage.at("output_tokens_details").at("reasoning_tokens"), 0);

  const auto [messages_miss, messages_hit] = twice("/v1/messages", messages_body("z", true));
  const auto messages_changed = differing(messages_miss.body, messages_hit.body);
  ASSERT_EQ(messages_changed.size(), 2u);  // message_start and message_delta
  const auto events = split_events(messages_hit.body);
  EXPECT_EQ(data_of(events[messages_changed[0]]).at("message").at("usage").at("input_tokens"), 0);
  EXPECT_EQ(data_of(events[messages_changed[1]]).at("usage").at("output_tokens"), 0);
}

TEST_F(ReplayUsageTest, OriginalModeReplaysTheRecordingUnchanged) {
  start({{"OPENCODE_CACHE_REPLAY_USAGE", "original"}});
  for (const auto& [target, body] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/chat/completions", chat_body("o", true)},
           {"/v1/responses", responses_body("o", true)},
           {"/v1/messages", messages_body("o", true)}}) {
    const auto [miss, hit] = twice(target, body);
    EXPECT_EQ(hit.body, miss.body) << target;
  }
}

}  // namespace
}  // namespace opencode_cache::testing
