// The fast reader of the seed's response entry must agree with a full JSON parser on
// everything it accepts, and leave everything else to it.

#include "cache/response_entry.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>

namespace opencode_cache::testing {
namespace {

using cache::read_response_entry;
using cache::ResponseEntry;

// What the general path would read: the three strings, or nullopt.
std::optional<ResponseEntry> read_with_boost_json(std::string_view text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  const auto& object = value.as_object();
  const auto text_of = [&](const char* name) -> std::optional<std::string> {
    const auto* field = object.if_contains(name);
    if (field == nullptr || !field->is_string()) return std::nullopt;
    return std::string(field->as_string());
  };
  auto prompt = text_of("prompt");
  auto model = text_of("model");
  auto response = text_of("response");
  if (!prompt || !model || !response) return std::nullopt;
  return ResponseEntry{*prompt, *model, *response};
}

void expect_same_as_boost(std::string_view text) {
  const auto fast = read_response_entry(text);
  // The matcher the hot read uses gives read_response_entry's verdict for any request.
  for (const auto& [prompt, model] : {std::pair<std::string, std::string>{"hello", "gpt-4"},
                                      {fast ? fast->prompt : "p", fast ? fast->model : "m"}}) {
    const auto match = cache::match_response_entry(text, prompt, model);
    EXPECT_EQ(match.has_value(), fast.has_value()) << text;
    if (!match || !fast) continue;
    EXPECT_EQ(match->answers, fast->prompt == prompt && fast->model == model) << text;
    if (match->answers) {
      EXPECT_EQ(match->response, fast->response) << text;
    }
  }
  if (!fast) return;  // left to the general path
  const auto slow = read_with_boost_json(text);
  ASSERT_TRUE(slow.has_value()) << "fast path accepted what JSON rejects: " << text;
  EXPECT_EQ(fast->prompt, slow->prompt) << text;
  EXPECT_EQ(fast->model, slow->model) << text;
  EXPECT_EQ(fast->response, slow->response) << text;
}

TEST(ResponseEntry, ReadsTheSeedsShape) {
  const auto entry = read_response_entry(
      R"({"prompt":"hello","model":"gpt-4","response":"Hi there","timestamp":1732400000000})");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->prompt, "hello");
  EXPECT_EQ(entry->model, "gpt-4");
  EXPECT_EQ(entry->response, "Hi there");
}

TEST(ResponseEntry, UnescapesEveryJsonEscape) {
  const auto entry = read_response_entry(
      R"( { "response" : "q\"b\\s\/b\bf\fn\nr\rt\t\u00e9\ud83d\ude00" , "model":"m", "prompt":"p" } )");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->response, "q\"b\\s/b\bf\fn\nr\rt\t\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(ResponseEntry, LeavesEverythingOutsideThePlainShapeToTheGeneralParser) {
  for (const char* text : {
           R"({"prompt":"p","model":"m"})",                                     // no response
           R"({"prompt":"p","model":"m","response":"r","extra":1})",            // another key
           R"({"prompt":"p","prompt":"q","model":"m","response":"r"})",         // a key twice
           R"({"prompt":1,"model":"m","response":"r"})",                        // not a string
           R"({"prompt":"p","model":"m","response":"r","timestamp":1.5})",      // not an integer
           R"({"prompt":"p","model":"m","response":"r","timestamp":012})",      // leading zero
           R"({"prompt":"p","model":"m","response":"\x"})",                     // unknown escape
           R"({"prompt":"p","model":"m","response":"\ud800"})",                 // lone surrogate
           R"({"prompt":"p","model":"m","response":"\udc00\ud800"})",           // pair reversed
           "{\"prompt\":\"p\",\"model\":\"m\",\"response\":\"a\nb\"}",          // raw newline
           "{\"prompt\":\"p\",\"model\":\"m\",\"response\":\"\xc0\x80\"}",      // overlong UTF-8
           "{\"prompt\":\"p\",\"model\":\"m\",\"response\":\"\xed\xa0\x80\"}",  // UTF-8 surrogate
           "{\"prompt\":\"p\",\"model\":\"m\",\"response\":\"\xe9\"}",          // cut UTF-8
           R"({"prompt":"p","model":"m","response":"r"} x)",                    // trailing bytes
           R"({"prompt":"p","model":"m","response":"r")",                       // cut short
           R"(["prompt","p"])",
           "",
           "not json",
       }) {
    EXPECT_FALSE(read_response_entry(text).has_value()) << text;
  }
}

std::string random_text(std::mt19937& random) {
  // Quotes, backslashes, controls, slashes, ASCII, two- three- and four-byte characters.
  static const std::vector<std::string> pieces = {"\"",
                                                  "\\",
                                                  "/",
                                                  "\n",
                                                  "\t",
                                                  "\x01",
                                                  "a",
                                                  "Z",
                                                  " ",
                                                  "{",
                                                  "}",
                                                  ":",
                                                  ",",
                                                  "\xc3\xa9",
                                                  "\xe2\x82\xac",
                                                  "\xf0\x9f\x98\x80",
                                                  "\\u",
                                                  "0"};
  std::string out;
  const int length = std::uniform_int_distribution<int>(0, 40)(random);
  for (int i = 0; i < length; ++i) {
    out += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(random)];
  }
  return out;
}

// JavaScript's JSON.stringify escapes differently from Boost.JSON; both must read the same.
std::string escape_as_ascii(const std::string& serialized) {
  boost::json::string_view view(serialized);
  std::string out;
  for (std::size_t i = 0; i < view.size(); ++i) {
    const auto c = static_cast<unsigned char>(view[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      continue;
    }
    // Re-encode one UTF-8 character as \u escapes (a surrogate pair above the BMP).
    std::uint32_t code = 0;
    std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    code = c & (0xFF >> (length + 1));
    for (std::size_t k = 1; k < length; ++k) code = (code << 6) | (view[i + k] & 0x3F);
    i += length - 1;
    char buffer[16];
    if (code >= 0x10000) {
      code -= 0x10000;
      std::snprintf(buffer, sizeof buffer, "\\u%04x\\u%04x", 0xD800 + (code >> 10),
                    0xDC00 + (code & 0x3FF));
    } else {
      std::snprintf(buffer, sizeof buffer, "\\u%04X", code);
    }
    out += buffer;
  }
  return out;
}

TEST(ResponseEntry, AgreesWithAFullJsonParserOnRandomEntries) {
  std::mt19937 random(20261124);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    boost::json::object entry;
    entry["prompt"] = random_text(random);
    entry["model"] = random_text(random);
    entry["response"] = random_text(random);
    entry["timestamp"] = 1732400000000 + i;
    const std::string serialized = boost::json::serialize(entry);
    for (const std::string& text : {serialized, escape_as_ascii(serialized)}) {
      const auto fast = read_response_entry(text);
      ASSERT_TRUE(fast.has_value()) << text;
      ++accepted;
      expect_same_as_boost(text);
      EXPECT_EQ(fast->response, std::string(entry["response"].as_string()));
    }
    // Random damage: whatever the fast path still accepts must match the full parser.
    std::string damaged = serialized;
    damaged[std::uniform_int_distribution<std::size_t>(0, damaged.size() - 1)(random)] =
        "\"\\{}:,x\x80"[std::uniform_int_distribution<int>(0, 7)(random)];
    expect_same_as_boost(damaged);
  }
  EXPECT_EQ(accepted, 6000);
}

// The sixteen-bytes-at-a-time scan must still see one bad byte anywhere in a block or in the
// bytes after the last block.
TEST(ResponseEntry, RefusesAControlCharacterOrStrayByteAtAnyPosition) {
  for (std::size_t at = 0; at < 40; ++at) {
    for (const char bad : {'\x01', '\x1f', '\x80', '\xff'}) {
      std::string body(40, 'a');
      body[at] = bad;
      const std::string entry = R"({"prompt":"p","model":"m","response":")" + body + R"("})";
      EXPECT_FALSE(cache::read_response_entry(entry).has_value())
          << "byte " << int(bad) << " at " << at;
    }
    std::string body(40, 'a');
    body[at] = '\x7f';  // DEL needs no escape in JSON
    const std::string entry = R"({"prompt":"p","model":"m","response":")" + body + R"("})";
    EXPECT_EQ(cache::read_response_entry(entry)->response, body);
  }
}

// And the bytes it must stop at, wherever they fall: an escape, a character of several bytes.
TEST(ResponseEntry, ReadsAnEscapeOrAMultiByteCharacterAtAnyPosition) {
  for (std::size_t at = 0; at < 40; ++at) {
    for (const auto& [stored, read] : {std::pair<std::string, std::string>{"\\\"", "\""},
                                       {"\\\\", "\\"},
                                       {"\\u00e9", "\xc3\xa9"},
                                       {"\xc3\xa9", "\xc3\xa9"},
                                       {"\xe2\x82\xac", "\xe2\x82\xac"}}) {
      const std::string body = std::string(at, 'a') + stored + std::string(40 - at, 'b');
      const std::string entry = R"({"prompt":"p","model":"m","response":")" + body + R"("})";
      const auto got = cache::read_response_entry(entry);
      ASSERT_TRUE(got.has_value()) << stored << " at " << at;
      EXPECT_EQ(got->response, std::string(at, 'a') + read + std::string(40 - at, 'b'));
      expect_same_as_boost(entry);
    }
  }
}

}  // namespace
}  // namespace opencode_cache::testing
