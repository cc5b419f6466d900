// Redaction: one table per rule with matches and look-alikes that must stay,
// the strategies, citations, idempotency and rules files.

#include "engine/redact.h"

#include <doctest/doctest.h>

#include <fstream>

#include "tests/test_util.h"

using namespace logbook;
using nlohmann::json;

namespace {

struct Case {
  const char* rule;
  const char* text;
  bool match;  // true: the whole `text` is one match of `rule`
};

// Every text is embedded in a sentence so that boundaries are exercised too.
const Case kCases[] = {
    {"EMAIL", "ada.lovelace+test@example.co.uk", true},
    {"EMAIL", "ops@mail-1.example.org", true},
    {"EMAIL", "ada@localhost", false},
    {"EMAIL", "ada at example dot com", false},
    {"PHONE", "+1 415-555-0100", true},
    {"PHONE", "(415) 555-0100", true},
    {"PHONE", "415.555.0100", true},
    {"PHONE", "+44 20 7946 0958", true},
    {"PHONE", "2024-01-15", false},
    {"PHONE", "order 12345", false},
    {"PHONE", "v1.2.3", false},
    {"IPV4", "10.0.0.1", true},
    {"IPV4", "192.168.254.17", true},
    {"IPV4", "999.1.1.1", false},
    {"IPV4", "1.2.3", false},
    {"URL", "https://example.com/path?q=1&r=2", true},
    {"URL", "http://intranet.local:8080/x", true},
    {"URL", "example.com/path", false},
    {"OPENAI_KEY", "sk-Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH", true},
    {"OPENAI_KEY", "sk-proj-Abcdefghijklmnopqrstuvwxyz0123", true},
    {"OPENAI_KEY", "sk-short", false},
    {"OPENAI_KEY", "task-force-alpha-bravo-charlie-delta", false},
    {"ANTHROPIC_KEY", "sk-ant-api03-Abcdefghijklmnopqrstuvwxyz0123456789", true},
    {"AWS_KEY", "AKIAIOSFODNN7EXAMPLE", true},
    {"AWS_KEY", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true},
    {"AWS_KEY", "AKIA1234", false},
    {"AWS_KEY", "AKIAIOSFODNN7EXAMPLEXYZ", false},
    {"JWT",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     true},
    {"JWT", "eyJhbGciOi.notajwt", false},
    {"PRIVATE_KEY",
     "-----BEGIN RSA PRIVATE "
     "KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n"
     "-----END RSA PRIVATE KEY-----",
     true},
    {"PRIVATE_KEY",
     "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----", true},
    {"PRIVATE_KEY", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
     false},
    {"SSN", "123-45-6789", true},
    {"SSN", "000-12-3456", false},
    {"SSN", "123-00-4567", false},
    {"SSN", "666-12-3456", false},
    {"CREDIT_CARD", "4111 1111 1111 1111", true},
    {"CREDIT_CARD", "5500-0000-0000-0004", true},
    {"CREDIT_CARD", "378282246310005", true},
    {"CREDIT_CARD", "4111 1111 1111 1112", false},  // fails the Luhn check
    {"CREDIT_CARD", "1234567890123", false},        // fails the Luhn check
};

}  // namespace

TEST_CASE("EachRuleRedactsItsMatchesAndLeavesLookAlikes") {
  Redactor r = Redactor::Builtin();
  for (const Case& c : kCases) {
    CAPTURE(c.rule);
    CAPTURE(c.text);
    const std::string in = std::string("before ") + c.text + " after";
    RedactionCounts counts;
    const std::string out = r.RedactString(in, &counts);
    if (c.match) {
      CHECK(out == std::string("before [REDACTED:") + c.rule + "] after");
      CHECK(counts[c.rule] == 1);
      CHECK(counts.size() == 1);
    } else {
      CHECK(out == in);
      CHECK(counts.empty());
    }
  }
}

TEST_CASE("LuhnChecksOnlyPlausibleCardNumbers") {
  CHECK(LuhnValid("4111111111111111"));
  CHECK(LuhnValid("4111 1111 1111 1111"));
  CHECK_FALSE(LuhnValid("4111111111111112"));
  CHECK_FALSE(LuhnValid("1234567890123"));
  CHECK_FALSE(LuhnValid("0"));                     // too short, although 0 passes the sum
  CHECK_FALSE(LuhnValid("12345678901234567890"));  // too long
}

TEST_CASE("StrategiesLabelMaskAndPartial") {
  const std::string in = "card 4111 1111 1111 1111, mail ada@example.com";
  CHECK(Redactor::Builtin(RedactStrategy::kLabel).RedactString(in) ==
        "card [REDACTED:CREDIT_CARD], mail [REDACTED:EMAIL]");
  CHECK(Redactor::Builtin(RedactStrategy::kMask).RedactString(in) ==
        "card *******************, mail ***************");
  CHECK(Redactor::Builtin(RedactStrategy::kPartial).RedactString(in) ==
        "card ***************1111, mail ***********.com");
}

TEST_CASE("CitationsInBracketsAreNeverTouched") {
  Redactor r = Redactor::Builtin();
  CHECK(r.RedactString("see [Source Title] and [https://example.com/doc] or ada@example.com") ==
        "see [Source Title] and [https://example.com/doc] or [REDACTED:EMAIL]");
  CHECK(r.RedactString("[Handbook 10.0.0.1]") == "[Handbook 10.0.0.1]");
}

TEST_CASE("RedactingTwiceChangesNothingForEveryStrategy") {
  std::string corpus;
  for (const Case& c : kCases) corpus += std::string(c.text) + " | ";
  corpus += "[Source Title] mixed ada@example.com,10.0.0.1;+1 415-555-0100";
  for (auto s : {RedactStrategy::kLabel, RedactStrategy::kMask, RedactStrategy::kPartial}) {
    CAPTURE(RedactStrategyName(s));
    Redactor r = Redactor::Builtin(s);
    const std::string once = r.RedactString(corpus);
    CHECK(once != corpus);
    RedactionCounts again;
    CHECK(r.RedactString(once, &again) == once);
    CHECK(again.empty());
  }
}

TEST_CASE("RedactJsonCoversValuesKeysAndEmbeddedJsonButNotIds") {
  Redactor r = Redactor::Builtin();
  json j = {{"text", "call +1 415-555-0100"},
            {"turn_id", "ada@example.com"},
            {"pre_state_hash", "10.0.0.1"},
            {"acts_json", R"([{"op":"add","path":"/mail","value":"ada@example.com"}])"},
            {"nested", {{"ada@example.com", {"10.0.0.1", 3}}}}};
  r.RedactJson(j);
  CHECK(j["text"] == "call [REDACTED:PHONE]");
  CHECK(j["turn_id"] == "ada@example.com");
  CHECK(j["pre_state_hash"] == "10.0.0.1");
  CHECK(j["acts_json"] == R"([{"op":"add","path":"/mail","value":"[REDACTED:EMAIL]"}])");
  CHECK(j["nested"] == json{{"[REDACTED:EMAIL]", {"[REDACTED:IPV4]", 3}}});
}

TEST_CASE("RulesFileAddsRestylesAndDisablesRules") {
  logbook::test::TempDir dir;
  const std::string path = dir.Sub("rules.json");
  std::ofstream(path) << R"({"rules":[
      {"name":"EMPLOYEE_ID","pattern":"\\bEMP-[0-9]{6}\\b"},
      {"name":"PHONE","strategy":"mask"},
      {"name":"IPV4","enabled":false}]})";
  Redactor r = Redactor::Builtin();
  REQUIRE(r.ConfigureFile(path).ok());
  CHECK(r.RedactString("EMP-123456 at 10.0.0.1 on 415-555-0100") ==
        "[REDACTED:EMPLOYEE_ID] at 10.0.0.1 on ************");
  CHECK(r.RedactString("EMP-12345") == "EMP-12345");

  Redactor bad = Redactor::Builtin();
  CHECK(bad.Configure(R"({"rules":[{"name":"X","pattern":"("}]})").IsInvalidArgument());
  CHECK(bad.Configure(R"({"rules":[{"name":"lower","pattern":"a"}]})").IsInvalidArgument());
  CHECK(bad.Configure(R"({"rules":[{"name":"NEW"}]})").IsInvalidArgument());
  CHECK(bad.Configure(R"({"strategy":"shred"})").IsInvalidArgument());
  CHECK(bad.Configure("not json").IsInvalidArgument());
  CHECK(bad.ConfigureFile(dir.Sub("missing.json")).IsNotFound());
  // A failed Configure leaves the rules as they were.
  CHECK(bad.RedactString("10.0.0.1") == "[REDACTED:IPV4]");
}

TEST_CASE("LongStringsAreRedactedWithoutExhaustingTheStack") {
  Redactor r = Redactor::Builtin();
  std::string s(300000, 'x');
  s += " mail ada@example.com now ";
  for (int i = 0; i < 3000; ++i)
    s += "some words of ordinary text, 10.0.0." + std::to_string(i % 250) + "\n";
  s += "-----BEGIN EC PRIVATE KEY-----\n" + std::string(5000, 'A') +
       "\n-----END EC PRIVATE KEY-----";
  s += std::string(100000, 'y');
  RedactionCounts counts;
  const std::string out = r.RedactString(s, &counts);
  CHECK(out.find("ada@example.com") == std::string::npos);
  CHECK(counts["EMAIL"] == 1);
  CHECK(counts["IPV4"] == 3000);
  CHECK(counts["PRIVATE_KEY"] == 1);
  CHECK(out.find("AAAA") == std::string::npos);
  CHECK(r.RedactString(out) == out);
}
