// The gateway's hot logic, without sockets: the request key of every cached request, and the
// recorder every upstream stream passes through.
//
//   gateway_request_key_us     parse + canonicalise + SHA-256 of a 40 KB opencode-shaped chat
//                              request, beside the naive key (Boost.JSON parse + serialize +
//                              SHA-256: not independent of key order, the floor to beat);
//   gateway_record_mb_s        SSE splitting + Chat Completions recording of a 200-chunk
//                              stream fed in 16 KiB pieces, beside Boost.JSON parsing the same
//                              chunk payloads alone;
//   gateway_entry_decode_us    decoding that stream's stored entry (views, no copies).
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "bench_report.hpp"
#include "server/gateway/canonical_json.hpp"
#include "server/gateway/chat_completions_stream.hpp"
#include "server/gateway/request_key.hpp"
#include "server/gateway/sha256.hpp"
#include "server/gateway/sse_parser.hpp"
#include "server/gateway/stored_response.hpp"

namespace {

namespace gateway = opencode_cache::server::gateway;
namespace bench = opencode_cache::bench;
namespace json = boost::json;

constexpr int runs = 7;

std::string prose(std::size_t size, unsigned seed) {
  static constexpr std::string_view words[] = {"the ",        "file ",       "src/main.cpp ",
                                               "\"quoted\" ", "line\n",      "function ",
                                               "tab\t",       "caf\xc3\xa9 "};
  std::string text;
  while (text.size() < size) text += words[(seed = seed * 1103515245 + 12345) >> 16 & 7];
  return text;
}

// A chat request shaped like opencode's: a long system prompt, a conversation, sorted tools.
std::string opencode_request() {
  json::array messages;
  messages.push_back({{"role", "system"}, {"content", prose(12000, 1)}});
  for (unsigned i = 0; i < 20; ++i) {
    messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", prose(800, i + 2)}});
  }
  json::array tools;
  for (const char* name : {"bash", "edit", "glob", "grep", "list", "read", "task", "todoread",
                           "todowrite", "webfetch", "write"}) {
    tools.push_back({{"type", "function"},
                     {"function",
                      {{"name", name},
                       {"description", prose(600, name[0])},
                       {"parameters",
                        {{"type", "object"},
                         {"properties",
                          {{"path", {{"type", "string"}, {"description", "Absolute path"}}},
                           {"limit", {{"type", "number"}}}}},
                         {"required", json::array{"path"}}}}}}});
  }
  json::object body{{"model", "claude-sonnet-4"},
                    {"messages", std::move(messages)},
                    {"tools", std::move(tools)},
                    {"temperature", 0.0},
                    {"stream", true},
                    {"stream_options", {{"include_usage", true}}},
                    {"prompt_cache_key", "ses_0123456789"}};
  return json::serialize(body);
}

std::string chat_stream(int chunks) {
  std::string stream;
  const std::string head =
      R"({"id":"chatcmpl-0123456789","object":"chat.completion.chunk","created":1764619200,"model":"m","choices":[{"index":0,"delta":{"content":)";
  for (int i = 0; i < chunks; ++i) {
    stream += "data: " + head + json::serialize(json::value(prose(40, i))) +
              R"(},"logprobs":null,"finish_reason":null}]})" + "\n\n";
  }
  stream += "data: " + head + R"(""},"logprobs":null,"finish_reason":"stop"}]})" + "\n\n";
  stream +=
      R"(data: {"id":"chatcmpl-0123456789","object":"chat.completion.chunk","created":1764619200,"model":"m","choices":[],"usage":{"prompt_tokens":9000,"completion_tokens":200,"total_tokens":9200}})"
      "\n\n";
  stream += "data: [DONE]\n\n";
  return stream;
}

template <class Work>
double median_us_per_call(int calls, Work&& work) {
  std::vector<double> samples;
  for (int run = 0; run < runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) work();
    const std::chrono::duration<double, std::micro> elapsed =
        std::chrono::steady_clock::now() - start;
    samples.push_back(elapsed.count() / calls);
  }
  return bench::median(samples);
}

// Results land here so that the compiler cannot drop the work.
std::atomic<std::size_t> sink{0};

}  // namespace

int main(int argc, char** argv) {
  bench::Report report(bench::has_flag(argc, argv, "--json"));

  const auto request = opencode_request();
  const auto volatile_fields =
      gateway::VolatileFields::defaults_for(gateway::api::chat_completions);
  const gateway::KeyInput input{.api = gateway::api::chat_completions,
                                .provider = "default",
                                .scope = "0123456789abcdef0123456789abcdef"};
  const double key_us = median_us_per_call(300, [&] {
    const auto parsed = gateway::parse_request_json(request);
    sink.fetch_add(gateway::request_key(input, parsed.value, volatile_fields).size(),
                   std::memory_order_relaxed);
  });
  const double naive_us = median_us_per_call(300, [&] {
    sink.fetch_add(gateway::sha256_hex(json::serialize(json::parse(request))).size(),
                   std::memory_order_relaxed);
  });
  report.add("gateway_request_key_us", key_us, "us", "naive_parse_serialize_sha256_us", naive_us);

  const auto stream = chat_stream(200);
  constexpr std::size_t piece = 16 * 1024;
  const double record_us = median_us_per_call(200, [&] {
    gateway::SseParser parser;
    gateway::ChatCompletionsRecorder recorder;
    std::vector<gateway::SseEvent> events;
    for (std::size_t offset = 0; offset < stream.size(); offset += piece) {
      parser.feed(std::string_view(stream).substr(offset, piece), events);
      for (auto& event : events) recorder.observe(std::move(event));
      events.clear();
    }
    sink.fetch_add(recorder.storable(), std::memory_order_relaxed);
  });
  std::vector<std::string> payloads;
  {
    gateway::SseParser parser;
    std::vector<gateway::SseEvent> events;
    parser.feed(stream, events);
    for (const auto& event : events) {
      if (event.data != "[DONE]") payloads.push_back(event.data);
    }
  }
  const double parse_only_us = median_us_per_call(200, [&] {
    for (const auto& payload : payloads)
      sink.fetch_add(json::parse(payload).is_object(), std::memory_order_relaxed);
  });
  const double megabytes = static_cast<double>(stream.size()) / 1e6;
  report.add("gateway_record_mb_s", megabytes / (record_us / 1e6), "MB/s",
             "boost_json_parse_chunks_mb_s", megabytes / (parse_only_us / 1e6));

  gateway::StoredResponse entry;
  entry.kind = gateway::StoredKind::sse;
  entry.content_type = "text/event-stream";
  {
    gateway::SseParser parser;
    std::vector<gateway::SseEvent> events;
    parser.feed(stream, events);
    for (const auto& event : events) entry.append_event(event.raw);
  }
  const auto encoded = gateway::encode_stored_response(entry);
  const double decode_us = median_us_per_call(2000, [&] {
    const auto decoded = gateway::decode_stored_response(encoded);
    sink.fetch_add(decoded.entry.events().size(), std::memory_order_relaxed);
  });
  report.add("gateway_entry_decode_us", decode_us, "us");

  report.print(std::cout);
  return 0;
}
