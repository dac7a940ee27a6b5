// bench/api_boot: GPU boots through the HTTP API to ACTIVE, with the fake driver, at a fleet size
// and beside the same run at the seed-like size of 16 hosts, so that the ratio says how the cost
// grows with the fleet. Prints boots/s to ACTIVE, p50/p99 from POST to ACTIVE, the server's
// start-up (the conductor's fleet view load), and the process's RSS. Not part of the tests.
//
//   bench_api_boot [--hosts N] [--concurrency C] [--boots B] [--replicas 1|2]
//                  [--database mysql://user:pw@127.0.0.1:PORT/] [--instances K]
//
// A quarter of the hosts have 8 K2 GPUs (all 16 at the small size). Replicas are ApiServers in this
// process, each with its own store connection pool and conductor (fleet view) on one database
// (MariaDB for 2; SQLite has one writer). --instances adds K ACTIVE instance rows first (memory
// with a large history).
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "api/api.h"
#include "compute/compute.h"
#include "store/store_impl.h"

using namespace gpucloud;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kGpus = 8;

void die(const std::string& what) {
  std::fprintf(stderr, "bench_api_boot: %s\n", what.c_str());
  std::exit(1);
}

double rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

std::string fake_hosts(int hosts, int gpu_hosts) {
  json list = json::array();
  for (int h = 0; h < hosts; ++h) {
    json devs = json::array();
    for (int g = 0; h < gpu_hosts && g < kGpus; ++g) {
      char addr[32];
      std::snprintf(addr, sizeof addr, "0000:%02x:00.0", g + 1);
      devs.push_back({{"address", addr}, {"vendor_id", "10de"}, {"product_id", "11bf"}});
    }
    char name[32];
    std::snprintf(name, sizeof name, "gpuhost%05d", h);
    list.push_back({{"name", name},
                    {"vcpus", 256},
                    {"memory_mb", 1 << 20},
                    {"disk_gb", 100000},
                    {"pci_devices", devs}});
  }
  return json{{"hosts", list}}.dump();
}

struct Figures {
  int hosts = 0;
  double boots_per_s = 0, p50_ms = 0, p99_ms = 0, start_s = 0, rss = 0;
  int errors = 0;
};

std::string login(int port) {
  httplib::Client c("127.0.0.1", port);
  json auth = {{"auth",
                {{"identity",
                  {{"methods", {"password"}},
                   {"password",
                    {{"user",
                      {{"name", "admin"},
                       {"domain", {{"id", "default"}}},
                       {"password", "bench-secret"}}}}}}},
                 {"scope", {{"project", {{"name", "admin"}, {"domain", {{"id", "default"}}}}}}}}}};
  auto r = c.Post("/identity/v3/auth/tokens", auth.dump(), "application/json");
  if (!r || r->status != 201) die("login");
  return r->get_header_value("X-Subject-Token");
}

Figures run(int hosts, int concurrency, int boots, int replicas, const std::string& server_url,
            int instances) {
  // The seed-like size has GPUs on every host (as the earlier figures of this bench); large
  // fleets on a quarter of them.
  const int gpu_hosts = hosts <= 16 ? hosts : hosts / 4;
  boots = std::min(boots, gpu_hosts * kGpus);
  const auto dir =
      std::filesystem::temp_directory_path() / ("gpucloud-bench-api-boot-" + std::to_string(hosts));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string url = "sqlite:///" + (dir / "db.sqlite").string();
  if (!server_url.empty()) {
    const std::string name = "bench_api_boot_" + std::to_string(hosts);
    if (auto s = store::recreate_mysql_database(server_url, name); !s.ok()) die(s.error().message);
    url = server_url + name;
  }
  auto store = store::open_store(url);
  if (!store.ok()) die(store.error().message);
  if (!api::bootstrap_identity(**store, "admin", "admin", "bench-secret").ok()) die("bootstrap");
  if (auto s = store::insert_bench_fleet(**store, "gpuhost", hosts, gpu_hosts, kGpus); !s.ok()) {
    die(s.error().message);
  }
  if (instances > 0) {
    if (auto s = store::insert_bench_instances(**store, instances); !s.ok()) {
      die(s.error().message);
    }
  }
  auto driver = compute::make_fake_driver(fake_hosts(hosts, gpu_hosts));
  if (!driver.ok()) die(driver.error().message);
  const char* nova_conf =
      "[pci]\nalias = {\"name\": \"K2_Grid\", \"vendor_id\": \"10de\", \"product_id\": \"11bf\"}\n"
      "device_spec = {\"vendor_id\": \"10de\", \"product_id\": \"11bf\"}\n"
      "[filter_scheduler]\nenabled_filters = ComputeFilter,PciPassthroughFilter\n";
  auto cfg = std::make_shared<config::NovaConfig>(
      config::load_nova_config({config::IniFile::parse(nova_conf, "bench nova.conf")}));

  std::vector<std::unique_ptr<store::Store>> stores;
  std::vector<std::unique_ptr<api::ApiServer>> servers;
  Figures f;
  f.hosts = hosts;
  for (int r = 0; r < replicas; ++r) {
    std::unique_ptr<store::Store> st;
    if (r == 0) {
      st = std::move(*store);
    } else {
      auto other = store::open_store(url);
      if (!other.ok()) die(other.error().message);
      st = std::move(*other);
    }
    api::ServerDeps deps;
    deps.store = st.get();
    deps.nova_config = cfg;
    deps.driver = driver->get();
    api::ServerOptions options;
    options.data_dir = dir.string();
    auto server = api::ApiServer::create(deps, options);
    if (!server.ok()) die("server create");
    const auto t0 = Clock::now();
    if (auto s = (*server)->start(); !s.ok()) die("server start: " + s.error().message);
    if (r == 0) f.start_s = std::chrono::duration<double>(Clock::now() - t0).count();
    stores.push_back(std::move(st));
    servers.push_back(std::move(*server));
  }
  const std::string token = login(servers[0]->port());
  httplib::Client admin("127.0.0.1", servers[0]->port());
  const httplib::Headers auth = {{"X-Auth-Token", token}};
  admin.Post(
      "/compute/v2.1/flavors", auth,
      json{{"flavor", {{"id", "gpu"}, {"name", "gpu"}, {"vcpus", 1}, {"ram", 512}, {"disk", 1}}}}
          .dump(),
      "application/json");
  admin.Post("/compute/v2.1/flavors/gpu/os-extra_specs", auth,
             json{{"extra_specs", {{"pci_passthrough:alias", "K2_Grid:1"}}}}.dump(),
             "application/json");
  auto r =
      admin.Post("/image/v2/images", auth,
                 json{{"name", "img"}, {"disk_format", "raw"}, {"container_format", "bare"}}.dump(),
                 "application/json");
  if (!r || r->status != 201) die("image create");
  const std::string image = json::parse(r->body)["id"];
  admin.Put(("/image/v2/images/" + image + "/file").c_str(), auth, std::string(4096, '\0'),
            "application/octet-stream");

  std::mutex mu;
  std::vector<double> latencies;
  std::atomic<int> next{0}, errors{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client http("127.0.0.1", servers[c % replicas]->port());
      http.set_read_timeout(60);
      for (int i; (i = next++) < boots;) {
        const auto posted = Clock::now();
        auto res = http.Post(
            "/compute/v2.1/servers", auth,
            json{{"server",
                  {{"name", "vm" + std::to_string(i)}, {"imageRef", image}, {"flavorRef", "gpu"}}}}
                .dump(),
            "application/json");
        if (!res || res->status != 202) die("server create: " + (res ? res->body : "no answer"));
        const std::string id = json::parse(res->body)["server"]["id"];
        for (;;) {
          auto g = http.Get(("/compute/v2.1/servers/" + id).c_str(), auth);
          const json s = g ? json::parse(g->body, nullptr, false) : json();
          const std::string status = s.is_object() ? s["server"].value("status", "") : "";
          if (status == "ACTIVE" || status == "ERROR") {
            if (status == "ERROR" && errors++ == 0) {
              std::fprintf(stderr, "  first ERROR: %s\n", s["server"]["fault"].dump().c_str());
            }
            std::lock_guard lock(mu);
            latencies.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - posted).count());
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(latencies.begin(), latencies.end());
  f.boots_per_s = boots / secs;
  f.p50_ms = latencies[latencies.size() / 2];
  f.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  f.errors = errors;
  f.rss = rss_mb();
  for (auto& s : servers) s->stop();
  servers.clear();
  stores.clear();
  std::filesystem::remove_all(dir);
  return f;
}

void print(const Figures& f, int boots) {
  std::printf(
      "  %5d hosts: %7.1f boots/s to ACTIVE, p50 %6.1f ms, p99 %6.1f ms POST->ACTIVE "
      "(%d boots, %d ERROR); start-up %.2f s; RSS %.0f MB\n",
      f.hosts, f.boots_per_s, f.p50_ms, f.p99_ms, boots, f.errors, f.start_s, f.rss);
}

}  // namespace

int main(int argc, char** argv) {
  int hosts = 10000, concurrency = 8, boots = 400, replicas = 1, instances = 0;
  std::string server_url;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--hosts") hosts = std::atoi(v.c_str());
    if (k == "--concurrency") concurrency = std::atoi(v.c_str());
    if (k == "--boots") boots = std::atoi(v.c_str());
    if (k == "--replicas") replicas = std::atoi(v.c_str());
    if (k == "--database") server_url = v;
    if (k == "--instances") instances = std::atoi(v.c_str());
  }
  if (replicas < 1 || replicas > 2) die("--replicas is 1 or 2");
  if (replicas == 2 && server_url.empty()) die("--replicas 2 needs --database mysql://.../");
  if (!server_url.empty() && server_url.back() != '/') server_url += '/';
  spdlog::set_level(spdlog::level::warn);  // a log line per boot would be the bench
  std::printf("bench_api_boot: fake driver, %s, %d replica(s), %d concurrent clients\n",
              server_url.empty() ? "SQLite" : "MariaDB", replicas, concurrency);
  const Figures small = run(16, concurrency, boots, replicas, server_url, 0);
  print(small, std::min(boots, 16 * kGpus));
  if (hosts != 16) {
    const Figures big = run(hosts, concurrency, boots, replicas, server_url, instances);
    print(big, boots);
    std::printf(
        "  ratio %d/16 hosts: %.0f%% of the boot rate, p50 x%.2f; %d instance rows beside\n", hosts,
        100 * big.boots_per_s / small.boots_per_s, big.p50_ms / small.p50_ms, instances);
  }
  return 0;
}
