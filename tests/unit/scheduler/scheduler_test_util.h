// Small builders for scheduler tests: hosts, K2 devices, requests, the seed's alias table.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scheduler/host_index.h"
#include "scheduler/scheduler.h"

namespace gpucloud::scheduler::testing {

inline PciAlias k2_alias(NumaPolicy policy = NumaPolicy::kLegacy) {
  auto a = PciAlias::parse(R"({"name": "K2_Grid", "vendor_id": "10de", "product_id": "11bf"})");
  EXPECT_TRUE(a.ok()) << a.error().message;
  PciAlias alias = a.ok() ? a.value() : PciAlias{};
  alias.numa_policy = policy;
  return alias;
}

inline AliasTable seed_aliases(NumaPolicy policy = NumaPolicy::kLegacy) {
  AliasTable t;
  EXPECT_TRUE(t.add(k2_alias(policy)).ok());
  return t;
}

inline HostState host(const std::string& name, int64_t vcpus = 32, int64_t ram_mb = 131072,
                      int64_t disk_gb = 1000) {
  HostState h;
  h.name = name;
  h.total = {vcpus, ram_mb, disk_gb};
  h.supported_instances = {{"x86_64", "kvm", "hvm"}, {"x86_64", "qemu", "hvm"}};
  return h;
}

inline void set_metadata(HostState& h, const std::string& key, const std::string& value) {
  h.aggregate_metadata[key].insert(value);
}

// Adds `n` devices of vendor:product at 0000:<bus>:00.0 ... on `numa`.
inline void add_gpus(HostState& h, int n, std::optional<int> numa = 0, const char* vendor = "10de",
                     const char* product = "11bf", int first_bus = 0x80,
                     PciDeviceStatus status = PciDeviceStatus::kAvailable) {
  for (int i = 0; i < n; ++i) {
    PciDevice d;
    char addr[16];
    std::snprintf(addr, sizeof addr, "0000:%02x:00.0", first_bus + i);
    d.address = PciAddress::parse(addr).value();
    d.vendor_id = VendorId::parse(vendor).value();
    d.product_id = ProductId::parse(product).value();
    d.numa_node = numa;
    h.add_pci_device(d, status);
  }
}

inline RequestSpec request(std::map<std::string, std::string> extra_specs = {},
                           const AliasTable& aliases = AliasTable{}, int64_t vcpus = 2,
                           int64_t ram_mb = 4096, int64_t disk_gb = 40, ImageMeta image = {},
                           std::string az = "", int num_instances = 1) {
  FlavorSpec f;
  f.name = "test.flavor";
  f.vcpus = vcpus;
  f.memory_mb = ram_mb;
  f.root_gb = disk_gb;
  f.extra_specs = std::move(extra_specs);
  auto r = make_request_spec(f, std::move(image), std::move(az), num_instances, aliases);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : RequestSpec{};
}

inline std::unique_ptr<Filter> make_filter(const std::string& name,
                                           const SchedulerOptions& options = {}) {
  auto f = FilterRegistry::builtin().create({name}, options);
  EXPECT_TRUE(f.ok()) << f.error().message;
  return f.ok() ? std::move(f.value().front()) : nullptr;
}

// The filter's answer on select()'s fast path (Filter::narrow over a HostIndex): `host` among
// two others that pass nothing in particular, so that the index holds more than this one host.
inline bool narrow_passes(const Filter& filter, const HostState& host, const RequestSpec& request) {
  HostState before = host;
  before.name = "zz-before";
  before.aggregate_metadata.clear();
  HostState after = before;
  after.name = "zz-after";
  std::vector<HostState> hosts = {before, host, after};
  HostIndex index(hosts);
  std::unordered_map<size_t, HostState> changed;
  HostBits candidates(hosts.size(), false);
  candidates.set(1);
  filter.narrow(HostView(hosts, index, changed), request, candidates);
  return candidates.test(1);
}

inline std::string read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  if (f == nullptr) return {};
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

}  // namespace gpucloud::scheduler::testing
