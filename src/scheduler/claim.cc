// Schedule and claim in one step. Host states are a snapshot and may be stale by the time we
// claim (another replica, another request); the claim re-checks under its own lock or
// transaction, and a lost race moves on to the next candidate instead of failing the instance.
#include "scheduler/scheduler_impl.h"

namespace gpucloud::scheduler {

ScheduleOutcome Scheduler::schedule_and_claim(const std::vector<HostState>& hosts,
                                              const RequestSpec& request, Claimer& claimer) const {
  ScheduleOutcome out;
  Selection sel = select(hosts, request, /*explain=*/false);
  // Instances placed before a failure stay in `claimed`, as nova leaves the ones it built: the
  // caller decides whether to release them.
  for (size_t inst = 0; inst < sel.candidates.size(); ++inst) {
    // Candidates for later instances assumed the earlier ones took their first choice; if one
    // did not, the later claims may lose a race they would not have, never over-commit.
    std::string lost;
    bool done = false;
    for (const auto& placement : sel.candidates[inst]) {
      ++out.attempts;
      auto r = claimer.claim(placement);
      if (!r.ok()) {
        out.fault = "claiming " + placement.host + " failed: " + r.error().message;
        return out;
      }
      if (*r == ClaimResult::kClaimed) {
        out.claimed.push_back(placement);
        done = true;
        break;
      }
      lost += (lost.empty() ? "" : ", ") + placement.host;
    }
    if (!done) {
      std::string prefix = request.num_instances > 1
                               ? "instance " + std::to_string(inst + 1) + " of " +
                                     std::to_string(request.num_instances) + ": "
                               : "";
      out.fault = prefix + "lost the race for every candidate host (" + lost + ") after " +
                  std::to_string(sel.candidates[inst].size()) +
                  " attempt(s) (max_attempts=" + std::to_string(options_.max_attempts) + ")";
      return out;
    }
  }
  if (!sel.ok()) out.fault = sel.fault;
  return out;
}

Result<ClaimResult> InMemoryClaimer::claim(const Placement& placement) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& host : hosts_) {
    if (host.name != placement.host) continue;
    return consume(host, placement) ? ClaimResult::kClaimed : ClaimResult::kLostRace;
  }
  return Error::not_found("claim: no host named '" + placement.host + "'");
}

std::vector<HostState> InMemoryClaimer::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hosts_;
}

}  // namespace gpucloud::scheduler
