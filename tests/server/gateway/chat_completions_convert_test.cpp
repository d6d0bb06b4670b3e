// Stream <-> JSON conversions of Chat Completions answers: nothing of the answer lost, and
// synthesised streams shaped the way the OpenAI SDK and the AI SDK require.

#include "server/gateway/chat_completions_convert.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "server/gateway/chat_completions_stream.hpp"
#include "server/gateway/sse_parser.hpp"

namespace opencode_cache::server::gateway {
namespace {

namespace json = boost::json;

std::string data_event(std::string_view payload) {
  return "data: " + std::string(payload) + "\n\n";
}

// A stream with everything a model sends: role, reasoning, split content, two tool calls
// with split arguments, the finish_reason chunk, the usage chunk, a comment, [DONE].
std::string rich_stream() {
  const std::string head =
      R"("id":"chatcmpl-1","object":"chat.completion.chunk","created":1764619200,"model":"m-1","system_fingerprint":"fp")";
  const auto chunk = [&](std::string_view choice) {
    return data_event("{" + head + R"(,"choices":[)" + std::string(choice) + "]}");
  };
  return chunk(R"({"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null})") +
         chunk(R"({"index":0,"delta":{"reasoning_content":"Think"},"finish_reason":null})") +
         chunk(R"({"index":0,"delta":{"reasoning_content":"ing."},"finish_reason":null})") +
         ": keep-alive\n\n" +
         chunk(R"({"index":0,"delta":{"content":"Hel"},"finish_reason":null})") +
         chunk(R"({"index":0,"delta":{"content":"lo \u00e9"},"finish_reason":null})") +
         chunk(
             R"({"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read","arguments":""}}]},"finish_reason":null})") +
         chunk(
             R"({"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]},"finish_reason":null})") +
         chunk(
             R"({"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"ls","arguments":"{}"}}]},"finish_reason":null})") +
         chunk(
             R"({"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"a\"}"}}]},"finish_reason":null})") +
         chunk(R"({"index":0,"delta":{},"finish_reason":"tool_calls"})") +
         data_event(
             "{" + head +
             R"(,"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0}}})") +
         "data: [DONE]\n\n";
}

json::value parse(std::string_view text) {
  return json::parse(text);
}

TEST(AssembleChatCompletion, AssemblesEveryPartOfTheAnswer) {
  const auto assembled = assemble_chat_completion(rich_stream());
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  const auto completion = parse(assembled.body);
  EXPECT_EQ(completion, parse(R"({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1764619200, "model": "m-1",
    "system_fingerprint": "fp",
    "choices": [{
      "index": 0,
      "message": {
        "role": "assistant", "content": "Hello \u00e9", "reasoning_content": "Thinking.",
        "tool_calls": [
          {"id": "call_a", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}},
          {"id": "call_b", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
        ]
      },
      "logprobs": null,
      "finish_reason": "tool_calls"
    }],
    "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
              "prompt_tokens_details": {"cached_tokens": 0}}
  })"))
      << assembled.body;
}

TEST(AssembleChatCompletion, ContentIsNullWhenNoneCameAndReasoningKeepsItsName) {
  const auto assembled = assemble_chat_completion(
      data_event(
          R"({"id":"x","created":2,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"r"},"finish_reason":null}]})") +
      data_event(
          R"({"id":"x","created":2,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})") +
      "data: [DONE]\n\n");
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  const auto message = parse(assembled.body).at("choices").at(0).at("message");
  EXPECT_TRUE(message.at("content").is_null());
  EXPECT_EQ(message.at("reasoning"), "r");
  EXPECT_EQ(message.as_object().if_contains("reasoning_content"), nullptr);
  EXPECT_EQ(message.as_object().if_contains("tool_calls"), nullptr);
  EXPECT_EQ(parse(assembled.body).as_object().if_contains("usage"), nullptr);
}

TEST(AssembleChatCompletion, KeepsChoicesApartByIndex) {
  const auto assembled = assemble_chat_completion(
      data_event(
          R"({"id":"x","created":2,"model":"m","choices":[{"index":1,"delta":{"content":"b"},"finish_reason":null},{"index":0,"delta":{"content":"a"},"finish_reason":null}]})") +
      data_event(
          R"({"id":"x","created":2,"model":"m","choices":[{"index":0,"delta":{"content":"A"},"finish_reason":"stop"},{"index":1,"delta":{},"finish_reason":"length"}]})") +
      "data: [DONE]\n\n");
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  const auto choices = parse(assembled.body).at("choices");
  ASSERT_EQ(choices.as_array().size(), 2u);
  EXPECT_EQ(choices.at(0).at("message").at("content"), "aA");
  EXPECT_EQ(choices.at(0).at("finish_reason"), "stop");
  EXPECT_EQ(choices.at(1).at("message").at("content"), "b");
  EXPECT_EQ(choices.at(1).at("finish_reason"), "length");
}

TEST(AssembleChatCompletion, AcceptsCrlfAndNoSpace) {
  const auto assembled = assemble_chat_completion(
      "data:{\"id\":\"x\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{"
      "\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\r\n\r\ndata:[DONE]\r\n\r\n");
  ASSERT_TRUE(assembled.ok()) << assembled.error;
  EXPECT_EQ(parse(assembled.body).at("choices").at(0).at("message").at("content"), "a");
}

TEST(AssembleChatCompletion, RefusesWhatIsNotACompletion) {
  EXPECT_EQ(assemble_chat_completion("").error, "stream has no chunks");
  EXPECT_EQ(assemble_chat_completion(": only a comment\n\ndata: [DONE]\n\n").error,
            "stream has no chunks");
  EXPECT_EQ(assemble_chat_completion("data: {nope\n\n").error, "stream chunk is not a JSON object");
  EXPECT_EQ(assemble_chat_completion(data_event(R"({"error":{"message":"x"}})")).error,
            "stream carries an upstream error");
}

// What the clients check on every synthesised event (gateway-notes.md).
void expect_acceptable_to_clients(const std::vector<std::string>& events) {
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "data: [DONE]\n\n");
  std::set<std::int64_t> announced_calls;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    const auto& event = events[i];
    SseParser parser;
    std::vector<SseEvent> parsed;
    ASSERT_TRUE(parser.feed(event, parsed));
    ASSERT_TRUE(parser.finish(parsed));
    ASSERT_EQ(parsed.size(), 1u) << "one event, closed by its blank line: " << event;
    ASSERT_EQ(parsed[0].data_lines, 1u) << event;
    ASSERT_TRUE(event.ends_with("\n\n")) << event;
    const auto chunk = parse(parsed[0].data);
    EXPECT_EQ(chunk.at("object"), "chat.completion.chunk");
    EXPECT_TRUE(chunk.at("created").is_number()) << event;
    ASSERT_TRUE(chunk.at("choices").is_array()) << event;
    for (const auto& choice : chunk.at("choices").as_array()) {
      const auto& delta = choice.at("delta").as_object();
      if (const auto* role = delta.if_contains("role")) {
        EXPECT_EQ(*role, "assistant");
      }
      if (const auto* calls = delta.if_contains("tool_calls")) {
        for (const auto& call : calls->as_array()) {
          const auto index = call.at("index").as_int64();
          EXPECT_TRUE(call.at("function").at("arguments").is_string()) << event;
          if (announced_calls.insert(index).second) {
            EXPECT_TRUE(call.at("id").is_string()) << event;
            EXPECT_EQ(call.at("type"), "function") << event;
            EXPECT_TRUE(call.at("function").at("name").is_string()) << event;
          }
        }
      }
    }
  }
}

TEST(SynthesiseChatStream, EmitsTheChunksInOrder) {
  const auto stream = synthesise_chat_stream(R"({
    "id": "chatcmpl-9", "object": "chat.completion", "created": 7, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi",
                 "reasoning_content": "hmm"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
  })");
  ASSERT_TRUE(stream.ok()) << stream.error;
  const std::string base =
      R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":7,"model":"m",)";
  EXPECT_EQ(
      stream.events,
      (std::vector<std::string>{
          "data: " + base +
              R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})"
              "\n\n",
          "data: " + base +
              R"("choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"logprobs":null,"finish_reason":null}]})"
              "\n\n",
          "data: " + base +
              R"("choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]})"
              "\n\n",
          "data: " + base +
              R"("choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]})"
              "\n\n",
          "data: " + base +
              R"("choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})"
              "\n\n",
          "data: [DONE]\n\n"}));
  expect_acceptable_to_clients(stream.events);
}

TEST(SynthesiseChatStream, ToolCallsCarryIdTypeAndNameOnTheirFirstDelta) {
  const auto stream = synthesise_chat_stream(R"({
    "id": "c", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"p\":1}"}},
      {"id": "call_2", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
     "finish_reason": "tool_calls"}]
  })");
  ASSERT_TRUE(stream.ok()) << stream.error;
  ASSERT_EQ(stream.events.size(), 5u);  // role, two calls, finish, [DONE]
  EXPECT_NE(
      stream.events[1].find(
          R"("tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"p\":1}"}}])"),
      std::string::npos)
      << stream.events[1];
  EXPECT_NE(stream.events[2].find(R"("index":1,"id":"call_2")"), std::string::npos);
  EXPECT_NE(stream.events[3].find(R"("finish_reason":"tool_calls")"), std::string::npos);
  expect_acceptable_to_clients(stream.events);
}

TEST(SynthesiseChatStream, MissingCreatedBecomesANumber) {
  const auto stream = synthesise_chat_stream(
      R"({"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}]})");
  ASSERT_TRUE(stream.ok()) << stream.error;
  expect_acceptable_to_clients(stream.events);
  EXPECT_EQ(stream.events.size(), 4u) << "no usage chunk without usage";
}

TEST(SynthesiseChatStream, RefusesWhatIsNotACompletion) {
  EXPECT_EQ(synthesise_chat_stream("[]").error, "completion is not a JSON object");
  EXPECT_EQ(synthesise_chat_stream("{").error, "completion is not a JSON object");
  EXPECT_EQ(synthesise_chat_stream(R"({"id":"x"})").error, "completion without choices");
  EXPECT_EQ(synthesise_chat_stream(R"({"choices":[{"index":0}]})").error,
            "choice without a message");
  EXPECT_EQ(
      synthesise_chat_stream(R"({"choices":[{"message":{"content":[{"type":"text"}]}}]})").error,
      "message content that is not a string");
}

TEST(ChatConversions, AStreamSurvivesTheRoundTrip) {
  // stream -> JSON -> synthesised stream -> JSON: the same completion.
  const auto first = assemble_chat_completion(rich_stream());
  ASSERT_TRUE(first.ok()) << first.error;
  const auto synthesised = synthesise_chat_stream(first.body);
  ASSERT_TRUE(synthesised.ok()) << synthesised.error;
  expect_acceptable_to_clients(synthesised.events);
  std::string replay;
  for (const auto& event : synthesised.events) replay += event;
  const auto second = assemble_chat_completion(replay);
  ASSERT_TRUE(second.ok()) << second.error;
  EXPECT_EQ(parse(second.body), parse(first.body));
}

TEST(ChatConversions, ASynthesisedStreamRecordsAsClean) {
  const auto first = assemble_chat_completion(rich_stream());
  const auto synthesised = synthesise_chat_stream(first.body);
  ASSERT_TRUE(synthesised.ok());
  ChatCompletionsRecorder recorder;
  SseParser parser;
  std::vector<SseEvent> events;
  for (const auto& event : synthesised.events) ASSERT_TRUE(parser.feed(event, events));
  for (auto& event : events) recorder.observe(std::move(event));
  EXPECT_TRUE(recorder.storable());
  ASSERT_TRUE(recorder.usage().has_value());
  EXPECT_EQ(recorder.usage()->prompt_tokens, 20u);
}

}  // namespace
}  // namespace opencode_cache::server::gateway
