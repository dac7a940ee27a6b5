// A store-level client for the Galera test (galera_test.py): one process per gpucloud replica,
// each with a database URL that lists its own node first, claiming the same few GPUs as the
// others, so that claims on different nodes conflict and Galera's certification decides.
//   galera_worker URL setup HOSTS GPUS
//     creates the schema and hosts gpu-0..gpu-(HOSTS-1) with GPUS K2 GPUs each
//   galera_worker URL claims THREADS CLAIMS PREFIX HOSTS
//     CLAIMS claims in all, over THREADS threads; each: create an instance row, claim one GPU on
//     a random host, allocate it, then delete the instance (which releases it into cleaning), and
//     answer the host's "clean" tasks as its agent would (which frees the GPU). One line per
//     outcome: "ok UUID" (claimed; "deleted UUID" follows), "full UUID" (no free GPU: the
//     instance ends in ERROR), "error UUID MESSAGE"; then "stats k=v ..." with the store's retry
//     counters. Every step is repeated while the database is unavailable (a node killed or
//     restarting): the replica must outlive its node.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/store_impl.h"  // the retry counters (StoreTestAccess)

using namespace gpucloud;
using namespace gpucloud::store;

namespace {

std::mutex g_out;
void say(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_out);
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// Runs `step` until it succeeds or fails for a reason other than an unreachable database, for
// at most a minute (a node's restart or a view change takes seconds).
template <typename F>
auto persist(F step) -> decltype(step()) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto r = step();
    if (r.ok() || r.error().code != ErrorCode::kUnavailable ||
        std::chrono::steady_clock::now() > give_up) {
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void clean_as_agent(Store& store, const std::string& host);

ClaimRequest one_gpu(const std::string& uuid, const std::string& host) {
  ClaimRequest c;
  c.instance_uuid = uuid;
  c.project_id = "galera";
  c.host = host;
  c.resources = {1, 128, 1};
  DeviceRequest d;
  d.alias = "K2_Grid";
  d.request_id = uuid;
  d.count = 1;
  d.matches.push_back({*HexId::parse("10de"), *HexId::parse("11bf"), std::nullopt});
  c.devices.push_back(d);
  return c;
}

int setup(Store& store, int hosts, int gpus) {
  for (int h = 0; h < hosts; ++h) {
    ComputeHost host;
    host.name = "gpu-" + std::to_string(h);
    host.vcpus = 1024;
    host.memory_mb = 1 << 20;
    host.disk_gb = 100000;
    auto r = store.upsert_compute_host(host);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    std::vector<PciDevice> devs;
    for (int i = 0; i < gpus; ++i) {
      PciDevice d;
      char addr[32];
      std::snprintf(addr, sizeof addr, "0000:%02x:00.0", 0x40 + i);
      d.address = *PciAddress::parse(addr);
      d.vendor_id = *HexId::parse("10de");
      d.product_id = *HexId::parse("11bf");
      devs.push_back(d);
    }
    if (Status s = store.sync_pci_devices(host.name, devs); !s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return 1;
    }
  }
  return 0;
}

void claim_loop(Store& store, int thread, int claims, const std::string& prefix, int hosts) {
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < claims; ++i) {
    const std::string uuid = prefix + "-" + std::to_string(thread) + "-" + std::to_string(i);
    Instance inst;
    inst.uuid = uuid;
    inst.name = uuid;
    inst.project_id = "galera";
    inst.user_id = "galera";
    inst.flavor_id = "gpu";
    inst.created_at = inst.updated_at = std::chrono::system_clock::now();
    // A create whose COMMIT was lost may have happened: then the row is there.
    Status created = persist([&] {
      Status s = store.create_instance(inst);
      if (!s && s.error().code != ErrorCode::kConflict) return s;
      if (!s && !store.get_instance(uuid).ok()) return s;
      return Status::Ok();
    });
    if (!created) {
      say("error " + uuid + " create: " + created.error().message);
      continue;
    }
    const std::string host = "gpu-" + std::to_string(rng() % hosts);
    auto claimed = persist([&] { return store.claim(one_gpu(uuid, host)); });
    if (!claimed && claimed.error().code == ErrorCode::kConflict) {
      // A claim repeated by persist() after its COMMIT was lost finds its own first attempt.
      PciDeviceFilter mine;
      mine.instance_uuid = uuid;
      auto held = persist([&] { return store.list_pci_devices(mine); });
      if (held && !held->empty()) claimed = ClaimResult{std::move(*held), 1};
    }
    if (!claimed) {
      const bool full = claimed.error().code == ErrorCode::kConflict;
      say((full ? "full " : "error ") + uuid + (full ? "" : " claim: " + claimed.error().message));
      // Whatever happened, the instance ends in ERROR holding nothing.
      (void)persist([&] { return store.release_claims(uuid, false); });  // no guest had it
      (void)persist([&] {
        return store.set_instance_status(uuid, ServerStatus::kError, "error", std::nullopt,
                                         PowerState::kNoState);
      });
      continue;
    }
    say("ok " + uuid + " " + host);
    if (Status s = persist([&] { return store.allocate_claims(uuid); }); !s) {
      say("error " + uuid + " allocate: " + s.error().message);
    }
    if (Status s = persist([&] { return store.delete_instance(uuid); }); !s) {
      say("error " + uuid + " delete: " + s.error().message);
      continue;
    }
    say("deleted " + uuid);
    clean_as_agent(store, host);
  }
}

// The GPU went to cleaning with a "clean" task for its host: answer the host's tasks as its
// agent would when the device came back clean, which frees the GPU (in another transaction, on
// whichever replica takes the task).
void clean_as_agent(Store& store, const std::string& host) {
  auto tasks = persist([&] { return store.take_agent_tasks(host, 8); });
  if (!tasks) return;  // another replica's worker answers them
  for (const auto& t : *tasks) {
    nlohmann::json payload = nlohmann::json::parse(t.payload, nullptr, false), devices;
    if (payload.is_object() && payload["devices"].is_array()) {
      for (const auto& d : payload["devices"])
        devices.push_back({{"id", d["id"]}, {"clean", true}});
    }
    const std::string result = nlohmann::json{{"devices", devices}}.dump();
    if (Status s = persist([&] { return store.finish_agent_task(t.id, host, true, "", result); });
        !s && s.error().code != ErrorCode::kConflict) {
      say("error " + t.id + " clean: " + s.error().message);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(
        stderr, "usage: galera_worker URL setup HOSTS GPUS | claims THREADS CLAIMS PREFIX HOSTS\n");
    return 2;
  }
  const std::string mode = argv[2];
  OpenOptions o;
  o.pool_size = 8;
  o.busy_timeout_ms = 30000;
  o.migrate = mode == "setup";
  auto opened = open_store(argv[1], o);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  Store& store = **opened;
  if (mode == "setup" && argc == 5) return setup(store, std::stoi(argv[3]), std::stoi(argv[4]));
  if (mode != "claims" || argc != 7) return 2;
  const int threads = std::stoi(argv[3]), claims = std::stoi(argv[4]), hosts = std::stoi(argv[6]);
  const std::string prefix = argv[5];
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    const int mine = claims / threads + (t < claims % threads ? 1 : 0);
    pool.emplace_back([&, t, mine] { claim_loop(store, t, mine, prefix, hosts); });
  }
  for (auto& th : pool) th.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto& r = StoreTestAccess::impl(store).counters;
  say("stats galera=" + std::to_string(StoreTestAccess::impl(store).galera.load() ? 1 : 0) +
      " transactions=" + std::to_string(r.transactions.load()) +
      " deadlocks=" + std::to_string(r.deadlocks.load()) +
      " certification_failures=" + std::to_string(r.certification_failures.load()) +
      " lock_wait_timeouts=" + std::to_string(r.lock_wait_timeouts.load()) +
      " reconnects=" + std::to_string(r.reconnects.load()) + " commit_unknown=" +
      std::to_string(r.commit_unknown.load()) + " seconds=" + std::to_string(secs));
  return 0;
}
