// ServerGroupAffinityFilter and ServerGroupAntiAffinityFilter, nova's semantics: with an affinity
// group, once one of its servers has a host, only that host (those hosts) passes; with an
// anti-affinity group, a host passes while it holds fewer of the group's servers than
// max_server_per_host (1 unless the 2.64 rule says more). Requests without a group, or with a
// soft- policy (a weigher's business), pass everywhere.
//
// The scheduler's view may be stale; the claim checks the policy again in its transaction
// (store claims.cc), so two boots racing into one group cannot both break it.
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {
namespace {

class ServerGroupFilter : public CheckFilter {
 public:
  explicit ServerGroupFilter(bool anti)
      : CheckFilter(anti ? "ServerGroupAntiAffinityFilter" : "ServerGroupAffinityFilter"),
        anti_(anti) {}

  void narrow(const HostView& hosts, const RequestSpec& request,
              HostBits& candidates) const override {
    if (applies(request)) Filter::narrow(hosts, request, candidates);
  }

 private:
  bool applies(const RequestSpec& request) const {
    return request.group && request.group->policy == (anti_ ? "anti-affinity" : "affinity");
  }

  bool check(const HostState& host, const RequestSpec& request, std::string* why) const override {
    if (!applies(request)) return true;
    const GroupSpec& g = *request.group;
    auto it = g.hosts.find(host.name);
    const int here = it == g.hosts.end() ? 0 : it->second;
    if (anti_) {
      if (here < g.max_server_per_host) return true;
      if (why) {
        *why = "anti-affinity group " + g.uuid + " already has " + std::to_string(here) +
               " server(s) on this host (at most " + std::to_string(g.max_server_per_host) + ")";
      }
      return false;
    }
    if (g.hosts.empty() || here > 0) return true;
    if (why) *why = "affinity group " + g.uuid + " has its servers on " + g.hosts.begin()->first;
    return false;
  }

  bool anti_;
};

}  // namespace

std::unique_ptr<Filter> make_server_group_filter(bool anti) {
  return std::make_unique<ServerGroupFilter>(anti);
}

}  // namespace gpucloud::scheduler
