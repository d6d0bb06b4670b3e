// opencode-cache's command line, parsed without Valkey.
#include "cli/cli_arguments.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using namespace opencode_cache::cli;
using ::testing::HasSubstr;

Parsed parse(std::vector<std::string_view> words) {
  return parse_arguments(words);
}

TEST(CliArguments, EachCommandWithItsOperands) {
  EXPECT_EQ(parse({"ping"}).invocation->verb, Verb::ping);
  EXPECT_EQ(parse({"stats", "--json"}).invocation->json, true);
  const auto get = parse({"get", "opencode:context:c1"}).invocation;
  EXPECT_EQ(get->verb, Verb::get);
  EXPECT_EQ(get->operands, std::vector<std::string>{"opencode:context:c1"});
  EXPECT_EQ(parse({"inspect", "k"}).invocation->verb, Verb::inspect);
  EXPECT_EQ(parse({"keys", "opencode:*", "--limit", "5"}).invocation->limit, 5u);
  const auto set = parse({"session", "set", "s1", R"({"a":1})"}).invocation;
  EXPECT_EQ(set->verb, Verb::session_set);
  EXPECT_EQ(set->operands, (std::vector<std::string>{"s1", R"({"a":1})"}));
  EXPECT_EQ(parse({"session", "get", "s1"}).invocation->verb, Verb::session_get);
  const auto peek = parse({"--json", "ratelimit", "peek", "user", "ana"}).invocation;
  EXPECT_EQ(peek->verb, Verb::ratelimit_peek);
  EXPECT_TRUE(peek->json);
  EXPECT_EQ(parse({"reencrypt", "session"}).invocation->verb, Verb::reencrypt);
}

TEST(CliArguments, InvalidateTakesANamespaceAnIdOrAPattern) {
  EXPECT_EQ(parse({"invalidate", "response"}).invocation->operands.size(), 1u);
  EXPECT_EQ(parse({"invalidate", "context", "c1"}).invocation->operands.size(), 2u);
  const auto pattern = parse({"invalidate", "--pattern", "context:*"}).invocation;
  EXPECT_EQ(pattern->pattern, "context:*");
  EXPECT_TRUE(pattern->operands.empty());
  EXPECT_THAT(parse({"invalidate", "ns", "--pattern", "x"}).error, HasSubstr("usage"));
}

TEST(CliArguments, UsageErrorsSayWhatIsWrong) {
  EXPECT_EQ(parse({}).error, "no command given");
  EXPECT_EQ(parse({"flush"}).error, "unknown command 'flush'");
  EXPECT_EQ(parse({"ping", "--colour"}).error, "unknown option --colour");
  EXPECT_THAT(parse({"get"}).error, HasSubstr("usage: opencode-cache get KEY"));
  EXPECT_THAT(parse({"get", "a", "b"}).error, HasSubstr("usage: opencode-cache get KEY"));
  EXPECT_THAT(parse({"session", "drop", "s"}).error, HasSubstr("session get ID"));
  EXPECT_EQ(parse({"keys", "*", "--limit", "0"}).error,
            "--limit takes a positive whole number, not '0'");
  EXPECT_EQ(parse({"keys", "*", "--limit"}).error, "--limit needs a value");
  EXPECT_EQ(parse({"keys", "*", "--pattern", "x"}).error, "--pattern belongs to invalidate");
}

TEST(CliArguments, HelpForAllAndForEachCommand) {
  const Parsed all = parse({"--help"});
  EXPECT_THAT(all.help, HasSubstr("exit codes: 0 done, 1 nothing at that key or id, 2 usage"));
  for (const char* command :
       {"ping", "stats", "get", "inspect", "keys", "invalidate", "session", "ratelimit"}) {
    EXPECT_THAT(all.help, HasSubstr(std::string("  ") + command)) << command;
    const Parsed one = parse({command, "--help"});
    EXPECT_THAT(one.help, HasSubstr(std::string("usage: opencode-cache ") + command)) << command;
  }
}

}  // namespace
