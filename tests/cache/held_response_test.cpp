// The decoded form of a response entry kept in the near cache answers exactly the prompt and
// model it was made for.
#include "cache/held_response.hpp"

#include <gtest/gtest.h>

namespace {

using opencode_cache::cache::encode_held_response;
using opencode_cache::cache::held_response_for;

TEST(HeldResponse, AnswersItsPromptAndModelOnly) {
  const std::string held = encode_held_response("prompt", "model", "the answer");
  EXPECT_EQ(held_response_for(held, "prompt", "model"), "the answer");
  EXPECT_EQ(held_response_for(held, "prompt", "other"), std::nullopt);
  EXPECT_EQ(held_response_for(held, "prompt!", "model"), std::nullopt);
  EXPECT_EQ(held_response_for(held, "promp", "model"), std::nullopt);
  // The same bytes split differently between model and prompt are another question.
  const std::string joined = encode_held_response("bc", "a", "x");
  EXPECT_EQ(held_response_for(joined, "c", "ab"), std::nullopt);
  EXPECT_EQ(held_response_for(joined, "bc", "a"), "x");
}

TEST(HeldResponse, EmptyAndBinaryPartsSurvive) {
  const std::string response("a\0b\"\\\n", 6);
  const std::string held = encode_held_response("", "", response);
  EXPECT_EQ(held_response_for(held, "", ""), response);
}

TEST(HeldResponse, NothingOrSomethingMalformedAnswersNothing) {
  EXPECT_EQ(held_response_for("", "prompt", "model"), std::nullopt);
  const std::string held = encode_held_response("prompt", "model", "answer");
  EXPECT_EQ(held_response_for(held.substr(0, 10), "prompt", "model"), std::nullopt);
  EXPECT_EQ(held_response_for(held.substr(0, 20), "prompt", "model"), std::nullopt);
}

}  // namespace
