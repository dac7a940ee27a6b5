#include <gtest/gtest.h>

#include "core/core.h"

namespace gpucloud {
namespace {

std::string alias_error(std::string_view value) {
  auto r = parse_pci_passthrough_alias(value);
  return r.ok() ? "(parsed)" : r.error().message;
}

TEST(PciPassthroughAlias, ParsesOneAndSeveralItems) {
  EXPECT_EQ(parse_pci_passthrough_alias("K2_Grid:1").value(),
            (std::vector<AliasRequest>{{"K2_Grid", 1}}));
  EXPECT_EQ(parse_pci_passthrough_alias("a:2,b:1").value(),
            (std::vector<AliasRequest>{{"a", 2}, {"b", 1}}));
}

TEST(PciPassthroughAlias, IgnoresWhitespaceAroundNamesAndCounts) {
  // nova strips the name and int() ignores whitespace around the count.
  EXPECT_EQ(parse_pci_passthrough_alias(" a : 2 ,\tb:1 ").value(),
            (std::vector<AliasRequest>{{"a", 2}, {"b", 1}}));
}

TEST(PciPassthroughAlias, KeepsRepeatedNamesAsSeparateRequests) {
  EXPECT_EQ(parse_pci_passthrough_alias("a:1,a:2").value(),
            (std::vector<AliasRequest>{{"a", 1}, {"a", 2}}));
}

TEST(PciPassthroughAlias, RejectsZeroCount) {
  EXPECT_EQ(alias_error("K2_Grid:0"),
            "pci_passthrough:alias: count 0 for alias 'K2_Grid' must be at least 1");
}

TEST(PciPassthroughAlias, RejectsNonIntegerCounts) {
  EXPECT_EQ(alias_error("K2_Grid:x"),
            "pci_passthrough:alias: count 'x' for alias 'K2_Grid' is not an integer");
  EXPECT_EQ(alias_error("K2_Grid:-1"),
            "pci_passthrough:alias: count '-1' for alias 'K2_Grid' is not an integer");
  EXPECT_EQ(alias_error("K2_Grid:1.5"),
            "pci_passthrough:alias: count '1.5' for alias 'K2_Grid' is not an integer");
  EXPECT_EQ(alias_error("K2_Grid:"),
            "pci_passthrough:alias: count '' for alias 'K2_Grid' is not an integer");
  EXPECT_EQ(alias_error("K2_Grid:99999999999"),
            "pci_passthrough:alias: count '99999999999' for alias 'K2_Grid' is too large");
}

TEST(PciPassthroughAlias, RejectsEmptyAliasName) {
  EXPECT_EQ(alias_error(":1"), "pci_passthrough:alias: item ':1' has an empty alias name");
  EXPECT_EQ(alias_error("a:1,  :2"), "pci_passthrough:alias: item '  :2' has an empty alias name");
}

TEST(PciPassthroughAlias, RejectsItemsThatAreNotNameColonCount) {
  EXPECT_EQ(alias_error("K2_Grid"),
            "pci_passthrough:alias: item 'K2_Grid' is not of the form name:count");
  EXPECT_EQ(alias_error("a:1:2"),
            "pci_passthrough:alias: item 'a:1:2' is not of the form name:count");
  EXPECT_EQ(alias_error("a:1,,b:2"),
            "pci_passthrough:alias: item '' is not of the form name:count");
  EXPECT_EQ(alias_error(" "),
            "pci_passthrough:alias: value is empty; expected name:count[,name:count...]");
}

TEST(FlavorExtraSpecs, ParsesKnownKeysAndKeepsTheRest) {
  auto specs = FlavorExtraSpecs::parse({{"pci_passthrough:alias", "K2_Grid:1"},
                                        {"hw_video:ram_max_mb", "64"},
                                        {"aggregate_instance_extra_specs:gpu", "true"},
                                        {"quota:cpu_shares", "1024"}});
  ASSERT_TRUE(specs.ok()) << specs.error().message;
  EXPECT_EQ(specs->pci_requests, (std::vector<AliasRequest>{{"K2_Grid", 1}}));
  EXPECT_EQ(specs->video_ram_max_mb, 64);
  EXPECT_EQ(specs->all.size(), 4u);
  EXPECT_EQ(specs->all.at("quota:cpu_shares"), "1024");
}

TEST(FlavorExtraSpecs, AbsentKeysStayEmpty) {
  auto specs = FlavorExtraSpecs::parse({{"gpu", "true"}});
  ASSERT_TRUE(specs.ok());
  EXPECT_TRUE(specs->pci_requests.empty());
  EXPECT_FALSE(specs->video_ram_max_mb.has_value());
}

TEST(FlavorExtraSpecs, VideoRamAcceptsWhatPythonIntAccepts) {
  EXPECT_EQ(FlavorExtraSpecs::parse({{"hw_video:ram_max_mb", "0"}})->video_ram_max_mb, 0);
  EXPECT_EQ(FlavorExtraSpecs::parse({{"hw_video:ram_max_mb", " 128 "}})->video_ram_max_mb, 128);
  EXPECT_EQ(FlavorExtraSpecs::parse({{"hw_video:ram_max_mb", "1_024"}})->video_ram_max_mb, 1024);
}

TEST(FlavorExtraSpecs, RejectsBadVideoRam) {
  auto error = [](const char* v) {
    return FlavorExtraSpecs::parse({{"hw_video:ram_max_mb", v}}).error().message;
  };
  EXPECT_EQ(error("x"), "hw_video:ram_max_mb: 'x' is not a non-negative integer");
  EXPECT_EQ(error("-1"), "hw_video:ram_max_mb: '-1' is not a non-negative integer");
  EXPECT_EQ(error("1.5"), "hw_video:ram_max_mb: '1.5' is not a non-negative integer");
  EXPECT_EQ(error(""), "hw_video:ram_max_mb: '' is not a non-negative integer");
  EXPECT_EQ(error("3000000000"), "hw_video:ram_max_mb: '3000000000' is too large (max 2147483647)");
}

TEST(FlavorExtraSpecs, ReportsBadAliasWithTheKey) {
  EXPECT_EQ(FlavorExtraSpecs::parse({{"pci_passthrough:alias", "K2_Grid:0"}}).error().message,
            "pci_passthrough:alias: count 0 for alias 'K2_Grid' must be at least 1");
}

TEST(ScopedKeys, AggregateFilterChecksUnscopedAndItsOwnScope) {
  EXPECT_EQ(aggregate_extra_spec_key("gpu"), "gpu");
  EXPECT_EQ(aggregate_extra_spec_key("aggregate_instance_extra_specs:gpu"), "gpu");
  // nova splits once, so the rest of the key (colons included) is the metadata key.
  EXPECT_EQ(aggregate_extra_spec_key("aggregate_instance_extra_specs:a:b"), "a:b");
  EXPECT_EQ(aggregate_extra_spec_key("pci_passthrough:alias"), std::nullopt);
  EXPECT_EQ(aggregate_extra_spec_key("hw_video:ram_max_mb"), std::nullopt);
  EXPECT_EQ(aggregate_extra_spec_key("capabilities:gpu"), std::nullopt);
  EXPECT_EQ(aggregate_extra_spec_key(":gpu"), std::nullopt);  // empty scope is still a scope
}

TEST(ScopedKeys, CapabilitiesFilterChecksUnscopedAndItsOwnScope) {
  EXPECT_EQ(capabilities_extra_spec_key("gpu"), "gpu");
  EXPECT_EQ(capabilities_extra_spec_key("capabilities:gpu"), "gpu");
  EXPECT_EQ(capabilities_extra_spec_key("capabilities:cpu_info:arch"), "cpu_info:arch");
  EXPECT_EQ(capabilities_extra_spec_key("aggregate_instance_extra_specs:gpu"), std::nullopt);
  EXPECT_EQ(capabilities_extra_spec_key("pci_passthrough:alias"), std::nullopt);
}

TEST(ScopedKeys, CapabilitiesPathSaysNestingAndWhetherUnscoped) {
  EXPECT_EQ(capabilities_extra_spec_path("gpu"), (CapabilitiesPath{{"gpu"}, true}));
  EXPECT_EQ(capabilities_extra_spec_path("capabilities:cpu_info:arch"),
            (CapabilitiesPath{{"cpu_info", "arch"}, false}));
  EXPECT_EQ(capabilities_extra_spec_path("hw:cpu_policy"), std::nullopt);
}

TEST(ExtraSpecMatch, MissingValueNeverMatches) {
  EXPECT_FALSE(*extra_spec_match_checked(std::nullopt, ""));
  EXPECT_FALSE(*extra_spec_match_checked(std::nullopt, "<or>"));  // no IndexError for None
  EXPECT_FALSE(*extra_spec_match_checked(std::nullopt, "s== x"));
}

}  // namespace
}  // namespace gpucloud
