// Responses answers convert between a stream and a JSON body, keeping every item intact.

#include "server/gateway/responses_convert.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "server/gateway/responses_stream.hpp"
#include "server/gateway/sse_parser.hpp"

namespace opencode_cache::server::gateway {
namespace {

namespace json = boost::json;

const std::string response =
    R"({"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"m","output":[)"
    R"({"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"think"}],"encrypted_content":"gAAA+/=="},)"
    R"({"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]},{"type":"refusal","refusal":"no"}]},)"
    R"({"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"a\":1}","call_id":"c1","name":"read"},)"
    R"({"id":"ws_1","type":"web_search_call","status":"completed"}],)"
    R"("usage":{"input_tokens":5,"output_tokens":2,"total_tokens":7}})";

std::string joined(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& e : events) out += e;
  return out;
}

std::vector<json::object> payloads(const std::string& stream) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(stream, events);
  parser.finish(events);
  std::vector<json::object> out;
  for (const auto& e : events) {
    auto payload = json::parse(e.data).as_object();
    EXPECT_EQ(payload.at("type").as_string(), e.event) << "event name and type agree";
    out.push_back(std::move(payload));
  }
  return out;
}

TEST(ResponsesConvert, SynthesisedStreamAssemblesBackToTheResponse) {
  const auto stream = synthesise_responses_stream(response);
  ASSERT_TRUE(stream.ok()) << stream.error;
  const auto assembled = assemble_response(joined(stream.events));
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  EXPECT_EQ(json::parse(assembled.body), json::parse(response));
}

TEST(ResponsesConvert, SynthesisedStreamIsOneTheRecorderWouldStore) {
  const auto stream = synthesise_responses_stream(response);
  ASSERT_TRUE(stream.ok());
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(joined(stream.events), events);
  ASSERT_TRUE(parser.finish(events));
  ResponsesRecorder recorder;
  for (auto& e : events) recorder.observe(std::move(e));
  EXPECT_TRUE(recorder.storable());
  EXPECT_EQ(recorder.usage()->total_tokens, 7u);
}

TEST(ResponsesConvert, SynthesisedEventsAnnounceItemsBeforeTheirDeltas) {
  const auto stream = synthesise_responses_stream(response);
  const auto events = payloads(joined(stream.events));
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().at("type"), "response.created");
  EXPECT_EQ(events.front().at("response").at("status"), "in_progress");
  EXPECT_TRUE(events.front().at("response").at("output").as_array().empty());
  EXPECT_EQ(events.back().at("type"), "response.completed");
  std::int64_t sequence = 0;
  std::vector<std::string> announced;
  for (const auto& e : events) {
    EXPECT_EQ(e.at("sequence_number"), sequence++);
    const std::string type(e.at("type").as_string());
    if (type == "response.output_item.added") {
      announced.emplace_back(e.at("item").at("id").as_string());
      EXPECT_EQ(e.at("item").as_object().contains("encrypted_content"),
                e.at("item").at("type") == "reasoning");
    } else if (e.contains("item_id")) {
      EXPECT_EQ(std::string(e.at("item_id").as_string()), announced.back()) << type;
    }
    if (type == "response.output_item.done" && e.at("item").at("type") == "function_call") {
      EXPECT_EQ(e.at("item").at("status"), "completed");
      EXPECT_EQ(e.at("item").at("arguments"), "{\"a\":1}");
    }
    if (type == "response.output_text.delta") {
      EXPECT_EQ(e.at("delta"), "Hi");
    }
    if (type == "response.refusal.delta") {
      EXPECT_EQ(e.at("delta"), "no");
    }
    if (type == "response.reasoning_summary_text.delta") {
      EXPECT_EQ(e.at("delta"), "think");
    }
  }
  EXPECT_EQ(announced, (std::vector<std::string>{"rs_1", "msg_1", "fc_1", "ws_1"}));
}

TEST(ResponsesConvert, AssemblyFillsMissingOutputFromFinishedItems) {
  const std::string stream =
      "event: response.output_item.done\ndata: "
      R"({"type":"response.output_item.done","sequence_number":0,"output_index":1,"item":{"id":"b"}})"
      "\n\nevent: response.output_item.done\ndata: "
      R"({"type":"response.output_item.done","sequence_number":1,"output_index":0,"item":{"id":"a"}})"
      "\n\nevent: response.completed\ndata: "
      R"({"type":"response.completed","sequence_number":2,"response":{"id":"r","status":"completed","output":[]}})"
      "\n\n";
  const auto assembled = assemble_response(stream);
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  EXPECT_EQ(json::parse(assembled.body),
            json::parse(R"({"id":"r","status":"completed","output":[{"id":"a"},{"id":"b"}]})"));
}

TEST(ResponsesConvert, AssemblyRefusesUnfinishedAndFailedStreams) {
  EXPECT_EQ(assemble_response("").error, "stream has no response.completed");
  EXPECT_EQ(assemble_response("data: {\"type\":\"error\",\"message\":\"x\"}\n\n").error,
            "stream carries an upstream failure (error)");
  EXPECT_EQ(assemble_response("data: {\"type\":\"response.incomplete\",\"response\":{}}\n\n").error,
            "stream carries an upstream failure (response.incomplete)");
  EXPECT_EQ(assemble_response("data: nope\n\n").error, "stream event is not a JSON object");
}

TEST(ResponsesConvert, SynthesisRefusesWhatIsNotACompletedResponse) {
  EXPECT_EQ(synthesise_responses_stream("[]").error, "response is not a JSON object");
  EXPECT_EQ(synthesise_responses_stream(R"({"status":"incomplete","output":[]})").error,
            "response status incomplete is not completed");
  EXPECT_EQ(synthesise_responses_stream(R"({"status":"completed"})").error,
            "response without output");
  EXPECT_EQ(synthesise_responses_stream(R"({"output":[1]})").error,
            "output item that is not an object");
}

}  // namespace
}  // namespace opencode_cache::server::gateway
