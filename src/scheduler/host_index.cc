// Building and updating HostIndex (see host_index.h for why it exists).
#include "scheduler/host_index.h"

#include <algorithm>
#include <numeric>

namespace gpucloud::scheduler {
namespace {

using Data = HostIndex::Data;

uint32_t intern_key(Data& d, const std::string& key) {
  auto [it, added] = d.key_ids.emplace(key, static_cast<uint32_t>(d.keys.size()));
  if (added) {
    d.keys.emplace_back();
    d.keys.back().holders = HostBits(d.numbers.size(), false);
  }
  return it->second;
}

uint32_t intern_value(Data::Key& key, const std::string& value) {
  auto [it, added] = key.value_ids.emplace(value, static_cast<uint32_t>(key.values.size()));
  if (added) key.values.push_back({value, {}});
  return it->second;
}

uint32_t intern_pool_kind(Data& d, const PciDevice& sample) {
  // The pool keys of HostState::add_pci_device; few distinct ones, so a scan is enough.
  for (size_t k = 0; k < d.pool_kinds.size(); ++k) {
    const PciDevice& s = d.pool_kinds[k];
    if (s.vendor_id == sample.vendor_id && s.product_id == sample.product_id &&
        s.numa_node == sample.numa_node && s.dev_type == sample.dev_type) {
      return static_cast<uint32_t>(k);
    }
  }
  d.pool_kinds.push_back(sample);
  return static_cast<uint32_t>(d.pool_kinds.size() - 1);
}

std::vector<std::pair<uint32_t, uint32_t>> metadata_ids(Data& d, const HostState& host) {
  std::vector<std::pair<uint32_t, uint32_t>> ids;
  for (const auto& [key, values] : host.aggregate_metadata) {
    uint32_t k = intern_key(d, key);
    if (values.empty()) ids.emplace_back(k, Data::kNone);
    for (const auto& v : values) ids.emplace_back(k, intern_value(d.keys[k], v));
  }
  return ids;
}

void set_metadata(Data& d, size_t i, std::vector<std::pair<uint32_t, uint32_t>> ids) {
  auto& old = d.host_metadata[i];
  if (old == ids) return;
  const auto host = static_cast<uint32_t>(i);
  for (auto [k, v] : old) {
    d.keys[k].holders.reset(i);
    if (v == Data::kNone) continue;
    auto& hosts = d.keys[k].values[v].hosts;
    auto it = std::find(hosts.begin(), hosts.end(), host);
    if (it != hosts.end()) {
      *it = hosts.back();
      hosts.pop_back();
    }
  }
  for (auto [k, v] : ids) {
    d.keys[k].holders.set(i);
    if (v != Data::kNone) d.keys[k].values[v].hosts.push_back(host);
  }
  old = std::move(ids);
}

void set_numbers(Data& d, size_t i, const HostState& host) {
  d.numbers[i] = {host.headroom(), host.total, host.free_ram_mb(), host.free_pci_devices()};
  if (host.enabled && host.heartbeat_fresh && host.doctor_ok) {
    d.up.set(i);
  } else {
    d.up.reset(i);
  }
  for (const auto& [key, value] : host.capabilities) d.capability_keys.insert(key);
  auto net = host.capabilities.find("guest_network:name");
  d.host_network[i] =
      net == host.capabilities.end()
          ? Data::kNone
          : d.network_ids.emplace(net->second, static_cast<uint32_t>(d.network_ids.size()))
                .first->second;
}

}  // namespace

HostIndex::HostIndex(const std::vector<HostState>& hosts) : d_(std::make_unique<Data>()) {
  Data& d = *d_;
  const size_t n = hosts.size();
  d.numbers.resize(n);
  d.up = HostBits(n, false);
  d.host_network.resize(n, Data::kNone);
  d.host_metadata.resize(n);
  d.pool_begin.reserve(n + 1);
  for (size_t i = 0; i < n; ++i) {
    set_metadata(d, i, metadata_ids(d, hosts[i]));
    set_numbers(d, i, hosts[i]);
    d.pool_begin.push_back(static_cast<uint32_t>(d.pools.size()));
    for (const auto& pool : hosts[i].pci_pools) {
      d.pools.emplace_back(intern_pool_kind(d, pool.sample), pool.free);
    }
  }
  d.pool_begin.push_back(static_cast<uint32_t>(d.pools.size()));

  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return hosts[a].name < hosts[b].name; });
  d.name_rank.resize(n);
  for (size_t r = 0; r < n; ++r) {
    bool same = r > 0 && hosts[order[r]].name == hosts[order[r - 1]].name;
    d.name_rank[order[r]] = same ? d.name_rank[order[r - 1]] : static_cast<uint32_t>(r);
  }
}

HostIndex::HostIndex(const HostIndex& other) : d_(std::make_unique<Data>(*other.d_)) {}
HostIndex& HostIndex::operator=(const HostIndex& other) {
  if (this != &other) d_ = std::make_unique<Data>(*other.d_);
  return *this;
}
HostIndex::HostIndex(HostIndex&&) noexcept = default;
HostIndex& HostIndex::operator=(HostIndex&&) noexcept = default;
HostIndex::~HostIndex() = default;

size_t HostIndex::size() const { return d_->numbers.size(); }

void HostIndex::update(size_t i, const HostState& host) {
  Data& d = *d_;
  set_metadata(d, i, metadata_ids(d, host));
  set_numbers(d, i, host);

  // Pools: in place when the host has as many as before (claims only change free counts).
  const size_t begin = d.pool_begin[i];
  const size_t count = d.pool_begin[i + 1] - begin;
  std::vector<std::pair<uint32_t, int>> pools;
  for (const auto& pool : host.pci_pools)
    pools.emplace_back(intern_pool_kind(d, pool.sample), pool.free);
  if (pools.size() == count) {
    std::copy(pools.begin(), pools.end(), d.pools.begin() + static_cast<std::ptrdiff_t>(begin));
    return;
  }
  d.pools.erase(d.pools.begin() + static_cast<std::ptrdiff_t>(begin),
                d.pools.begin() + static_cast<std::ptrdiff_t>(begin + count));
  d.pools.insert(d.pools.begin() + static_cast<std::ptrdiff_t>(begin), pools.begin(), pools.end());
  const auto delta = static_cast<int64_t>(pools.size()) - static_cast<int64_t>(count);
  for (size_t k = i + 1; k < d.pool_begin.size(); ++k) {
    d.pool_begin[k] = static_cast<uint32_t>(d.pool_begin[k] + delta);
  }
}

void Filter::narrow(const HostView& hosts, const RequestSpec& request, HostBits& candidates) const {
  candidates.keep_if([&](size_t i) { return passes(hosts[i], request); });
}

}  // namespace gpucloud::scheduler
