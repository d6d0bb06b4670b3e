// The SSE splitter: the same events however the bytes are cut, every byte kept, every line
// ending the format allows, and a clear stop at the size bound.

#include "server/gateway/sse_parser.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::server::gateway {
namespace {

std::vector<SseEvent> parse_all(std::string_view stream, bool* finished_clean = nullptr) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.feed(stream, events));
  const bool clean = parser.finish(events);
  if (finished_clean != nullptr) *finished_clean = clean;
  return events;
}

std::string joined_raw(const std::vector<SseEvent>& events) {
  std::string out;
  for (const auto& event : events) out += event.raw;
  return out;
}

void expect_same_events(const std::vector<SseEvent>& actual, const std::vector<SseEvent>& expected,
                        const std::string& context) {
  ASSERT_EQ(actual.size(), expected.size()) << context;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].raw, expected[i].raw) << context << " event " << i;
    EXPECT_EQ(actual[i].event, expected[i].event) << context << " event " << i;
    EXPECT_EQ(actual[i].data, expected[i].data) << context << " event " << i;
    EXPECT_EQ(actual[i].data_lines, expected[i].data_lines) << context << " event " << i;
    EXPECT_EQ(actual[i].id, expected[i].id) << context << " event " << i;
    EXPECT_EQ(actual[i].comments, expected[i].comments) << context << " event " << i;
  }
}

const std::string chat_stream =
    "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
    ": keep-alive\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
    "data: [DONE]\n\n";

TEST(SseParser, SplitsEventsAndKeepsTheirBytes) {
  bool clean = false;
  const auto events = parse_all(chat_stream, &clean);
  EXPECT_TRUE(clean);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].raw,
            "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n");
  EXPECT_EQ(events[0].data, "{\"id\":\"c1\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}");
  EXPECT_TRUE(events[1].is_comment_only());
  EXPECT_EQ(events[1].comments, std::vector<std::string>{"keep-alive"});
  EXPECT_EQ(events[3].data, "[DONE]");
  EXPECT_EQ(joined_raw(events), chat_stream);
}

TEST(SseParser, EveryTwoWaySplitGivesTheSameEvents) {
  const auto whole = parse_all(chat_stream);
  for (std::size_t cut = 0; cut <= chat_stream.size(); ++cut) {
    SseParser parser;
    std::vector<SseEvent> events;
    ASSERT_TRUE(parser.feed(std::string_view(chat_stream).substr(0, cut), events));
    ASSERT_TRUE(parser.feed(std::string_view(chat_stream).substr(cut), events));
    ASSERT_TRUE(parser.finish(events));
    expect_same_events(events, whole, "cut at " + std::to_string(cut));
  }
}

TEST(SseParser, ByteByByteGivesTheSameEventsForEveryLineEnding) {
  for (const std::string_view ending : {"\n", "\r\n", "\r"}) {
    std::string stream;
    for (const std::string_view line :
         {"event: message_start", "data: {\"a\":1}", "", ":c", "", "data:x", "data", "data:  y",
          "id: 7", "retry: 10", "", "data: [DONE]", ""}) {
      stream.append(line).append(ending);
    }
    const auto whole = parse_all(stream);
    ASSERT_EQ(whole.size(), 4u);
    EXPECT_EQ(joined_raw(whole), stream);
    SseParser parser;
    std::vector<SseEvent> events;
    for (const char byte : stream) ASSERT_TRUE(parser.feed(std::string_view(&byte, 1), events));
    ASSERT_TRUE(parser.finish(events));
    expect_same_events(events, whole, "ending " + std::to_string(ending.size()));
  }
}

TEST(SseParser, ParsesFieldsAsTheFormatSays) {
  const auto events = parse_all(
      "event: message_start\ndata: {\"a\":1}\n\n"
      "data:x\ndata\ndata:  y\nid: 7\nretry: 10\nfoo: bar\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "message_start");
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[0].data_lines, 1u);
  EXPECT_EQ(events[1].data, "x\n\n y");  // one space dropped, not two
  EXPECT_EQ(events[1].data_lines, 3u);
  EXPECT_TRUE(events[1].has_id);
  EXPECT_EQ(events[1].id, "7");
  EXPECT_TRUE(events[1].event.empty());
}

TEST(SseParser, CrlfAndCrEndingsParseLikeLf) {
  const auto lf = parse_all("data: a\n\ndata: b\n\n");
  const auto crlf = parse_all("data: a\r\n\r\ndata: b\r\n\r\n");
  const auto cr = parse_all("data: a\r\rdata: b\r\r");
  ASSERT_EQ(crlf.size(), 2u);
  ASSERT_EQ(cr.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(crlf[i].data, lf[i].data);
    EXPECT_EQ(cr[i].data, lf[i].data);
  }
  EXPECT_EQ(crlf[0].raw, "data: a\r\n\r\n");
  EXPECT_EQ(cr[1].raw, "data: b\r\r");
}

TEST(SseParser, MixedEndingsInOneStream) {
  const auto events = parse_all("data: a\r\n\ndata: b\n\r\n: c\r\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].raw, "data: a\r\n\n");
  EXPECT_EQ(events[1].raw, "data: b\n\r\n");
  EXPECT_EQ(events[2].raw, ": c\r\r\n");
}

TEST(SseParser, AnEventEndingInCrWaitsForTheNextByte) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.feed("data: a\r\r", events));
  EXPECT_TRUE(events.empty()) << "the CR may be half of a CRLF";
  ASSERT_TRUE(parser.feed("\n", events));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].raw, "data: a\r\r\n");

  ASSERT_TRUE(parser.feed("data: b\r\r", events));
  ASSERT_TRUE(parser.feed("data: c", events));  // not an LF: b is complete
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].raw, "data: b\r\r");

  ASSERT_TRUE(parser.feed("\r\r", events));
  ASSERT_TRUE(parser.finish(events));  // the end of the stream completes it
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].data, "c");
}

TEST(SseParser, BlankLinesOfTheirOwnAreKeptAsEmptyEvents) {
  const auto events = parse_all("\n\ndata: a\n\n\n");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].raw, "\n");
  EXPECT_TRUE(events[0].is_comment_only());
  EXPECT_FALSE(events[0].has_data());
  EXPECT_EQ(events[2].data, "a");
  EXPECT_EQ(events[3].raw, "\n");
}

TEST(SseParser, ATruncatedEventIsReportedByFinish) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.feed("data: a\n\ndata: {\"partial", events));
  EXPECT_EQ(events.size(), 1u);
  EXPECT_EQ(parser.pending_bytes(), std::string_view("data: {\"partial").size());
  EXPECT_FALSE(parser.finish(events));
  EXPECT_EQ(events.size(), 1u);
  EXPECT_FALSE(parser.failed());

  SseParser no_blank_line;
  ASSERT_TRUE(no_blank_line.feed("data: [DONE]\n", events));
  EXPECT_FALSE(no_blank_line.finish(events)) << "an event needs its blank line";
}

TEST(SseParser, OneByteOverTheBoundFails) {
  SseParser parser({.max_event_bytes = 16});
  std::vector<SseEvent> events;
  EXPECT_FALSE(parser.feed("data: 123456789\n\n", events));  // 17 bytes
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(parser.failed());
}

TEST(SseParser, TheBoundCountsTheWholeEvent) {
  SseParser parser({.max_event_bytes = 16});
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.feed("data: 12345678\n\n", events));  // exactly 16 bytes
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(parser.feed("data: 1234", events) && parser.feed("56789\n\n", events));
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(parser.error(), "SSE event larger than 16 bytes");
  EXPECT_FALSE(parser.feed("data: x\n\n", events));
  EXPECT_FALSE(parser.finish(events));
  EXPECT_EQ(events.size(), 1u);
}

TEST(SseParser, AnEndlessLineHitsTheBound) {
  SseParser parser({.max_event_bytes = 1000});
  std::vector<SseEvent> events;
  const std::string chunk(300, 'x');
  bool ok = true;
  for (int i = 0; i < 10 && ok; ++i) ok = parser.feed(chunk, events);
  EXPECT_FALSE(ok);
  EXPECT_TRUE(parser.failed());
  EXPECT_TRUE(events.empty());
}

TEST(SseParser, KeepsNonAsciiAndNulBytes) {
  const std::string stream("data: \xc3\xa9\0x\n\n", 12);
  const auto events = parse_all(stream);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, std::string("\xc3\xa9\0x", 4));
  EXPECT_EQ(events[0].raw, stream);
}

}  // namespace
}  // namespace opencode_cache::server::gateway
