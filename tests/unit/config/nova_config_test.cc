#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "unit/config/test_util.h"

namespace gpucloud::config {
namespace {

using testing::data;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::seed;

NovaConfig load(std::initializer_list<std::string> paths) {
  std::vector<IniFile> files;
  for (const auto& p : paths) files.push_back(testing::load(p));
  return load_nova_config(files);
}

std::vector<std::string> filters(const NovaConfig& cfg) {
  std::vector<std::string> out;
  for (const auto& f : cfg.enabled_filters) out.push_back(f.value);
  return out;
}

std::vector<std::string> alias_names(const NovaConfig& cfg) { return cfg.aliases.names(); }

TEST(NovaConfig, SeedNovaConfAndNovaComputeConfAreAccepted) {
  const std::string nova = seed("nova.conf");
  NovaConfig cfg = load({nova, seed("nova-compute.conf")});
  EXPECT_FALSE(cfg.has_errors());
  // The seed names two filters that nova has since dropped: accepted, with a warning.
  EXPECT_THAT(testing::messages(cfg.problems),
              ElementsAre(nova + ":7: warning: [DEFAULT] scheduler_default_filters: RetryFilter, "
                                 "RamFilter are no longer in nova (accepted for older "
                                 "configurations)"));

  ASSERT_EQ(cfg.aliases.entries().size(), 1u);
  const PciAlias& alias = cfg.aliases.entries()[0];
  EXPECT_EQ(alias.name, "K2_Grid");
  ASSERT_TRUE(alias.vendor_id && alias.product_id);
  EXPECT_EQ(alias.vendor_id->str(), "10de");
  EXPECT_EQ(alias.product_id->str(), "11bf");

  ASSERT_EQ(cfg.device_specs.size(), 1u);
  EXPECT_EQ(cfg.device_specs[0].value.vendor_id()->str(), "10de");
  EXPECT_EQ(cfg.device_specs[0].value.product_id()->str(), "11bf");
  EXPECT_EQ(cfg.device_specs[0].where.to_string(), nova + ":5");

  EXPECT_THAT(filters(cfg),
              ElementsAre("RetryFilter", "AvailabilityZoneFilter", "RamFilter", "ComputeFilter",
                          "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
                          "PciPassthroughFilter", "AggregateInstanceExtraSpecsFilter"));
  EXPECT_TRUE(cfg.spice_enabled);
  EXPECT_EQ(cfg.cpu_allocation_ratio, 4.0);
  EXPECT_EQ(cfg.ram_allocation_ratio, 1.0);
  EXPECT_EQ(cfg.disk_allocation_ratio, 1.0);
  EXPECT_EQ(cfg.max_attempts, 3);
  EXPECT_FALSE(cfg.host.has_value());
  EXPECT_FALSE(cfg.database.has_value());
}

TEST(NovaConfig, LaterFileOverridesSingleValuesAndAddsToMultiValues) {
  NovaConfig cfg = load({data("merge_first.conf"), data("merge_second.conf")});
  EXPECT_TRUE(cfg.problems.empty());
  ASSERT_TRUE(cfg.host.has_value());
  EXPECT_EQ(cfg.host->value, "from-second");
  EXPECT_EQ(cfg.host->where.to_string(), data("merge_second.conf") + ":3");
  EXPECT_TRUE(cfg.spice_enabled);
  EXPECT_EQ(cfg.cpu_allocation_ratio, 8.0);  // only the first file sets it
  EXPECT_THAT(alias_names(cfg), ElementsAre("A", "B"));
}

TEST(NovaConfig, FileOrderDecides) {
  NovaConfig cfg = load({data("merge_second.conf"), data("merge_first.conf")});
  EXPECT_EQ(cfg.host->value, "from-first");
  EXPECT_FALSE(cfg.spice_enabled);
  EXPECT_THAT(alias_names(cfg), ElementsAre("B", "A"));
}

TEST(NovaConfig, NewNamesJsonListsAndDefaults) {
  NovaConfig cfg = load_nova_config(
      {IniFile::parse("[pci]\n"
                      "device_spec = [{\"vendor_id\": \"10de\", \"product_id\": \"13f2\"},\n"
                      "   {\"vendor_id\": \"10de\", \"product_id\": \"0ff2\"}]\n"
                      "passthrough_whitelist = {\"vendor_id\": \"8086\"}\n"
                      "[database]\n"
                      "connection = mysql+pymysql://nova:NOVA_PW@controller/nova?charset=utf8\n"
                      "[scheduler]\n"
                      "max_attempts = 5\n"
                      "[DEFAULT]\n"
                      "host = compute-7\n"
                      "cpu_allocation_ratio = 0.0\n"
                      "initial_cpu_allocation_ratio = 2.5\n"
                      "ram_allocation_ratio = 1.5\n",
                      "nova.conf")});
  EXPECT_TRUE(cfg.problems.empty()) << testing::messages(cfg.problems).front();
  // oslo's order within one file: the deprecated name's values first, then the current name's.
  ASSERT_EQ(cfg.device_specs.size(), 3u);
  EXPECT_EQ(cfg.device_specs[0].value.vendor_id(), HexId::parse("8086").value());
  EXPECT_FALSE(cfg.device_specs[0].value.product_id().has_value());
  EXPECT_EQ(cfg.device_specs[0].where.line, 4);
  EXPECT_EQ(cfg.device_specs[1].value.product_id(), HexId::parse("13f2").value());
  EXPECT_EQ(cfg.device_specs[2].value.product_id(), HexId::parse("0ff2").value());
  EXPECT_EQ(cfg.device_specs[2].where.line, 2);
  ASSERT_TRUE(cfg.database.has_value());
  EXPECT_EQ(cfg.database->value.redacted(),
            "mysql+pymysql://nova:***@controller/nova?charset=utf8");
  EXPECT_EQ(cfg.max_attempts, 5);
  EXPECT_EQ(cfg.host->value, "compute-7");
  EXPECT_EQ(cfg.cpu_allocation_ratio, 2.5);  // 0.0 means "use the initial ratio"
  EXPECT_EQ(cfg.ram_allocation_ratio, 1.5);
  // Nothing set: nova's default filters and all_filters.
  EXPECT_THAT(filters(cfg),
              ElementsAre("ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
                          "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"));
  ASSERT_EQ(cfg.available_filters.size(), 1u);
  EXPECT_EQ(cfg.available_filters[0].value, "nova.scheduler.filters.all_filters");
}

TEST(NovaConfig, EnabledFilterMustBeAvailable) {
  NovaConfig cfg = load_nova_config(
      {IniFile::parse("[filter_scheduler]\n"
                      "available_filters = nova.scheduler.filters.compute_filter.ComputeFilter\n"
                      "available_filters = my.filters.GpuFilter\n"
                      "enabled_filters = ComputeFilter,PciPassthroughFilter\n",
                      "nova.conf")});
  EXPECT_THAT(testing::messages(cfg.problems),
              ElementsAre("nova.conf:3: [filter_scheduler] available_filters: unknown filter "
                          "class 'my.filters.GpuFilter'",
                          "nova.conf:4: [filter_scheduler] enabled_filters: filter "
                          "'PciPassthroughFilter' is not in available_filters"));
  EXPECT_THAT(filters(cfg), ElementsAre("ComputeFilter"));
}

// Bad input: each with the exact message, file:line first.
struct BadCase {
  const char* file;
  std::vector<std::string> messages;  // after "<path>:"
};

class NovaConfigBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(NovaConfigBadInput, ReportsEveryProblemExactly) {
  const BadCase& c = GetParam();
  const std::string path = data(c.file);
  NovaConfig cfg = load({path});
  EXPECT_TRUE(cfg.has_errors());
  std::vector<std::string> expected;
  for (const auto& m : c.messages) expected.push_back(path + ":" + m);
  EXPECT_EQ(testing::messages(cfg.problems), expected);
}

INSTANTIATE_TEST_SUITE_P(
    Files, NovaConfigBadInput,
    ::testing::Values(
        BadCase{"bad_unbalanced_quotes.conf",
                {"2: [DEFAULT] pci_alias: unbalanced quotes: unexpected 'vendor_id' at column 22 "
                 "(strings need quotes)"}},
        BadCase{"bad_unbalanced_brackets.conf",
                {"2: [DEFAULT] pci_passthrough_whitelist: unbalanced brackets: '[' at column 1 "
                 "is not closed"}},
        BadCase{"bad_unknown_alias_field.conf",
                {"2: [pci] alias: unknown field 'product' (allowed: name, vendor_id, product_id, "
                 "device_type, numa_policy, capability_type)"}},
        BadCase{"bad_hex.conf",
                {"2: [pci] alias: 'K2_Grid': product_id '11bg' is not 4 hex digits",
                 "3: [pci] device_spec: vendor_id '10dex' is not a hex number"}},
        BadCase{"bad_unknown_filter.conf",
                {"2: [filter_scheduler] enabled_filters: unknown filter 'GpuFilter'"}},
        BadCase{"bad_boolean.conf",
                {"2: [spice] enabled: 'maybe' is not a boolean (true/false, yes/no, on/off, "
                 "1/0)"}},
        BadCase{"bad_duplicate_alias.conf",
                {"4: [pci] alias: alias 'K2_Grid': numa_policy 'preferred' conflicts with "
                 "numa_policy 'required' of an earlier entry with the same name"}},
        BadCase{"bad_many.conf",
                {"3: [spice] enabled: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)",
                 "4: no ':' or '=' in assignment",
                 "6: [DEFAULT] cpu_allocation_ratio: 'lots' is not a number",
                 "7: [DEFAULT] scheduler_max_attempts: 0 is less than the minimum 1",
                 "9: [database] connection: database URL: port 'notaport' is not a number from 1 "
                 "to 65535"}}),
    [](const auto& info) {
      std::string name = info.param.file;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

// Weigher multipliers: the RAM one may be negative (stacking), the PCI one not (nova's min 0.0);
// the seed's era kept them in [DEFAULT].
TEST(NovaConfig, WeightMultipliers) {
  NovaConfig defaults = load_nova_config({IniFile::parse("", "nova.conf")});
  EXPECT_EQ(defaults.ram_weight_multiplier, 1.0);
  EXPECT_EQ(defaults.pci_weight_multiplier, 1.0);
  NovaConfig set =
      load_nova_config({IniFile::parse("[filter_scheduler]\n"
                                       "ram_weight_multiplier = -2.5\n"
                                       "[DEFAULT]\n"
                                       "pci_weight_multiplier = 3\n",
                                       "nova.conf")});
  EXPECT_TRUE(set.problems.empty()) << testing::messages(set.problems).front();
  EXPECT_EQ(set.ram_weight_multiplier, -2.5);
  EXPECT_EQ(set.pci_weight_multiplier, 3.0);
  NovaConfig bad =
      load_nova_config({IniFile::parse("[filter_scheduler]\n"
                                       "pci_weight_multiplier = -1\n"
                                       "ram_weight_multiplier = nan\n",
                                       "nova.conf")});
  EXPECT_THAT(testing::messages(bad.problems),
              ElementsAre(HasSubstr("2: [filter_scheduler] pci_weight_multiplier: -1 is less than "
                                    "the minimum 0"),
                          HasSubstr("3: [filter_scheduler] ram_weight_multiplier: 'nan' is not a "
                                    "number")));
  EXPECT_EQ(bad.pci_weight_multiplier, 1.0);  // a refused value leaves the default
}

// [DEFAULT] default_availability_zone and [filter_scheduler] weight_classes (ListOpt of class
// paths; all_weighers is nova's default) reach the scheduler's options.
TEST(NovaConfig, DefaultZoneAndWeightClasses) {
  NovaConfig defaults = load_nova_config({IniFile::parse("", "nova.conf")});
  EXPECT_EQ(defaults.default_availability_zone.value, "nova");
  EXPECT_THAT(defaults.weighers,
              ElementsAre("RAMWeigher", "PCIWeigher", "ServerGroupSoftAffinityWeigher",
                          "ServerGroupSoftAntiAffinityWeigher"));
  NovaConfig set =
      load_nova_config({IniFile::parse("[DEFAULT]\n"
                                       "default_availability_zone = Denver\n"
                                       "[filter_scheduler]\n"
                                       "weight_classes = nova.scheduler.weights.ram.RAMWeigher\n",
                                       "nova.conf")});
  EXPECT_TRUE(set.problems.empty()) << testing::messages(set.problems).front();
  EXPECT_EQ(set.default_availability_zone.value, "Denver");
  EXPECT_THAT(set.weighers, ElementsAre("RAMWeigher"));
  NovaConfig all = load_nova_config({IniFile::parse(
      "[DEFAULT]\nscheduler_weight_classes = nova.scheduler.weights.all_weighers\n", "n.conf")});
  EXPECT_TRUE(all.problems.empty());
  EXPECT_THAT(all.weighers, ::testing::UnorderedElementsAre("RAMWeigher", "PCIWeigher",
                                                            "ServerGroupSoftAffinityWeigher",
                                                            "ServerGroupSoftAntiAffinityWeigher"));
  NovaConfig bad = load_nova_config(
      {IniFile::parse("[DEFAULT]\n"
                      "default_availability_zone = a:b\n"
                      "[filter_scheduler]\n"
                      "weight_classes = nova.scheduler.weights.cpu.CPUWeigher, my.Weigher\n",
                      "nova.conf")});
  EXPECT_THAT(testing::messages(bad.problems),
              ElementsAre(HasSubstr("2: [DEFAULT] default_availability_zone: 'a:b' is not a zone"),
                          HasSubstr("4: [filter_scheduler] weight_classes: weigher 'CPUWeigher' is "
                                    "not implemented by gpucloud"),
                          HasSubstr("4: [filter_scheduler] weight_classes: unknown weigher class "
                                    "'my.Weigher'")));
  EXPECT_EQ(bad.default_availability_zone.value, "nova");
}

// keystone's [security_compliance] lockout, under keystone's names: off unless
// lockout_failure_attempts is set (an empty value too), lockout_duration 1800 s by default.
TEST(NovaConfig, SecurityComplianceLockoutAsKeystoneNamesIt) {
  NovaConfig defaults = load_nova_config({IniFile::parse("", "nova.conf")});
  EXPECT_FALSE(defaults.lockout_failure_attempts.has_value());
  EXPECT_EQ(defaults.lockout_duration, 1800);
  NovaConfig empty = load_nova_config(
      {IniFile::parse("[security_compliance]\nlockout_failure_attempts =\n", "keystone.conf")});
  EXPECT_TRUE(empty.problems.empty()) << testing::messages(empty.problems).front();
  EXPECT_FALSE(empty.lockout_failure_attempts.has_value());
  NovaConfig set = load_nova_config({IniFile::parse(
      "[security_compliance]\nlockout_failure_attempts = 6\nlockout_duration = 600\n",
      "keystone.conf")});
  EXPECT_TRUE(set.problems.empty()) << testing::messages(set.problems).front();
  EXPECT_EQ(set.lockout_failure_attempts, 6);
  EXPECT_EQ(set.lockout_duration, 600);
  NovaConfig bad = load_nova_config({IniFile::parse(
      "[security_compliance]\nlockout_failure_attempts = 0\nlockout_duration = soon\n",
      "keystone.conf")});
  EXPECT_THAT(testing::messages(bad.problems),
              ElementsAre(HasSubstr("2: [security_compliance] lockout_failure_attempts"),
                          HasSubstr("3: [security_compliance] lockout_duration")));
  EXPECT_FALSE(bad.lockout_failure_attempts.has_value());
  EXPECT_EQ(bad.lockout_duration, 1800);
}

TEST(NovaConfig, NoProblemShowsTheDatabasePassword) {
  NovaConfig cfg = load({data("bad_many.conf")});
  for (const auto& p : cfg.problems) EXPECT_EQ(p.message.find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace gpucloud::config

namespace gpucloud::config {
namespace {

// The console options (docs/consoles.md), with nova's names and defaults.
TEST(NovaConfig, ConsoleOptions) {
  NovaConfig defaults = load_nova_config({});
  EXPECT_EQ(defaults.spice_html5proxy_base_url, "");  // the server's own /spice/ page
  EXPECT_EQ(defaults.spice_server_listen, "127.0.0.1");
  EXPECT_EQ(defaults.spice_server_proxyclient_address, "127.0.0.1");
  EXPECT_EQ(defaults.console_token_ttl, 600);
  EXPECT_TRUE(defaults.console_allowed_origins.empty());

  NovaConfig cfg = load_nova_config({IniFile::parse(
      "[spice]\nenabled = true\nhtml5proxy_base_url = https://console.example/spice_auto.html\n"
      "server_listen = 0.0.0.0\nserver_proxyclient_address = 10.1.2.3\n"
      "[consoleauth]\ntoken_ttl = 60\n[console]\nallowed_origins = portal.example, ops.example\n",
      "nova.conf")});
  EXPECT_FALSE(cfg.has_errors());
  EXPECT_EQ(cfg.spice_html5proxy_base_url, "https://console.example/spice_auto.html");
  EXPECT_EQ(cfg.spice_server_listen, "0.0.0.0");
  EXPECT_EQ(cfg.spice_server_proxyclient_address, "10.1.2.3");
  EXPECT_EQ(cfg.console_token_ttl, 60);
  EXPECT_THAT(cfg.console_allowed_origins, ElementsAre("portal.example", "ops.example"));

  NovaConfig bad = load_nova_config(
      {IniFile::parse("[spice]\nhtml5proxy_base_url = console.example\nserver_listen =\n"
                      "[consoleauth]\ntoken_ttl = 0\n",
                      "nova.conf")});
  EXPECT_THAT(testing::messages(bad.problems),
              ElementsAre(HasSubstr("nova.conf:2: [spice] html5proxy_base_url: 'console.example' "
                                    "is not an http:// or https:// URL"),
                          HasSubstr("nova.conf:3: [spice] server_listen"),
                          HasSubstr("nova.conf:5: [consoleauth] token_ttl")));
}

}  // namespace
}  // namespace gpucloud::config
