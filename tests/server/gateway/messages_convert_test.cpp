// Anthropic Messages answers convert between a stream and a JSON body, keeping thinking
// signatures and tool input intact.

#include "server/gateway/messages_convert.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "server/gateway/messages_stream.hpp"
#include "server/gateway/sse_parser.hpp"

namespace opencode_cache::server::gateway {
namespace {

namespace json = boost::json;

const std::string message =
    R"({"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[)"
    R"({"type":"thinking","thinking":"hmm","signature":"Eq+/=="},)"
    R"({"type":"redacted_thinking","data":"abc"},)"
    R"({"type":"text","text":"Hi","citations":[{"type":"char_location","cited_text":"x"}]},)"
    R"({"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"a","n":[1,2]}}],)"
    R"("stop_reason":"tool_use","stop_sequence":null,)"
    R"("usage":{"input_tokens":6,"cache_read_input_tokens":3,"output_tokens":9}})";

std::string joined(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& e : events) out += e;
  return out;
}

TEST(MessagesConvert, SynthesisedStreamAssemblesBackToTheMessage) {
  const auto stream = synthesise_messages_stream(message);
  ASSERT_TRUE(stream.ok()) << stream.error;
  const auto assembled = assemble_message(joined(stream.events));
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  EXPECT_EQ(json::parse(assembled.body), json::parse(message));
}

TEST(MessagesConvert, SynthesisedStreamUsesKnownEventsAndIsStorable) {
  const auto stream = synthesise_messages_stream(message);
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(joined(stream.events), events);
  ASSERT_TRUE(parser.finish(events));
  const std::vector<std::string> known = {"message_start",       "content_block_start",
                                          "content_block_delta", "content_block_stop",
                                          "message_delta",       "message_stop"};
  for (const auto& e : events) {
    EXPECT_NE(std::find(known.begin(), known.end(), e.event), known.end()) << e.event;
    const auto payload = json::parse(e.data);
    EXPECT_EQ(payload.at("type").as_string(), e.event);
    if (e.event == "message_start") {
      EXPECT_TRUE(payload.at("message").at("content").as_array().empty());
      EXPECT_TRUE(payload.at("message").at("usage").at("input_tokens").is_number());
    }
    if (e.event == "message_delta") {
      EXPECT_EQ(payload.at("usage").at("output_tokens"), 9);
    }
  }
  MessagesRecorder recorder;
  for (auto& e : events) recorder.observe(std::move(e));
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(recorder.stop_reason(), "tool_use");
}

TEST(MessagesConvert, AssemblyConcatenatesDeltasAndParsesToolInput) {
  const std::string stream =
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"id":"m","type":"message","content":[],"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}})"
      "\n\nevent: content_block_start\ndata: "
      R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"[1]}"}})"
      "\n\nevent: message_delta\ndata: "
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}})"
      "\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  const auto assembled = assemble_message(stream);
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  EXPECT_EQ(
      json::parse(assembled.body),
      json::parse(
          R"({"id":"m","type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":[1]}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":5}})"));
}

TEST(MessagesConvert, AssemblyRefusesBrokenStreams) {
  EXPECT_EQ(assemble_message("").error, "stream has no message_start");
  EXPECT_EQ(
      assemble_message("data: {\"type\":\"error\",\"error\":{\"message\":\"Overloaded\"}}\n\n")
          .error,
      "stream carries an upstream error: Overloaded");
  EXPECT_EQ(assemble_message("data: [1]\n\n").error, "stream event is not a JSON object");
  EXPECT_EQ(assemble_message(
                "data: {\"type\":\"message_start\",\"message\":{\"content\":[]}}\n\n"
                "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                "\"tool_use\"}}\n\n"
                "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_"
                "json_delta\",\"partial_json\":\"{\\\"a\"}}\n\n")
                .error,
            "tool input in stream is not JSON");
}

TEST(MessagesConvert, SynthesisRefusesWhatIsNotAMessage) {
  EXPECT_EQ(synthesise_messages_stream("nope").error, "message is not a JSON object");
  EXPECT_EQ(synthesise_messages_stream(R"({"type":"error","error":{}})").error,
            "not a message with content");
  EXPECT_EQ(synthesise_messages_stream(R"({"type":"message","content":[1]})").error,
            "content block that is not an object");
}

}  // namespace
}  // namespace opencode_cache::server::gateway
