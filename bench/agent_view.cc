// bench/agent_view: what one agent's view of its host costs the server (GET {host}/view: every
// agent reads it every --guest-interval, 5 s), at the seed-like size of 16 hosts and at a fleet
// of 10,000, one guest per host. Side by side in one run:
//   fleet read: the view as it was before security groups (every instance of the fleet read, then
//               filtered by host), without firewalls;
//   host read:  the view now (list_host_instances, one indexed read) plus each guest's firewall
//               (ingress_rules: the host's managed guests, their rules, remote groups resolved).
// The first 100 guests share a group whose rule admits its own members (a remote group), so their
// firewalls hold 100 addresses each. Prints ms per view and what the whole fleet's views cost one
// core per second. Not part of the tests.
//
//   bench_agent_view [--hosts N] [--views V]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "store/store_impl.h"

using namespace gpucloud;
using Clock = std::chrono::steady_clock;

namespace {

void die(const std::string& what) {
  std::fprintf(stderr, "bench_agent_view: %s\n", what.c_str());
  std::exit(1);
}

struct Figures {
  double fleet_ms = 0;  // per view, reading the fleet's instances
  double host_ms = 0;   // per view, reading the host's instances and firewalls
  size_t rules = 0;     // firewall rules handed out over the host reads
};

Figures run(int hosts, int views) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("gpucloud-bench-agent-view-" + std::to_string(hosts));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = store::open_store("sqlite:///" + (dir / "db.sqlite").string());
  if (!store.ok()) die(store.error().message);
  if (auto s = store::insert_bench_guests(**store, hosts, std::min(100, hosts)); !s.ok()) {
    die(s.error().message);
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick(0, hosts - 1);
  Figures f;
  {
    const auto t0 = Clock::now();
    for (int v = 0; v < views; ++v) {
      const std::string host = "bench-" + std::to_string(pick(rng));
      auto all = (*store)->list_instances("", false);
      if (!all.ok()) die(all.error().message);
      size_t mine = 0;
      for (const auto& i : *all) mine += i.host && *i.host == host;
      if (mine != 1) die("fleet read found " + std::to_string(mine) + " guests on " + host);
    }
    f.fleet_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / views;
  }
  {
    const auto t0 = Clock::now();
    for (int v = 0; v < views; ++v) {
      const std::string host = "bench-" + std::to_string(pick(rng));
      auto mine = (*store)->list_host_instances(host);
      if (!mine.ok()) die(mine.error().message);
      auto fw = (*store)->ingress_rules(host);
      if (!fw.ok()) die(fw.error().message);
      if (mine->size() != 1 || fw->size() != 1) die("host read: wrong guests on " + host);
      f.rules += fw->begin()->second.size();
    }
    f.host_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / views;
  }
  std::filesystem::remove_all(dir);
  return f;
}

void print(const char* label, int hosts, const Figures& f, int views) {
  // Every host's agent reads its view every 5 s: hosts / 5 views per second.
  const double per_s = hosts / 5.0;
  std::printf(
      "%-10s %6d hosts: fleet read %8.3f ms/view (%7.1f core-s per s for the fleet) | host read "
      "%6.3f ms/view (%6.3f core-s per s), %.1f firewall rules per view\n",
      label, hosts, f.fleet_ms, f.fleet_ms * per_s / 1000, f.host_ms, f.host_ms * per_s / 1000,
      static_cast<double>(f.rules) / views);
}

}  // namespace

int main(int argc, char** argv) {
  int hosts = 10000, views = 200;
  for (int k = 1; k + 1 < argc; k += 2) {
    const std::string a = argv[k], v = argv[k + 1];
    if (a == "--hosts") hosts = std::atoi(v.c_str());
    if (a == "--views") views = std::atoi(v.c_str());
  }
  const Figures small = run(16, views);
  const Figures big = run(hosts, views);
  print("seed-like", 16, small, views);
  print("fleet", hosts, big, views);
  std::printf(
      "host read vs fleet read at %d hosts: %.0fx less per view; host read grows %.1fx "
      "from 16 to %d hosts\n",
      hosts, big.fleet_ms / big.host_ms, big.host_ms / small.host_ms, hosts);
  return 0;
}
