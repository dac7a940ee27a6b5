// Private to src/conductor: the live fleet view. It is the scheduler's host states and their
// index, built once at start and then kept in step with the database: the conductor's own
// claims change it at once, and every scan reads each host's generation (one query) and re-reads
// only the hosts whose generation moved (claims, releases, registrations, aggregate and state
// changes of any replica bump it). It is a cache that picks candidates: the claim transaction
// still decides, and a claim that loses marks its host for re-reading.
//
// Thread-safe: one mutex guards the states and the index; select() holds it for one pass of the
// scheduler's fast path (tens of microseconds at 10,000 hosts).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "conductor/conductor.h"

namespace gpucloud::conductor {

class FleetView {
 public:
  FleetView(store::Store& store, std::vector<std::string> local_hosts,
            std::chrono::seconds down_after);

  // Reads every host, aggregate and device (start-up, and after many hosts changed at once).
  Status load();
  // Reads the host generations and re-reads the hosts that changed, plus the liveness of all
  // (heartbeats age without any write). Returns how many hosts were re-read.
  Result<int> refresh();

  // Candidates for one instance, best first, from the current view. When `reserve`, the first
  // candidate's resources and devices are taken in the view at once, so that concurrent boots
  // spread instead of racing for one host; the claim then confirms it (or forget() undoes it).
  scheduler::Selection select(const scheduler::Scheduler& scheduler,
                              const scheduler::RequestSpec& request);
  // Takes `placement` in the view (the claim succeeded, or is about to be tried).
  bool reserve(const scheduler::Placement& placement);
  // The host's state in the view is no longer to be trusted: re-read it at the next refresh.
  void forget(const std::string& host);

  std::vector<store::PciDeviceCount> device_counts(const std::vector<ProductId>& products) const;
  size_t size() const;

 private:
  // Re-reads `ids` (generations `gens` were read before; under no lock, takes it to apply).
  Status reload_hosts(const std::vector<int64_t>& ids,
                      const std::vector<store::HostGeneration>& gens);
  void rebuild_index_locked();

  store::Store& store_;
  std::vector<std::string> local_hosts_;
  std::chrono::seconds down_after_;

  std::atomic<uint64_t> seen_topology_{0};  // store.topology_version() at the last refresh
  mutable std::mutex mu_;
  std::vector<scheduler::HostState> hosts_;
  std::optional<scheduler::HostIndex> index_;
  std::map<std::string, size_t> position_;  // host name -> index in hosts_
  std::map<int64_t, size_t> by_id_;         // compute host id -> index in hosts_
  std::vector<int64_t> generation_;         // per position; -1: re-read at the next refresh
  std::vector<std::optional<store::TimePoint>> heartbeat_;
  std::vector<bool> forced_down_;
};

}  // namespace gpucloud::conductor
