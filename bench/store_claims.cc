// bench/store_claims: GPU claims per second on SQLite and MariaDB, beside the raw commit rate of
// a one-row transaction on the same database in the same run. The ratio is what we track (aim:
// >= 50%): a claim is one transaction with a handful of statements, so it should cost about one
// commit. Not part of the test suite. On MariaDB it also prints how many statements a claim
// sends (the server's own count), which does not depend on the machine's load.
//   bench_store_claims [--mysql mysql://user:pw@127.0.0.1:PORT/DB] [--claims N]
// Without --mysql it starts a throw-away MariaDB with tests/integration/mariadb.sh.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "store/store_impl.h"

using namespace gpucloud;
using namespace gpucloud::store;

namespace {

constexpr int kDevices = 256;

ClaimRequest one_gpu(const std::string& uuid) {
  ClaimRequest c;
  c.instance_uuid = uuid;
  c.project_id = "bench";
  c.host = "bench-host";
  c.resources = {1, 1024, 10};
  DeviceRequest d;
  d.alias = "K2_Grid";
  d.request_id = "r-" + uuid;
  d.matches.push_back({*HexId::parse("10de"), *HexId::parse("11bf"), std::nullopt});
  c.devices.push_back(d);
  return c;
}

bool prepare(Store& s) {
  ComputeHost h;
  h.name = "bench-host";
  h.vcpus = 100000;
  h.memory_mb = 1LL << 40;
  h.disk_gb = 1LL << 30;
  if (!s.upsert_compute_host(h).ok()) return false;
  std::vector<PciDevice> devs;
  for (int i = 0; i < kDevices; ++i) {
    PciDevice d;
    d.address = PciAddress{0, static_cast<uint32_t>(i), 0, 0};
    d.vendor_id = *HexId::parse("10de");
    d.product_id = *HexId::parse("11bf");
    devs.push_back(d);
  }
  return s.sync_pci_devices("bench-host", devs).ok();
}

constexpr int kChunk = 64;  // claims (and commits) per timed chunk

// Times `count` single-GPU claims from `threads` threads, then releases them (untimed).
double time_claims(Store& s, int count, int threads, const std::string& prefix) {
  std::vector<std::thread> pool;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = t; i < count; i += threads) {
        auto r = s.claim(one_gpu(prefix + std::to_string(i)));
        if (!r.ok()) std::fprintf(stderr, "claim failed: %s\n", r.error().message.c_str());
      }
    });
  }
  for (auto& th : pool) th.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int i = 0; i < count; ++i) (void)s.release_claims(prefix + std::to_string(i));
  return secs;
}

// MariaDB: statements the server received per claim and per one-row commit (BEGIN and COMMIT
// included), from its "Questions" counter around a few single-threaded runs.
void print_statements(Store& s) {
  constexpr int kRuns = 20;
  auto before = server_statement_count(s);
  if (!before) return;
  (void)time_one_row_commits(s, "bench-host", kRuns);
  auto middle = server_statement_count(s);
  for (int i = 0; i < kRuns; ++i) (void)s.claim(one_gpu("stmt-" + std::to_string(i)));
  auto after = server_statement_count(s);
  for (int i = 0; i < kRuns; ++i) (void)s.release_claims("stmt-" + std::to_string(i));
  if (!middle || !after) return;
  std::printf("mariadb  statements per one-row commit %.1f, per claim %.1f\n",
              double(*middle - *before - 1) / kRuns, double(*after - *middle - 1) / kRuns);
}

// Commits and claims alternate in chunks, so that both see the same load on a shared machine;
// the ratios are what to compare between runs, not the absolute rates.
void run(const std::string& label, const std::string& url, int n) {
  OpenOptions o;
  o.pool_size = 8;
  auto opened = open_store(url, o);
  if (!opened) {
    std::fprintf(stderr, "%s: %s\n", label.c_str(), opened.error().message.c_str());
    return;
  }
  Store& s = **opened;
  if (!prepare(s)) {
    std::fprintf(stderr, "%s: cannot set up the bench host\n", label.c_str());
    return;
  }
  double commit_secs = 0, one_secs = 0, eight_secs = 0;
  int done = 0;
  for (int round = 0; done < n; ++round) {
    const int chunk = std::min(kChunk, n - done);
    auto secs = time_one_row_commits(s, "bench-host", chunk);
    if (!secs) {
      std::fprintf(stderr, "%s: %s\n", label.c_str(), secs.error().message.c_str());
      return;
    }
    commit_secs += *secs;
    one_secs += time_claims(s, chunk, 1, "a" + std::to_string(round) + "-");
    eight_secs += time_claims(s, chunk, 8, "b" + std::to_string(round) + "-");
    done += chunk;
  }
  const double commits = n / commit_secs, one = n / one_secs, eight = n / eight_secs;
  std::printf(
      "%-8s one-row commits/s %8.0f | claims/s 1 thread %8.0f (%5.1f%%) | "
      "8 threads %8.0f (%5.1f%%)\n",
      label.c_str(), commits, one, 100.0 * one / commits, eight, 100.0 * eight / commits);
  if (s.backend() == Backend::kMysql) print_statements(s);
}

}  // namespace

int main(int argc, char** argv) {
  std::string mysql;
  int n = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--mysql") mysql = argv[i + 1];
    if (a == "--claims") n = std::atoi(argv[i + 1]);
  }
  const auto dir = std::filesystem::temp_directory_path() / "gpucloud-bench-store";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::printf("store_claims: %d claims of 1 GPU each (+1 vCPU, 1 GB RAM, 10 GB disk)\n", n);
  run("sqlite", "sqlite:///" + (dir / "bench.db").string(), n);

  const std::string script = std::string(GPUCLOUD_SOURCE_DIR) + "/tests/integration/mariadb.sh";
  const std::string server_dir = (dir / "mariadb").string();
  bool started = false;
  if (mysql.empty()) {
    if (std::system((script + " start " + server_dir + " >/dev/null").c_str()) == 0) {
      std::ifstream in(server_dir + "/url");
      std::getline(in, mysql);
      mysql += "gpucloud";  // mariadb.sh creates it
      started = true;
    }
  }
  if (!mysql.empty()) run("mariadb", mysql, n);
  if (started) (void)std::system((script + " stop " + server_dir).c_str());
  std::filesystem::remove_all(dir);
  return 0;
}
