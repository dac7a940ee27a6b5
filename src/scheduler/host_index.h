// The compact per-host index behind select()'s fast path (HostIndex::Data), the bit sets filters
// narrow with, and the view of host states one instance of a request sees. Private to the module.
//
// Why this shape: at 10k hosts select() used to spend its time in cache misses walking each
// HostState's node-based maps. Here a filter that reads aggregate metadata turns the request into
// a set of hosts once (the posting lists of the values that match) and ANDs it into the
// candidates; resource and PCI checks read small flat arrays; filters that can decide from the
// request alone do so once.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "scheduler/scheduler.h"

namespace gpucloud::scheduler {

// A set of host positions 0..size()-1, 64 to a word.
class HostBits {
 public:
  HostBits() = default;
  HostBits(size_t n, bool all) : n_(n), words_((n + 63) / 64, all ? ~uint64_t{0} : 0) {
    if (all && n % 64 != 0) words_.back() = (uint64_t{1} << (n % 64)) - 1;
  }
  size_t size() const { return n_; }
  bool test(size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  void set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void reset(size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  void clear() { words_.assign(words_.size(), 0); }
  HostBits& operator&=(const HostBits& other) {
    for (size_t w = 0; w < words_.size(); ++w) words_[w] &= other.words_[w];
    return *this;
  }
  bool none() const {
    for (uint64_t w : words_) {
      if (w != 0) return false;
    }
    return true;
  }
  // f(i) for every position in the set, ascending.
  template <class F>
  void for_each(F&& f) const {
    for (size_t w = 0; w < words_.size(); ++w) {
      for (uint64_t bits = words_[w]; bits != 0; bits &= bits - 1) {
        f(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
      }
    }
  }
  // Keeps the positions for which keep(i) is true.
  template <class F>
  void keep_if(F&& keep) {
    for (size_t w = 0; w < words_.size(); ++w) {
      uint64_t kept = words_[w];
      for (uint64_t bits = kept; bits != 0; bits &= bits - 1) {
        if (!keep(w * 64 + static_cast<size_t>(std::countr_zero(bits)))) kept &= ~(bits & -bits);
      }
      words_[w] = kept;
    }
  }

 private:
  size_t n_ = 0;
  std::vector<uint64_t> words_;
};

struct HostIndex::Data {
  static constexpr uint32_t kNone = UINT32_MAX;

  // Aggregate metadata (HostState::aggregate_metadata), interned. `hosts` of a value lists every
  // host with that value for the key (unordered); `holders` has the hosts whose metadata has the
  // key at all, even with no value (AvailabilityZoneFilter tells those apart).
  struct Value {
    std::string text;
    std::vector<uint32_t> hosts;
  };
  struct Key {
    std::unordered_map<std::string, uint32_t> value_ids;
    std::vector<Value> values;
    HostBits holders;
  };
  std::unordered_map<std::string, uint32_t> key_ids;
  std::vector<Key> keys;
  // Per host, the (key, value) ids it holds (value kNone for a key with no value), so that
  // update() can take a host out of the posting lists it was in.
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> host_metadata;

  // The numbers resource fit and the weighers read, one cache line per host.
  struct Numbers {
    Resources headroom;  // HostState::headroom()
    Resources total;
    int64_t free_ram_mb = 0;  // HostState::free_ram_mb()
    int64_t free_pci = 0;     // HostState::free_pci_devices()
  };
  std::vector<Numbers> numbers;
  HostBits up;  // ComputeFilter: enabled, heartbeat fresh, host doctor passed

  // PCI pools: every distinct pool key (vendor, product, NUMA node, type) once, as a sample
  // device; per host its pools in HostState order as (kind, free) from pool_begin[i] to
  // pool_begin[i + 1].
  std::vector<PciDevice> pool_kinds;
  std::vector<uint32_t> pool_begin;
  std::vector<std::pair<uint32_t, int>> pools;

  // Rank of each host's name among all names (equal names, equal rank): the tie-break of equal
  // weights without touching the strings.
  std::vector<uint32_t> name_rank;
  // Every capability key any host had since the index was built (it only grows): a capabilities
  // extra spec whose key no host has cannot refuse a host unless it is scoped.
  std::unordered_set<std::string> capability_keys;
  // Each host's guest network (capability guest_network:name), interned (kNone: none), so that a
  // boot asking for a network keeps its hosts without reading every host's capabilities.
  std::unordered_map<std::string, uint32_t> network_ids;
  std::vector<uint32_t> host_network;

  uint32_t network_id(const std::string& name) const {
    auto it = network_ids.find(name);
    return it == network_ids.end() ? kNone : it->second;
  }

  uint32_t key_id(std::string_view key) const {
    auto it = key_ids.find(std::string(key));
    return it == key_ids.end() ? kNone : it->second;
  }
  // The hosts holding a value of `key` for which match(value) is true (any_of over the values).
  template <class Match>
  HostBits hosts_matching(uint32_t key, Match&& match) const {
    HostBits out(numbers.size(), false);
    if (key == kNone) return out;
    for (const auto& v : keys[key].values) {
      if (!v.hosts.empty() && match(v.text)) {
        for (uint32_t h : v.hosts) out.set(h);
      }
    }
    return out;
  }
};

// The host states one instance of a request sees: the caller's, except those that earlier
// instances of the same request consumed, and the index that matches them.
class HostView {
 public:
  HostView(const std::vector<HostState>& hosts, const HostIndex& index,
           const std::unordered_map<size_t, HostState>& changed)
      : hosts_(hosts), index_(index.data()), changed_(changed) {}
  size_t size() const { return hosts_.size(); }
  const HostState& operator[](size_t i) const {
    if (changed_.empty()) return hosts_[i];
    auto it = changed_.find(i);
    return it == changed_.end() ? hosts_[i] : it->second;
  }
  const HostIndex::Data& index() const { return index_; }

 private:
  const std::vector<HostState>& hosts_;
  const HostIndex::Data& index_;
  const std::unordered_map<size_t, HostState>& changed_;
};

}  // namespace gpucloud::scheduler
