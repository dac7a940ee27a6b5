#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "unit/config/test_util.h"

namespace gpucloud::config {
namespace {

using testing::data;
using ::testing::ElementsAre;

TEST(IniReader, ReadsSectionsKeysAndTheLineOfEveryValue) {
  IniFile f = testing::load(data("ini_basic.conf"));
  EXPECT_TRUE(f.problems().empty());
  auto host = f.find("DEFAULT", "host");
  ASSERT_EQ(host.size(), 1u);
  EXPECT_EQ(host[0]->value, "compute-1");
  EXPECT_EQ(host[0]->where.line, 4);
  EXPECT_EQ(host[0]->where.to_string(), data("ini_basic.conf") + ":4");
}

TEST(IniReader, RepeatedKeysAreSeveralValuesInFileOrder) {
  IniFile f = testing::load(data("ini_basic.conf"));
  auto values = f.find("DEFAULT", "pci_alias");
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0]->value, "first");
  EXPECT_EQ(values[0]->where.line, 5);
  EXPECT_EQ(values[1]->value, "second");
  EXPECT_EQ(values[1]->where.line, 6);
}

TEST(IniReader, ContinuationLinesJoinWithNewlineAndKeepTheKeyLine) {
  IniFile f = testing::load(data("ini_basic.conf"));
  auto alias = f.find("pci", "alias");
  ASSERT_EQ(alias.size(), 1u);
  EXPECT_EQ(alias[0]->value, "{ \"name\": \"a\",\n\"vendor_id\": \"10de\" }");
  EXPECT_EQ(alias[0]->where.line, 10);
}

TEST(IniReader, CommentsAreSkippedButInlineSemicolonsStayInTheValue) {
  IniFile f = testing::load(data("ini_basic.conf"));
  EXPECT_TRUE(f.find("not_a_section", "x").empty());
  EXPECT_EQ(f.find("pci", "inline").at(0)->value,
            "True ; oslo keeps this, there are no inline comments");
  EXPECT_EQ(f.find("pci", "colon_key").at(0)->value, "value after a colon");
  EXPECT_EQ(f.find("pci", "quoted").at(0)->value,
            "single quotes around the whole value are dropped");
}

TEST(IniReader, SectionNamesOtherThanDefaultMatchWhateverTheirCase) {
  IniFile f = IniFile::parse("[SPICE]\nenabled = 1\n[default]\nhost = h\n", "x.conf");
  EXPECT_EQ(f.find("spice", "enabled").size(), 1u);
  EXPECT_TRUE(f.find("DEFAULT", "host").empty());
}

TEST(IniReader, MalformedLinesAreAllReportedWithTheirLines) {
  IniFile f = IniFile::parse(
      "key = before any section\n[pci\n[]\n[ok]\nno separator here\n= empty key\n"
      "  stray continuation\n\n  another stray\nfine = yes\n",
      "bad.conf");
  EXPECT_THAT(
      testing::messages(f.problems()),
      ElementsAre("bad.conf:1: 'key' is outside any [section]",
                  "bad.conf:2: invalid section header (must end with ']')",
                  "bad.conf:3: empty section name", "bad.conf:5: no ':' or '=' in assignment",
                  "bad.conf:6: empty key",
                  "bad.conf:7: unexpected continuation line (indented, but no key before it)",
                  "bad.conf:9: unexpected continuation line (indented, but no key before it)"));
  EXPECT_EQ(f.find("ok", "fine").at(0)->where.line, 10);
}

TEST(IniReader, BooleansFollowOsloInAnyCase) {
  for (const char* t : {"True", "true", "TRUE", "yes", "Yes", "1", "on", "ON"}) {
    auto b = parse_bool(t);
    ASSERT_TRUE(b.ok()) << t;
    EXPECT_TRUE(*b) << t;
  }
  for (const char* t : {"False", "false", "no", "NO", "0", "off", "Off"}) {
    auto b = parse_bool(t);
    ASSERT_TRUE(b.ok()) << t;
    EXPECT_FALSE(*b) << t;
  }
  auto bad = parse_bool("maybe");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
  EXPECT_FALSE(parse_bool("").ok());
  EXPECT_FALSE(parse_bool("2").ok());
}

TEST(IniReader, UnreadableFileIsAnError) {
  auto f = IniFile::load(data("no_such_file.conf"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, data("no_such_file.conf") + ": cannot be read");
}

TEST(IniLookup, SingleValuedOptionTakesTheNewestFileAndItsLastAssignment) {
  std::vector<IniFile> files = {IniFile::parse("[DEFAULT]\nhost = a\nhost = b\n", "1.conf"),
                                IniFile::parse("[DEFAULT]\nhost = c\nhost = d\n", "2.conf"),
                                IniFile::parse("[spice]\nenabled = 1\n", "3.conf")};
  auto host = lookup_single(files, {{"DEFAULT", "host"}});
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->value, "d");
  EXPECT_EQ(host->where.to_string(), "2.conf:3");
  EXPECT_FALSE(lookup_single(files, {{"DEFAULT", "nothing"}}).has_value());
}

TEST(IniLookup, CurrentNameBeatsDeprecatedNameInOneFileButNewerFileWins) {
  std::vector<IniFile> one = {IniFile::parse("[DEFAULT]\nold = x\n[new]\nname = y\n", "1.conf")};
  EXPECT_EQ(lookup_single(one, {{"new", "name"}, {"DEFAULT", "old"}})->value, "y");
  std::vector<IniFile> two = {IniFile::parse("[new]\nname = y\n", "1.conf"),
                              IniFile::parse("[DEFAULT]\nold = x\n", "2.conf")};
  EXPECT_EQ(lookup_single(two, {{"new", "name"}, {"DEFAULT", "old"}})->value, "x");
}

TEST(IniLookup, MultiValuedOptionCollectsEveryFileOldestFirst) {
  std::vector<IniFile> files = {
      IniFile::parse("[pci]\nalias = a1\n[DEFAULT]\npci_alias = d1\n", "1.conf"),
      IniFile::parse("[pci]\nalias = a2\nalias = a3\n", "2.conf")};
  std::vector<std::string> values;
  for (const auto& e : lookup_multi(files, {{"pci", "alias"}, {"DEFAULT", "pci_alias"}})) {
    values.push_back(e.value);
  }
  // oslo prepends each name's values while walking newest file first. Checked against
  // oslo.config 9.0.0 (Debian 12): the same files give ['d1', 'a1', 'a2', 'a3'].
  EXPECT_THAT(values, ElementsAre("d1", "a1", "a2", "a3"));
}

}  // namespace
}  // namespace gpucloud::config
