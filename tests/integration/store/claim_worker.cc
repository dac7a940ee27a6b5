// A child process for the store's concurrency and crash tests.
//   store_claim_worker URL race THREADS ITERATIONS PREFIX
//     THREADS threads claim 1-3 GPUs each from host "pool", sometimes releasing; one line per
//     outcome: "ok UUID N", "fail UUID N", "released UUID".
//   store_claim_worker URL crash PREFIX
//     claims 4 GPUs at a time forever; when a claim has written everything but not committed,
//     it prints "mid-claim UUID" and pauses, so the test can SIGKILL it inside the transaction.
//   store_claim_worker URL group GROUP HOSTS INSTANCES
//     one thread per instance (comma-separated uuids, members of server group GROUP) claims
//     the first host of HOSTS (comma-separated, all in the same order) that the group's policy
//     lets it have; one line per instance: "ok UUID HOST" or "fail UUID".
//   store_claim_worker URL boot-into GROUPS
//     for each security group id of GROUPS (comma-separated) creates a server "vm-<id>" in it;
//     one line each: "ok ID" or "fail ID" (the group was gone).
//   store_claim_worker URL delete-groups GROUPS
//     deletes each security group of GROUPS, last first (so that it meets boot-into, which goes
//     first to last, somewhere in the middle); one line each: "deleted ID" or "inuse ID".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/store_impl.h"

using namespace gpucloud;
using namespace gpucloud::store;

namespace {

std::mutex g_out;
void say(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_out);
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

ClaimRequest request(const std::string& uuid, int count) {
  ClaimRequest c;
  c.instance_uuid = uuid;
  c.project_id = "p";
  c.host = "pool";
  c.resources = {1, 128, 1};
  DeviceRequest d;
  d.alias = "K2_Grid";
  d.request_id = "r-" + uuid;
  d.count = count;
  d.matches.push_back({*HexId::parse("10de"), *HexId::parse("11bf"), std::nullopt});
  c.devices.push_back(d);
  return c;
}

std::vector<std::string> split(const std::string& csv) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from <= csv.size()) {
    size_t comma = csv.find(',', from);
    if (comma == std::string::npos) comma = csv.size();
    out.push_back(csv.substr(from, comma - from));
    from = comma + 1;
  }
  return out;
}

int group_race(Store& store, const std::string& group, const std::string& hosts_csv,
               const std::string& instances_csv) {
  const auto hosts = split(hosts_csv);
  std::vector<std::thread> pool;
  for (const auto& uuid : split(instances_csv)) {
    pool.emplace_back([&, uuid] {
      for (const auto& host : hosts) {
        ClaimRequest c;
        c.instance_uuid = uuid;
        c.project_id = "p";
        c.host = host;
        c.resources = {1, 128, 1};
        c.server_group = group;
        auto r = store.claim(c);
        if (r.ok()) return say("ok " + uuid + " " + host);
        if (r.error().code != ErrorCode::kConflict) return say("error " + r.error().message);
      }
      say("fail " + uuid);
    });
  }
  for (auto& th : pool) th.join();
  return 0;
}

int security_group_race(Store& store, const std::string& mode, const std::string& groups_csv) {
  auto groups = split(groups_csv);
  if (mode != "boot-into") std::reverse(groups.begin(), groups.end());
  for (const auto& g : groups) {
    if (mode == "boot-into") {
      Instance i;
      i.uuid = "vm-" + g;
      i.name = i.uuid;
      i.project_id = "p";
      LifecycleTask t;
      t.kind = "boot";
      t.step = "schedule";
      auto s = store.create_instance_with_task(i, t, nullptr, "", {g});
      if (s.ok()) {
        say("ok " + g);
      } else if (s.error().code == ErrorCode::kNotFound) {
        say("fail " + g);
      } else {
        say("error " + s.error().message);
      }
    } else {
      auto s = store.delete_security_group(g);
      if (s.ok()) {
        say("deleted " + g);
      } else if (s.error().code == ErrorCode::kConflict) {
        say("inuse " + g);
      } else {
        say("error " + s.error().message);
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  OpenOptions o;
  o.pool_size = 8;
  o.busy_timeout_ms = 30000;
  auto opened = open_store(argv[1], o);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  Store& store = **opened;
  const std::string mode = argv[2];
  if (mode == "crash") {
    const std::string prefix = argv[3];
    thread_local std::string current;
    StoreTestAccess::impl(store).mid_claim_hook = [] {
      say("mid-claim " + current);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    };
    for (int i = 0;; ++i) {
      current = prefix + "-" + std::to_string(i);
      auto r = store.claim(request(current, 4));
      say(std::string(r.ok() ? "ok " : "fail ") + current + " 4");
      if (!r.ok()) return 0;
    }
  }
  if (mode == "group" && argc >= 6) return group_race(store, argv[3], argv[4], argv[5]);
  if (mode == "boot-into" || mode == "delete-groups") {
    return security_group_race(store, mode, argv[3]);
  }
  if (mode != "race" || argc < 6) return 2;
  const int threads = std::stoi(argv[3]), iterations = std::stoi(argv[4]);
  const std::string prefix = argv[5];
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(std::random_device{}());
      for (int i = 0; i < iterations; ++i) {
        const std::string uuid = prefix + "-" + std::to_string(t) + "-" + std::to_string(i);
        const int count = 1 + static_cast<int>(rng() % 3);
        auto r = store.claim(request(uuid, count));
        if (!r.ok() && r.error().code != ErrorCode::kConflict) {
          say("error " + uuid + " " + r.error().message);
          continue;
        }
        say(std::string(r.ok() ? "ok " : "fail ") + uuid + " " + std::to_string(count));
        if (r.ok() && rng() % 3 == 0) {
          if (store.release_claims(uuid, false).ok()) say("released " + uuid);  // no guest
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  return 0;
}
