// select(): nova's filter scheduler loop. For each instance: filter every host, weigh the ones
// that passed, take the best and up to max_attempts - 1 alternates, then consume the chosen
// host's resources so that the next instance of the same request sees them taken (nova's
// consume_from_request).
#include <algorithm>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "scheduler/host_index.h"
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {

Result<Scheduler> Scheduler::create(SchedulerOptions options, const FilterRegistry& registry) {
  if (options.max_attempts < 1) {
    return Error::invalid("max_attempts: " + std::to_string(options.max_attempts) +
                          " is less than 1");
  }
  auto filters = registry.create(options.enabled_filters, options);
  if (!filters.ok()) return filters.error();
  Scheduler s;
  s.options_ = std::move(options);
  for (auto& f : filters.value()) {
    s.filter_names_.push_back(f->name());
    s.filters_.push_back(std::move(f));
    if (s.filters_.back()->checks_fit()) s.fit_filters_.push_back(s.filters_.back());
  }
  return s;
}

std::vector<FilterVerdict> Scheduler::rebuild_verdicts(const HostState& host,
                                                       const RequestSpec& request) const {
  std::vector<FilterVerdict> out;
  for (const auto& f : filters_) {
    if (f->runs_on_rebuild()) out.push_back({f->name(), f->filter(host, request)});
  }
  return out;
}

std::vector<std::string> Selection::selected() const {
  std::vector<std::string> out;
  for (const auto& c : candidates) {
    if (!c.empty()) out.push_back(c.front().host);
  }
  return out;
}

Selection Scheduler::select(const std::vector<HostState>& hosts, const RequestSpec& request,
                            bool explain) const {
  return select_with(hosts, nullptr, request, explain);
}

Selection Scheduler::select(const std::vector<HostState>& hosts, const HostIndex& index,
                            const RequestSpec& request, bool explain) const {
  // An index built from another list of hosts would answer for the wrong hosts: build one.
  return select_with(hosts, index.size() == hosts.size() ? &index : nullptr, request, explain);
}

Selection Scheduler::select_with(const std::vector<HostState>& hosts, const HostIndex* index,
                                 const RequestSpec& request, bool explain) const {
  Selection sel;
  if (Status st = check_request(request); !st.ok()) {
    sel.request_error = st.error().message;
    sel.fault = st.error().message;
    for (const auto& h : hosts) sel.hosts.push_back({h.name, false, {}, std::nullopt, {}});
    return sel;
  }
  // Hosts changed by earlier instances of this request, and an index that matches them: the
  // caller's states and index stay untouched. Without the caller's index, one is built when first
  // needed (an explained single instance on a handful of hosts needs it only for weighing).
  std::unordered_map<size_t, HostState> consumed;
  std::optional<HostIndex> own_index;
  auto current_index = [&]() -> const HostIndex& {
    if (own_index) return *own_index;
    if (index != nullptr) return *index;
    return own_index.emplace(hosts);
  };
  auto view = [&] { return HostView(hosts, current_index(), consumed); };
  auto state = [&](size_t i) -> const HostState& {
    if (consumed.empty()) return hosts[i];
    auto it = consumed.find(i);
    return it == consumed.end() ? hosts[i] : it->second;
  };
  // An instance placed into a server group changes where the group is for the next ones: they
  // are filtered against a copy of the request that knows it.
  std::optional<RequestSpec> grouped;
  const RequestSpec* req = &request;
  const auto& filters = request.force_host ? fit_filters_ : filters_;
  auto report = [&](size_t i) {
    const HostState& h = state(i);
    HostReport r{h.name, true, {}, std::nullopt, {}};
    if (auto out = pinned_out(h, *req)) {
      r.passed = false;
      r.filters.push_back(std::move(*out));
      return r;
    }
    for (const auto& f : filters) {
      Verdict v = f->filter(h, *req);
      if (!v.passed) r.passed = false;
      r.filters.push_back({f->name(), std::move(v)});
    }
    return r;
  };

  for (int inst = 0; inst < request.num_instances; ++inst) {
    const bool full = explain && inst == 0;
    std::vector<HostReport> reports;
    std::vector<size_t> passed;
    if (full) {
      for (size_t i = 0; i < hosts.size(); ++i) {
        reports.push_back(report(i));
        if (reports.back().passed) passed.push_back(i);
      }
    } else {
      // Filter by filter over all hosts at once; the pass set does not depend on the order.
      const HostView hosts_now = view();
      HostBits candidates(hosts.size(), true);
      if (!req->requested_host.empty()) {
        candidates.keep_if([&](size_t i) { return hosts[i].name == req->requested_host; });
      }
      if (!req->network.empty()) {
        const HostIndex::Data& d = current_index().data();
        const uint32_t net = d.network_id(req->network);
        candidates.keep_if(
            [&](size_t i) { return net != HostIndex::Data::kNone && d.host_network[i] == net; });
      }
      for (const auto& f : filters) {
        if (candidates.none()) break;
        f->narrow(hosts_now, *req, candidates);
      }
      candidates.for_each([&](size_t i) { passed.push_back(i); });
    }
    if (passed.empty()) {
      if (!full) reports = refusal_reports(filters, view(), *req);
      std::vector<const HostState*> ptrs;
      for (size_t i = 0; i < hosts.size(); ++i) ptrs.push_back(&state(i));
      sel.fault = summarize_fault(reports, ptrs, *req, inst);
      if (inst == 0) sel.hosts = std::move(reports);
      return sel;
    }

    const HostView hosts_now = view();
    std::vector<std::vector<std::pair<std::string, double>>> scores;
    std::vector<double> weights =
        weigh_hosts(hosts_now, passed, *req, options_, full ? &scores : nullptr);
    if (full) {
      for (size_t k = 0; k < passed.size(); ++k) {
        reports[passed[k]].weight = weights[k];
        reports[passed[k]].weigher_scores = std::move(scores[k]);
      }
      sel.hosts = std::move(reports);
    }

    // Best first; equal weights by host name so that a decision can be reproduced (nova picks
    // at random among the best host_subset_size hosts, 1 by default). The name's rank in the
    // index orders as the name does.
    const auto& rank = hosts_now.index().name_rank;
    std::vector<size_t> order(passed.size());
    std::iota(order.begin(), order.end(), 0);
    size_t k = std::min(order.size(), static_cast<size_t>(options_.max_attempts));
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](size_t a, size_t b) {
      if (weights[a] != weights[b]) return weights[a] > weights[b];
      return rank[passed[a]] < rank[passed[b]];
    });
    std::vector<Placement> candidates;
    for (size_t j = 0; j < k; ++j) {
      const HostState& h = state(passed[order[j]]);
      auto devices = fit_pci_requests(h, request);
      candidates.push_back(
          {h.name, devices.value_or(std::vector<PciAddress>{}), request.requested()});
    }
    size_t chosen = passed[order[0]];
    if (inst + 1 < request.num_instances) {
      auto it = consumed.find(chosen);
      if (it == consumed.end()) it = consumed.emplace(chosen, hosts[chosen]).first;
      consume(it->second, candidates.front());
      if (!own_index) own_index.emplace(current_index());  // a copy of the caller's
      own_index->update(chosen, it->second);
      if (request.group) {  // the next instance sees this one in its group
        if (!grouped) grouped = request;
        ++grouped->group->hosts[candidates.front().host];
        req = &*grouped;
      }
    }
    sel.candidates.push_back(std::move(candidates));
  }
  return sel;
}

}  // namespace gpucloud::scheduler
