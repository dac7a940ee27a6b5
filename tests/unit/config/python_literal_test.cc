#include <gtest/gtest.h>

#include "config/config.h"

namespace gpucloud::config {
namespace {

std::string convert(std::string_view text) {
  auto r = python_literal_to_json(text);
  return r ? *r : "ERROR: " + r.error().message;
}

TEST(PythonLiteral, SeedAliasBecomesJson) {
  EXPECT_EQ(convert("{ 'name': 'K2_Grid', 'vendor_id': '10de', 'product_id': '11bf' }"),
            R"({ "name": "K2_Grid", "vendor_id": "10de", "product_id": "11bf" })");
}

TEST(PythonLiteral, ListsTuplesConstantsNumbersAndTrailingCommas) {
  EXPECT_EQ(convert("[ {'a': True, 'b': False, 'c': None, 'd': -1.5e3}, ]"),
            R"([ {"a": true, "b": false, "c": null, "d": -1.5e3} ])");
  EXPECT_EQ(convert("('x', 'y',)"), R"(["x", "y"])");
}

TEST(PythonLiteral, JsonPassesThroughUnchanged) {
  EXPECT_EQ(convert(R"({"name": "a", "n": 2, "t": true})"), R"({"name": "a", "n": 2, "t": true})");
}

TEST(PythonLiteral, StringsKeepTheirEscapesMeaning) {
  EXPECT_EQ(convert(R"('it\'s')"), R"("it's")");
  EXPECT_EQ(convert(R"("say \"hi\"")"), R"("say \"hi\"")");
  EXPECT_EQ(convert(R"('a\\b')"), R"("a\\b")");
  EXPECT_EQ(convert(R"('tab\there')"), R"("tab\there")");
  EXPECT_EQ(convert(R"('\x41\u00e9')"), "\"A\xC3\xA9\"");
  EXPECT_EQ(convert(R"("it's")"), R"("it's")");
  EXPECT_EQ(convert(R"('\d')"), R"("\\d")");  // Python keeps unknown escapes
  EXPECT_EQ(convert(R"(u'x')"), R"("x")");
}

TEST(PythonLiteral, UnbalancedQuotesSayWhere) {
  EXPECT_EQ(convert("{ 'name': 'K2_Grid }"),
            "ERROR: unbalanced quotes: string opened with ' at column 11 is not closed");
  EXPECT_EQ(convert("{ 'name': 'K2_Grid, 'vendor_id': '10de' }"),
            "ERROR: unbalanced quotes: unexpected 'vendor_id' at column 22 (strings need quotes)");
  EXPECT_EQ(convert("'\\x4'"), "ERROR: bad \\x escape at column 2");
}

TEST(PythonLiteral, UnbalancedBracketsSayWhere) {
  EXPECT_EQ(convert("[ { 'a': 1 }"), "ERROR: unbalanced brackets: '[' at column 1 is not closed");
  EXPECT_EQ(convert("{ 'a': 1 ]"),
            "ERROR: unbalanced brackets: ']' at column 10 does not match '{' at column 1");
  EXPECT_EQ(convert("{ 'a': 1 }}"), "ERROR: unbalanced brackets: '}' at column 11 closes nothing");
}

TEST(PythonLiteral, BareWordsAndOddCharactersAreErrors) {
  EXPECT_EQ(convert("{ name: 'a' }"), "ERROR: unexpected 'name' at column 3 (strings need quotes)");
  EXPECT_EQ(convert("{ 'a': @ }"), "ERROR: unexpected '@' at column 8");
  EXPECT_EQ(convert("{ 'a': 1.2.3 }"), "ERROR: bad number '1.2.3' at column 8");
}

}  // namespace
}  // namespace gpucloud::config
