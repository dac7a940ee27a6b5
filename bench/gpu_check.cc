// bench/gpu_check: the Cloud Controller's admission check against MariaDB with 10k pci_devices
// rows (nova's schema), beside a bare `SELECT 1` round trip on the same connection, in one run.
//   check   : what the server does per GPU boot: GpuReader::read() on its kept connection, one
//             GROUP BY (product, status) counted by the database
//   pernode : the same per compute node too (what gpu-check prints), on the kept connection
//   oneshot : what `gpucloud gpu-check` does: connect, count, disconnect
//   select1 : `SELECT 1` on a kept connection of the same user (the round-trip floor)
// Starts its own MariaDB with tests/integration/mariadb.sh. Not part of the test suite.
#include <soci/mysql/soci-mysql.h>
#include <soci/soci.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "controller/controller.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double per_second = 0, p50_us = 0, p99_us = 0;
};

Stats measure(int n, const std::function<void()>& f) {
  std::vector<double> us;
  us.reserve(n);
  const auto start = Clock::now();
  for (int k = 0; k < n; ++k) {
    const auto t = Clock::now();
    f();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(us.begin(), us.end());
  return {n / total, us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

void print(const char* name, const Stats& s) {
  std::printf("%-8s %10.0f /s   p50 %9.1f us   p99 %9.1f us\n", name, s.per_second, s.p50_us,
              s.p99_us);
}

// 10k rows over 250 nodes: 40 devices each, four models, statuses as a busy cloud has them,
// one in ten soft-deleted.
void write_rows(const std::string& path, int rows) {
  std::ofstream out(path);
  std::ifstream schema(std::string(GPUCLOUD_SOURCE_DIR) +
                       "/tests/data/controller/nova_pci_devices.sql");
  std::string line;
  bool in_create = false;
  while (std::getline(schema, line)) {  // the CREATE TABLE only, not the sample rows
    if (line.starts_with("CREATE TABLE")) in_create = true;
    if (in_create) out << line << "\n";
    if (in_create && line == ");") break;
  }
  const char* products[] = {"11bf", "13f2", "0ff2", "1db4"};
  const char* statuses[] = {"available", "allocated", "allocated", "claimed", "unavailable"};
  for (int id = 1; id <= rows; ++id) {
    if ((id - 1) % 500 == 0)
      out << (id == 1 ? "" : ";\n") << "INSERT INTO pci_devices VALUES\n";
    else
      out << ",\n";
    const int node = (id - 1) / 40 + 1, slot = (id - 1) % 40;
    const bool deleted = id % 10 == 0;
    char addr[16];
    std::snprintf(addr, sizeof addr, "0000:%02x:00.0", slot + 4);
    out << "('2026-01-01 00:00:00', NULL, NULL, " << (deleted ? id : 0) << ", " << id << ", "
        << node << ", '" << addr << "', '" << products[id % 4] << "', '10de', 'type-PCI', 'pci_"
        << id << "', 'label', '" << (deleted ? "deleted" : statuses[(id / 4) % 5])
        << "', '{}', NULL, NULL, 0, NULL, NULL)";
  }
  out << ";\n";
}

}  // namespace

int main(int argc, char** argv) {
  const int rows = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int n = argc > 2 ? std::atoi(argv[2]) : 300;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "gpucloud-bench-gpu-check";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string script = std::string(GPUCLOUD_SOURCE_DIR) + "/tests/integration/mariadb.sh";
  const std::string server = (dir / "mariadb").string();
  if (std::system((script + " start " + server + " >/dev/null").c_str()) != 0) {
    std::fprintf(stderr, "bench/gpu_check: cannot start MariaDB\n");
    return 1;
  }
  int rc = 0;
  {
    std::ifstream in(server + "/url");
    std::string url_text;
    std::getline(in, url_text);
    const std::string root = "mariadb --no-defaults -uroot --socket=" + server + "/mariadbd.sock";
    write_rows((dir / "rows.sql").string(), rows);
    const std::string setup = root + " -e \"CREATE DATABASE nova\" && " + root + " nova < " +
                              (dir / "rows.sql").string() + " && " + root +
                              " -e \"CREATE USER 'cc'@'127.0.0.1' IDENTIFIED BY 'bench'; "
                              "GRANT SELECT ON nova.pci_devices TO 'cc'@'127.0.0.1'\"";
    if (std::system(setup.c_str()) != 0) {
      std::fprintf(stderr, "bench/gpu_check: loading rows failed\n");
      rc = 1;
    } else {
      auto base = gpucloud::DatabaseUrl::parse(url_text);
      const std::string port = std::to_string(base->port().value_or(3306));
      auto url = gpucloud::DatabaseUrl::parse("mysql://cc:bench@127.0.0.1:" + port + "/nova");
      std::vector<gpucloud::ProductId> ids;
      for (const char* p : {"0ff2", "11bf", "13f2"}) ids.push_back(*gpucloud::HexId::parse(p));
      auto first = gpucloud::controller::read_gpu_report(*url, ids);
      if (!first.ok()) {
        std::fprintf(stderr, "bench/gpu_check: %s\n", first.error().message.c_str());
        rc = 1;
      } else {
        std::printf("MariaDB, %d pci_devices rows (10%% soft-deleted), %d iterations each\n", rows,
                    n);
        for (const auto& g : first->products) {
          std::printf("  %s: %d free, %d in use, %d unavailable on %zu nodes\n",
                      g.product_id.str().c_str(), g.count.free, g.count.in_use, g.count.unavailable,
                      g.by_compute_node.size());
        }
        auto reader = gpucloud::controller::GpuReader::open(*url);
        if (!reader.ok()) std::abort();
        print("check", measure(n * 10, [&] {
                auto r = (*reader)->read(ids, /*per_node=*/false);
                if (!r.ok()) {
                  std::fprintf(stderr, "bench/gpu_check: %s\n", r.error().message.c_str());
                  std::abort();
                }
              }));
        print("pernode", measure(n, [&] {
                if (!(*reader)->read(ids, /*per_node=*/true).ok()) std::abort();
              }));
        print("oneshot", measure(n, [&] {
                if (!gpucloud::controller::read_gpu_report(*url, ids).ok()) std::abort();
              }));
        soci::session sql(soci::mysql,
                          "db=nova user=cc password=bench host=127.0.0.1 port=" + port);
        print("select1", measure(n * 10, [&] {
                int one = 0;
                sql << "SELECT 1", soci::into(one);
                if (one != 1) std::abort();
              }));
      }
    }
  }
  (void)std::system((script + " stop " + server).c_str());
  fs::remove_all(dir);
  return rc;
}
