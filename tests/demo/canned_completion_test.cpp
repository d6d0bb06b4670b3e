#include "demo/canned_completion.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace demo = opencode_cache::demo;
namespace json = boost::json;

namespace {

constexpr std::string_view kRequest =
    R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

unsigned refusal_status(std::string_view body, std::string* message = nullptr) {
  try {
    demo::parse_completion_request(body);
  } catch (const demo::DemoError& error) {
    if (message != nullptr) {
      *message = json::parse(error.body).at("error").at("message").as_string().c_str();
    }
    return error.status;
  }
  return 0;
}

json::object data_of(const std::string& event) {
  EXPECT_TRUE(event.starts_with("data: ")) << event;
  EXPECT_TRUE(event.ends_with("\n\n")) << event;
  return json::parse(event.substr(6, event.size() - 8)).as_object();
}

std::string streamed_text(const std::vector<std::string>& events) {
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    const json::object chunk = data_of(events[i]);
    const json::array& choices = chunk.at("choices").as_array();
    if (choices.empty()) continue;
    const json::object& delta = choices.at(0).at("delta").as_object();
    if (const json::value* content = delta.if_contains("content")) {
      text += content->as_string().c_str();
    }
  }
  return text;
}

}  // namespace

TEST(CannedCompletion, ReadsModelStreamAndUsageOption) {
  const demo::CompletionRequest request = demo::parse_completion_request(
      R"({"model":"gpt-x","stream":true,"stream_options":{"include_usage":true},)"
      R"("messages":[{"role":"user","content":"hello there"}]})");
  EXPECT_EQ(request.model, "gpt-x");
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_EQ(request.prompt_tokens, 3u);
}

TEST(CannedCompletion, ModelDefaultsToTheDemoModel) {
  const auto request = demo::parse_completion_request(R"({"messages":[{"role":"user"}]})");
  EXPECT_EQ(request.model, "opencode-cache-demo");
  EXPECT_FALSE(request.stream);
}

TEST(CannedCompletion, RefusesWhatOpenAIRefuses) {
  std::string message;
  EXPECT_EQ(refusal_status("not json", &message), 400u);
  EXPECT_EQ(message, "the body must be a JSON object");
  EXPECT_EQ(refusal_status("[1]"), 400u);
  EXPECT_EQ(refusal_status(R"({"model":"m"})", &message), 400u);
  EXPECT_EQ(message, "'messages' must be a non-empty array");
  EXPECT_EQ(refusal_status(R"({"messages":[]})"), 400u);
  EXPECT_EQ(refusal_status(R"({"model":3,"messages":[{}]})", &message), 400u);
  EXPECT_EQ(message, "'model' must be a non-empty string");
  EXPECT_EQ(refusal_status(R"({"stream":"yes","messages":[{}]})", &message), 400u);
  EXPECT_EQ(message, "'stream' must be a boolean");
  EXPECT_EQ(refusal_status(R"({"stream_options":{"include_usage":1},"messages":[{}]})"), 400u);
}

TEST(CannedCompletion, JsonAnswerIsAFinishedChatCompletion) {
  const auto request = demo::parse_completion_request(kRequest);
  const json::object answer = json::parse(demo::completion_json(request)).as_object();
  EXPECT_EQ(answer.at("object"), "chat.completion");
  EXPECT_EQ(answer.at("model"), "m");
  const json::object& choice = answer.at("choices").at(0).as_object();
  EXPECT_EQ(choice.at("finish_reason"), "stop");
  EXPECT_EQ(choice.at("message").at("role"), "assistant");
  const json::object& usage = answer.at("usage").as_object();
  EXPECT_EQ(usage.at("total_tokens").as_int64(),
            usage.at("prompt_tokens").as_int64() + usage.at("completion_tokens").as_int64());
}

TEST(CannedCompletion, StreamSaysTheSameWordByWordThenStopsAndEnds) {
  const auto request = demo::parse_completion_request(kRequest);
  const std::vector<std::string> events = demo::completion_events(request);
  ASSERT_GT(events.size(), 10u);
  EXPECT_EQ(events.back(), "data: [DONE]\n\n");
  const json::object last = data_of(events[events.size() - 2]);
  EXPECT_EQ(last.at("choices").at(0).at("finish_reason"), "stop");
  EXPECT_FALSE(last.contains("usage"));
  const json::object whole = json::parse(demo::completion_json(request)).as_object();
  EXPECT_EQ(streamed_text(events),
            whole.at("choices").at(0).at("message").at("content").as_string().c_str());
}

TEST(CannedCompletion, StreamEndsWithUsageWhenAskedFor) {
  auto request = demo::parse_completion_request(kRequest);
  request.include_usage = true;
  const std::vector<std::string> events = demo::completion_events(request);
  const json::object usage_chunk = data_of(events[events.size() - 2]);
  EXPECT_TRUE(usage_chunk.at("choices").as_array().empty());
  EXPECT_GT(usage_chunk.at("usage").at("completion_tokens").as_int64(), 0);
}

TEST(CannedCompletion, SameRequestSameBytes) {
  const auto request = demo::parse_completion_request(kRequest);
  EXPECT_EQ(demo::completion_events(request), demo::completion_events(request));
  EXPECT_EQ(demo::completion_json(request), demo::completion_json(request));
}

TEST(CannedCompletion, ListsTheDemoModel) {
  const json::object models = json::parse(demo::models_json()).as_object();
  EXPECT_EQ(models.at("data").at(0).at("id"), "opencode-cache-demo");
}
