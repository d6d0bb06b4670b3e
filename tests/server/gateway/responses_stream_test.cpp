// The Responses recorder stores only a stream that reached response.completed, and keeps it
// byte for byte.

#include "server/gateway/responses_stream.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::server::gateway {
namespace {

std::string event(const std::string& type, const std::string& fields) {
  return "event: " + type + "\ndata: {\"type\":\"" + type + "\"," + fields + "}\n\n";
}

const std::string created =
    event("response.created",
          R"("sequence_number":0,"response":{"id":"r","status":"in_progress","usage":null})");
const std::string reasoning_done = event(
    "response.output_item.done",
    R"("sequence_number":1,"output_index":0,"item":{"id":"rs","type":"reasoning","summary":[],"encrypted_content":"gAAA+/=="})");
const std::string delta =
    event("response.output_text.delta",
          R"("sequence_number":2,"item_id":"m","output_index":1,"content_index":0,"delta":"Hi")");
const std::string completed = event(
    "response.completed",
    R"("sequence_number":3,"response":{"id":"r","status":"completed","usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":15}})");

ResponsesRecorder record(const std::string& stream,
                         std::size_t cap = RecordedEvents::default_max_bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.feed(stream, events));
  parser.finish(events);
  ResponsesRecorder recorder(cap);
  for (auto& e : events) recorder.observe(std::move(e));
  return recorder;
}

std::string joined(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& e : events) out += e;
  return out;
}

TEST(ResponsesRecorder, ACompletedStreamIsStorableAndKeptVerbatim) {
  const auto stream = created + ": keep-alive\n\n" + reasoning_done + delta + completed;
  auto recorder = record(stream);
  EXPECT_TRUE(recorder.storable());
  EXPECT_TRUE(recorder.completed());
  EXPECT_FALSE(recorder.failed());
  ASSERT_EQ(recorder.events().size(), 5u);
  EXPECT_EQ(joined(recorder.events()), stream);
  EXPECT_EQ(recorder.recorded_bytes(), stream.size());
}

TEST(ResponsesRecorder, CapturesTheUsageOfResponseCompleted) {
  const auto recorder = record(created + completed);
  ASSERT_TRUE(recorder.usage().has_value());
  EXPECT_EQ(*recorder.usage(), (TokenUsage{12, 3, 15, 4, 1}));
}

TEST(ResponsesRecorder, WithoutResponseCompletedNothingIsStored) {
  const auto recorder = record(created + reasoning_done + delta);
  EXPECT_FALSE(recorder.storable());
  EXPECT_FALSE(recorder.failed());
}

TEST(ResponsesRecorder, FailedAndIncompleteResponsesAreFailures) {
  const auto failed = record(
      created +
      event(
          "response.failed",
          R"("sequence_number":1,"response":{"status":"failed","error":{"code":"server_error","message":"boom"}})"));
  EXPECT_FALSE(failed.storable());
  EXPECT_EQ(failed.failure(), "response failed: boom");
  const auto incomplete = record(
      created +
      event(
          "response.incomplete",
          R"("sequence_number":1,"response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}})"));
  EXPECT_FALSE(incomplete.storable());
  EXPECT_EQ(incomplete.failure(), "response incomplete: max_output_tokens");
}

TEST(ResponsesRecorder, AnErrorEventFailsTheStreamEvenIfCompletedFollows) {
  const auto recorder = record(
      created + event("error", R"("sequence_number":1,"code":"rate_limit","message":"slow down")") +
      completed);
  EXPECT_FALSE(recorder.storable());
  EXPECT_EQ(recorder.failure(), "upstream error in stream: slow down");
}

TEST(ResponsesRecorder, TheJsonTypeDecidesNotTheEventName) {
  // An `event:` line that disagrees with the payload: the SDK reads the payload.
  const auto renamed =
      record(created + "event: message\n" + completed.substr(completed.find("data:")));
  EXPECT_TRUE(renamed.storable());
  const auto unnamed = record(created + completed.substr(completed.find("data:")));
  EXPECT_TRUE(unnamed.storable());
}

TEST(ResponsesRecorder, MalformedPayloadsFailAndDoneIsIgnored) {
  const auto malformed =
      record(created + "event: response.output_text.delta\ndata: {\"type\n\n" + completed);
  EXPECT_FALSE(malformed.storable());
  EXPECT_EQ(malformed.failure(), "malformed event in stream: not a JSON object");
  EXPECT_TRUE(record(created + completed + "data: [DONE]\n\n").storable());
  EXPECT_TRUE(record(created + "data: [DONE]\n\n" + completed).storable());
}

TEST(ResponsesRecorder, EventsAfterCompletionAreRecordedButChangeNothing) {
  const auto late = event("error", R"("sequence_number":9,"message":"late")");
  const auto recorder = record(created + completed + late);
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(joined(recorder.events()), created + completed + late);
}

TEST(ResponsesRecorder, OverTheCapNothingIsKept) {
  const auto stream = created + delta + completed;
  auto recorder = record(stream, created.size() + delta.size());
  EXPECT_TRUE(recorder.clean());
  EXPECT_TRUE(recorder.over_cap());
  EXPECT_FALSE(recorder.storable());
  EXPECT_TRUE(recorder.events().empty());
  EXPECT_TRUE(record(stream, stream.size()).storable());
}

}  // namespace
}  // namespace opencode_cache::server::gateway
