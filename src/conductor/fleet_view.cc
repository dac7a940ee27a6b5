#include "conductor/fleet_view.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace gpucloud::conductor {

FleetView::FleetView(store::Store& store, std::vector<std::string> local_hosts,
                     std::chrono::seconds down_after)
    : store_(store), local_hosts_(std::move(local_hosts)), down_after_(down_after) {}

Status FleetView::load() {
  seen_topology_ = store_.topology_version();
  // Generations first: a change that lands while the rest is read shows up as a newer
  // generation at the next refresh, and that host is read again.
  auto gens = store_.list_host_generations();
  if (!gens.ok()) return gens.error();
  auto hosts = store_.list_compute_hosts();
  if (!hosts.ok()) return hosts.error();
  auto aggs = store_.list_aggregates();
  if (!aggs.ok()) return aggs.error();
  auto devices = store_.list_pci_devices({});
  if (!devices.ok()) return devices.error();
  std::map<std::string, std::vector<const store::Aggregate*>> aggs_of;
  for (const auto& a : *aggs) {
    for (const auto& h : a.hosts) aggs_of[h].push_back(&a);
  }
  std::map<int64_t, std::vector<store::PciDeviceRecord>> devices_of;
  for (auto& d : *devices) devices_of[d.compute_node_id].push_back(std::move(d));
  std::map<int64_t, int64_t> gen_of;
  for (const auto& g : *gens) gen_of[g.id] = g.generation;

  std::vector<scheduler::HostState> states;
  states.reserve(hosts->size());
  std::map<std::string, size_t> position;
  std::map<int64_t, size_t> by_id;
  std::vector<int64_t> generation;
  std::vector<std::optional<store::TimePoint>> heartbeat;
  std::vector<bool> forced_down;
  for (const auto& h : *hosts) {
    position[h.name] = states.size();
    by_id[h.id] = states.size();
    auto g = gen_of.find(h.id);
    generation.push_back(g == gen_of.end() ? -1 : g->second);
    heartbeat.push_back(h.heartbeat_at);
    forced_down.push_back(h.forced_down);
    states.push_back(
        host_state(h, devices_of[h.id], aggs_of[h.name], host_up(h, local_hosts_, down_after_)));
  }
  std::lock_guard lock(mu_);
  hosts_ = std::move(states);
  position_ = std::move(position);
  by_id_ = std::move(by_id);
  generation_ = std::move(generation);
  heartbeat_ = std::move(heartbeat);
  forced_down_ = std::move(forced_down);
  rebuild_index_locked();
  return {};
}

void FleetView::rebuild_index_locked() { index_.emplace(hosts_); }

Result<int> FleetView::refresh() {
  auto gens = store_.list_host_generations();
  if (!gens.ok()) return gens.error();
  std::vector<int64_t> changed;
  bool membership_changed = false;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::system_clock::now();
    std::set<int64_t> seen;
    for (const auto& g : *gens) {
      seen.insert(g.id);
      auto it = by_id_.find(g.id);
      if (it == by_id_.end()) {
        membership_changed = true;  // a new host
        continue;
      }
      const size_t i = it->second;
      if (generation_[i] != g.generation) changed.push_back(g.id);
      heartbeat_[i] = g.heartbeat_at;
      // Heartbeats age without any write: liveness is re-derived at every refresh.
      const bool local =
          std::binary_search(local_hosts_.begin(), local_hosts_.end(), hosts_[i].name);
      const bool up =
          !forced_down_[i] && (local || (g.heartbeat_at && now - *g.heartbeat_at < down_after_));
      if (up != hosts_[i].heartbeat_fresh) {
        hosts_[i].heartbeat_fresh = up;
        index_->update(i, hosts_[i]);
      }
    }
    if (seen.size() != by_id_.size()) membership_changed = true;  // a host was removed
  }
  // Many changed hosts at once (an aggregate of thousands re-tagged, a restart of the fleet)
  // are cheaper to read in one pass than host by host.
  if (membership_changed || changed.size() > 256) {
    if (auto s = load(); !s.ok()) return s.error();
    return static_cast<int>(gens->size());
  }
  if (changed.empty()) return 0;
  if (auto s = reload_hosts(changed, *gens); !s.ok()) return s.error();
  return static_cast<int>(changed.size());
}

Status FleetView::reload_hosts(const std::vector<int64_t>& ids,
                               const std::vector<store::HostGeneration>& gens) {
  auto details = store_.get_host_details(ids);
  if (!details.ok()) return details.error();
  auto aggs = store_.list_aggregates_without_hosts();
  if (!aggs.ok()) return aggs.error();
  std::map<int64_t, const store::Aggregate*> agg_by_id;
  for (const auto& a : *aggs) agg_by_id[a.id] = &a;
  std::map<int64_t, int64_t> gen_of;
  for (const auto& g : gens) gen_of[g.id] = g.generation;
  std::lock_guard lock(mu_);
  for (const auto& d : *details) {
    auto it = by_id_.find(d.host.id);
    if (it == by_id_.end()) continue;  // appeared meanwhile: the next refresh loads everything
    std::vector<const store::Aggregate*> host_aggs;
    for (int64_t a : d.aggregate_ids) {
      if (auto f = agg_by_id.find(a); f != agg_by_id.end()) host_aggs.push_back(f->second);
    }
    const size_t i = it->second;
    hosts_[i] =
        host_state(d.host, d.devices, host_aggs, host_up(d.host, local_hosts_, down_after_));
    generation_[i] = gen_of.count(d.host.id) ? gen_of[d.host.id] : -1;
    heartbeat_[i] = d.host.heartbeat_at;
    forced_down_[i] = d.host.forced_down;
    index_->update(i, hosts_[i]);
  }
  return {};
}

scheduler::Selection FleetView::select(const scheduler::Scheduler& scheduler,
                                       const scheduler::RequestSpec& request) {
  // A host or aggregate changed through this process (an admin disabled a host, an agent
  // registered): read the generations first, so that the change applies to this boot.
  const uint64_t topology = store_.topology_version();
  if (seen_topology_.exchange(topology) != topology) {
    if (auto n = refresh(); !n.ok()) {
      spdlog::warn("fleet view: refresh before scheduling: {}", n.error().message);
    }
  }
  std::lock_guard lock(mu_);
  scheduler::Selection sel = scheduler.select(hosts_, *index_, request, /*explain=*/false);
  if (!sel.candidates.empty() && !sel.candidates.front().empty()) {
    const auto& best = sel.candidates.front().front();
    auto it = position_.find(best.host);
    if (it != position_.end() && scheduler::consume(hosts_[it->second], best)) {
      // The claim bumps the host's generation; until the refresh that re-reads it, the view
      // holds this reservation, so that other boots choose elsewhere meanwhile.
      index_->update(it->second, hosts_[it->second]);
    }
  }
  return sel;
}

bool FleetView::reserve(const scheduler::Placement& placement) {
  std::lock_guard lock(mu_);
  auto it = position_.find(placement.host);
  if (it == position_.end()) return false;
  if (!scheduler::consume(hosts_[it->second], placement)) return false;
  index_->update(it->second, hosts_[it->second]);
  return true;
}

void FleetView::forget(const std::string& host) {
  std::lock_guard lock(mu_);
  auto it = position_.find(host);
  if (it != position_.end()) generation_[it->second] = -1;
}

std::vector<store::PciDeviceCount> FleetView::device_counts(
    const std::vector<ProductId>& products) const {
  std::map<std::pair<ProductId, store::PciDeviceStatus>, int64_t> n;
  {
    std::lock_guard lock(mu_);
    for (const auto& h : hosts_) {
      for (const auto& pool : h.pci_pools) {
        const ProductId& p = pool.sample.product_id;
        if (!products.empty() && std::find(products.begin(), products.end(), p) == products.end())
          continue;
        for (const auto& d : pool.devices) {
          switch (d.status) {
            case scheduler::PciDeviceStatus::kAvailable:
              ++n[{p, store::PciDeviceStatus::kAvailable}];
              break;
            case scheduler::PciDeviceStatus::kClaimed:
              ++n[{p, store::PciDeviceStatus::kClaimed}];
              break;
            case scheduler::PciDeviceStatus::kAllocated:
              ++n[{p, store::PciDeviceStatus::kAllocated}];
              break;
            case scheduler::PciDeviceStatus::kUnavailable:
              ++n[{p, store::PciDeviceStatus::kUnavailable}];
              break;
            case scheduler::PciDeviceStatus::kRemoved:
              break;  // not a device any more
          }
        }
      }
    }
  }
  std::vector<store::PciDeviceCount> out;
  for (const auto& [key, count] : n) out.push_back({key.first, 0, key.second, count});
  return out;
}

size_t FleetView::size() const {
  std::lock_guard lock(mu_);
  return hosts_.size();
}

}  // namespace gpucloud::conductor
