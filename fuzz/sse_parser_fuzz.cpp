// libFuzzer target: the SSE splitter and what reads its events.
//
// The input (after a first byte that picks the cuts) is fed whole, split in two, and in small
// chunks: all three must yield the same events and the same failure, since the network may
// cut a stream anywhere; the events' raw bytes must add up to the input consumed. The events
// then go through each API's recorder and stream assembler (Chat Completions, Responses,
// Anthropic Messages), which must not crash on anything; an assembled answer converts back
// into a stream, and for Responses and Messages that stream assembles again.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/gateway/chat_completions_convert.hpp"
#include "server/gateway/chat_completions_stream.hpp"
#include "server/gateway/llm_api.hpp"
#include "server/gateway/messages_stream.hpp"
#include "server/gateway/responses_stream.hpp"
#include "server/gateway/sse_parser.hpp"

namespace {

namespace gateway = opencode_cache::server::gateway;

void require(bool ok, const char* invariant) {
  if (ok) return;
  std::fprintf(stderr, "SSE parser invariant broken: %s\n", invariant);
  std::abort();
}

struct Outcome {
  std::vector<gateway::SseEvent> events;
  bool failed = false;
  bool finished_clean = false;
  std::size_t pending = 0;
};

Outcome parse_in_chunks(std::string_view stream, std::size_t first_cut, std::size_t chunk) {
  gateway::SseParser parser({.max_event_bytes = 2048});
  Outcome outcome;
  std::size_t offset = 0;
  for (bool first = true; offset < stream.size() && !parser.failed(); first = false) {
    const auto piece = stream.substr(offset, first ? first_cut : chunk);
    offset += piece.size();
    const bool ok = parser.feed(piece, outcome.events);
    require(ok == !parser.failed(), "feed reports the failure");
  }
  outcome.pending = parser.pending_bytes();
  outcome.failed = parser.failed();
  outcome.finished_clean = parser.finish(outcome.events);
  return outcome;
}

bool same_events(const std::vector<gateway::SseEvent>& a, const std::vector<gateway::SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].raw != b[i].raw || a[i].event != b[i].event || a[i].data != b[i].data ||
        a[i].data_lines != b[i].data_lines || a[i].id != b[i].id || a[i].has_id != b[i].has_id ||
        a[i].comments != b[i].comments) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut_seed = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  const auto whole = parse_in_chunks(stream, stream.size(), stream.size());
  const auto halves =
      parse_in_chunks(stream, stream.empty() ? 0 : cut_seed % (stream.size() + 1), stream.size());
  const auto small = parse_in_chunks(stream, 1 + cut_seed % 7, 1 + cut_seed % 5);
  for (const auto* other : {&halves, &small}) {
    require(same_events(whole.events, other->events), "any chunking gives the same events");
    require(whole.failed == other->failed, "any chunking gives the same failure");
    require(whole.finished_clean == other->finished_clean, "any chunking ends the same way");
  }
  if (!whole.failed) {
    std::string joined;
    for (const auto& event : whole.events) joined += event.raw;
    // Unless the stream ends inside an event (those bytes are dropped), every byte is in one.
    require(joined.size() + (whole.finished_clean ? 0 : whole.pending) == stream.size(),
            "the events' bytes add up to the stream");
    require(std::string_view(joined) == stream.substr(0, joined.size()), "events keep the bytes");
  }

  gateway::ChatCompletionsRecorder recorder(4096);
  gateway::ResponsesRecorder responses(4096);
  gateway::MessagesRecorder messages(4096);
  for (const auto& event : whole.events) {
    recorder.observe(event);
    responses.observe(event);
    messages.observe(event);
  }
  require(!recorder.storable() || recorder.done_seen(), "storable needs [DONE]");
  require(!responses.storable() || responses.completed(), "storable needs response.completed");
  require(!messages.storable() || messages.stopped(), "storable needs message_stop");
  for (const auto api :
       {gateway::LlmApi::chat_completions, gateway::LlmApi::responses, gateway::LlmApi::messages}) {
    const auto assembled = gateway::assemble(api, stream);
    if (!assembled.ok()) continue;
    const auto synthesised = gateway::synthesise(api, assembled.body);
    if (!synthesised.ok()) continue;
    std::string again;
    for (const auto& event : synthesised.events) again += event;
    // A chat.completion without choices or usage synthesises to [DONE] alone, which has no
    // chunk to assemble; the other APIs' streams always carry their whole answer.
    if (api != gateway::LlmApi::chat_completions) {
      require(gateway::assemble(api, again).ok(), "a synthesised stream assembles");
    }
  }
  return 0;
}
