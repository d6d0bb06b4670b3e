// Canonical JSON: one spelling per meaning, idempotent, and a body parser that says what is
// wrong with a malformed request.

#include "server/gateway/canonical_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace opencode_cache::server::gateway {
namespace {

std::string canonical_of(std::string_view text) {
  auto parsed = parse_request_json(text);
  EXPECT_TRUE(parsed.ok()) << parsed.error << " in " << text;
  return canonical_json(parsed.value);
}

TEST(CanonicalJson, SortsKeysByBytesAtEveryLevel) {
  EXPECT_EQ(canonical_of(R"({"b":1,"a":{"z":[{"y":1,"x":2}],"c":null},"B":true})"),
            R"({"B":true,"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1})");
}

TEST(CanonicalJson, SortsNonAsciiKeysByUtf8Bytes) {
  // "é" (0xC3 0xA9) sorts after every ASCII key, "z" included.
  EXPECT_EQ(canonical_of("{\"\xc3\xa9\":1,\"z\":2,\"a\":3}"), "{\"a\":3,\"z\":2,\"\xc3\xa9\":1}");
}

TEST(CanonicalJson, DropsInsignificantWhitespace) {
  EXPECT_EQ(canonical_of(" {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : \"x y\" } \n"),
            R"({"a":[1,2],"b":"x y"})");
}

TEST(CanonicalJson, KeepsArrayOrder) {
  EXPECT_EQ(canonical_of("[3,1,2]"), "[3,1,2]");
}

TEST(CanonicalJson, EscapesStringsMinimally) {
  EXPECT_EQ(
      canonical_of(R"(["\u0041\/\u00e9\ud83d\ude00", "\"\\", "\b\f\n\r\t\u0001\u001F\u007f"])"),
      "[\"A/\xc3\xa9\xf0\x9f\x98\x80\",\"\\\"\\\\\",\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"]");
}

TEST(CanonicalJson, EscapesAtEveryPositionOfALongString) {
  // The escape scan goes eight bytes at a time: every byte that needs an escape, at every
  // offset within and across those words, must be found.
  for (const char special : {'"', '\\', '\n', '\x01', '\x1f', '\0'}) {
    for (std::size_t at = 0; at < 24; ++at) {
      std::string text(24, 'a');
      text[at] = special;
      text[23 - at / 2] = '\xc3';  // a byte above 0x7f is never escaped
      std::string expected_body;
      for (const char c : text) {
        if (c == special) {
          std::string escaped;
          append_canonical_string(std::string_view(&c, 1), escaped);
          expected_body += escaped.substr(1, escaped.size() - 2);
        } else {
          expected_body += c;
        }
      }
      std::string out;
      append_canonical_string(text, out);
      EXPECT_EQ(out, "\"" + expected_body + "\"") << int(special) << " at " << at;
      EXPECT_GT(out.size(), text.size() + 2) << int(special) << " at " << at;
    }
  }
}

TEST(CanonicalJson, KeepsLineSeparatorsVerbatim) {
  EXPECT_EQ(canonical_of(R"(["\u2028"])"), "[\"\xe2\x80\xa8\"]");
}

TEST(CanonicalJson, NormalisesIntegerSpellings) {
  EXPECT_EQ(canonical_of("[1, 1.0, 1e0, 10e-1, 0.1e1, 100E-2]"), "[1,1,1,1,1,1]");
  EXPECT_EQ(canonical_of("[-0, -0.0, 0e5, -0e-3]"), "[0,0,0,0]");
  EXPECT_EQ(canonical_of("[-42, -42.0, -4.2e1]"), "[-42,-42,-42]");
}

TEST(CanonicalJson, IntegerValuedDoubleAndIntegerMeet) {
  boost::json::value as_double = 7.0;
  boost::json::value as_int = std::int64_t{7};
  boost::json::value as_uint = std::uint64_t{7};
  EXPECT_EQ(canonical_json(as_double), "7");
  EXPECT_EQ(canonical_json(as_int), "7");
  EXPECT_EQ(canonical_json(as_uint), "7");
}

TEST(CanonicalJson, LargeIntegersStayDigits) {
  EXPECT_EQ(canonical_of("[9223372036854775807, -9223372036854775808, 18446744073709551615]"),
            "[9223372036854775807,-9223372036854775808,18446744073709551615]");
  // Beyond uint64 the parser reads a double; below 1e21 it prints as digits.
  EXPECT_EQ(canonical_of("[1e20, 100000000000000000000]"),
            "[100000000000000000000,100000000000000000000]");
  EXPECT_EQ(canonical_of("[1e21, 1.5e300]"), "[1e+21,1.5e+300]");
}

TEST(CanonicalJson, FractionsUseTheShortestRoundTripForm) {
  EXPECT_EQ(canonical_of("[0.1, 0.10000, 1e-1, 2.5, 1e-7, 0.30000000000000004]"),
            "[0.1,0.1,0.1,2.5,1e-07,0.30000000000000004]");
}

TEST(CanonicalJson, ShortestFormReadsBackToTheSameDouble) {
  for (const double number : {0.1, 1.0 / 3.0, 2.2250738585072014e-308, 1.7976931348623157e308,
                              5e-324, 123456.789e-200, 0.7}) {
    std::string text;
    append_canonical_number(number, text);
    const auto parsed = parse_request_json(text);
    ASSERT_TRUE(parsed.ok()) << text;
    ASSERT_TRUE(parsed.value.is_double()) << text;
    EXPECT_EQ(parsed.value.get_double(), number) << text;
  }
}

TEST(CanonicalJson, NonFiniteDoublesAreNull) {
  boost::json::value infinite = std::numeric_limits<double>::infinity();
  EXPECT_EQ(canonical_json(infinite), "null");
}

TEST(CanonicalJson, IsIdempotent) {
  for (const std::string_view text :
       {R"({"model":"gpt-4o","messages":[{"role":"user","content":"h\u00e9\n"}],"t":0.7})",
        R"([1e300, -1.5e-300, 12345678901234567890, 1e20, {"":{"":[]}}])", R"("\u0000\u001f\\\"")",
        "[true,false,null]", "{}", "[]", "0"}) {
    const auto once = canonical_of(text);
    EXPECT_EQ(canonical_of(once), once) << text;
  }
}

TEST(CanonicalJson, SkipsTopLevelMembersOnRequest) {
  const auto parsed = parse_request_json(R"({"b":{"user":1},"user":"u","a":1})");
  ASSERT_TRUE(parsed.ok());
  std::string out;
  append_canonical_object(
      parsed.value.get_object(), [](std::string_view key) { return key == "user"; }, out);
  EXPECT_EQ(out, R"({"a":1,"b":{"user":1}})");
}

TEST(CanonicalJson, SortsObjectsLargerThanTheStackBuffer) {
  boost::json::object object;
  for (int i = 99; i >= 0; --i) object[std::to_string(1000 + i)] = i;
  const auto text = canonical_json(object);
  EXPECT_TRUE(text.starts_with(R"({"1000":0,"1001":1,)")) << text;
  EXPECT_TRUE(text.ends_with(R"("1099":99})")) << text;
}

TEST(ParseRequestJson, NamesTheByteOfASyntaxError) {
  const auto parsed = parse_request_json(R"({"model": "gpt-4o",, "x": 1})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.value.is_null());
  EXPECT_TRUE(parsed.error.starts_with("malformed JSON at byte 19: ")) << parsed.error;
}

TEST(ParseRequestJson, RejectsTruncatedBodies) {
  const auto parsed = parse_request_json(R"({"model": "gpt-4o")");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.error.starts_with("malformed JSON at byte 18: ")) << parsed.error;
}

TEST(ParseRequestJson, RejectsTrailingData) {
  const auto parsed = parse_request_json(R"({"a":1} {"b":2})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.error.starts_with("malformed JSON at byte ")) << parsed.error;
}

TEST(ParseRequestJson, AcceptsSurroundingWhitespace) {
  const auto parsed = parse_request_json(" \r\n {\"a\":1} \n\t ");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(canonical_json(parsed.value), R"({"a":1})");
}

TEST(ParseRequestJson, RejectsAnEmptyBody) {
  EXPECT_EQ(parse_request_json("").error, "malformed JSON: the request body is empty");
  EXPECT_EQ(parse_request_json("  \n").error, "malformed JSON: the request body is empty");
}

TEST(ParseRequestJson, RejectsInvalidUtf8) {
  const auto parsed = parse_request_json("{\"a\":\"\xff\"}");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.error.starts_with("malformed JSON at byte ")) << parsed.error;
}

TEST(ParseRequestJson, RejectsComments) {
  EXPECT_FALSE(parse_request_json("{\"a\":1 /* x */}").ok());
  EXPECT_FALSE(parse_request_json("[1,]").ok());
}

TEST(ParseRequestJson, BoundsTheSize) {
  const auto parsed = parse_request_json(R"({"a":"0123456789"})", {.max_bytes = 10});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error, "request body of 18 bytes exceeds the limit of 10 bytes");
  EXPECT_TRUE(parse_request_json(R"({"a":"01"})", {.max_bytes = 10}).ok());
}

TEST(ParseRequestJson, BoundsTheDepth) {
  const std::string deep = std::string(5, '[') + std::string(5, ']');
  EXPECT_TRUE(parse_request_json(deep, {.max_depth = 5}).ok());
  const auto parsed = parse_request_json(deep, {.max_depth = 4});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error, "malformed JSON: nesting deeper than 4 levels");
}

TEST(ParseRequestJson, SurvivesVeryDeepInput) {
  const std::string deep(100000, '[');
  EXPECT_FALSE(parse_request_json(deep).ok());
}

}  // namespace
}  // namespace opencode_cache::server::gateway
