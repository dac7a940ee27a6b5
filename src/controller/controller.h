// The Cloud Controller (the seed's last section): the GPU admission check on a pci_devices table
// named by cloudcontroller.ini, advisory refusal of GPU boots when a model is used up, readiness
// probes (ssh banner or the image's service_url) of ACTIVE instances, and configuration reload.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/core.h"
#include "probe/probe.h"
#include "store/store.h"

namespace gpucloud::controller {

// ---- GPU admission ----

// nova's statuses: available = free; claimed/allocated = in use; unavailable/unclaimable are
// counted apart; removed/deleted rows are not devices any more and are not counted.
struct GpuCount {
  int free = 0;
  int in_use = 0;
  int unavailable = 0;
  int total() const { return free + in_use + unavailable; }
};

struct ProductGpus {
  ProductId product_id;
  GpuCount count;
  // Per nova compute node (pci_devices.compute_node_id; a read-only user sees no host names).
  std::map<int64_t, GpuCount> by_compute_node;
};

struct GpuReport {
  std::string source;                 // the redacted database URL
  std::vector<ProductGpus> products;  // in the order asked
  const ProductGpus* find(const ProductId& p) const;
  int free_of(const std::vector<ProductId>& products) const;
};

// Adds up the store's per-(product, node, status) counts; every product of `products` appears,
// even with no device (all products seen when `products` is empty).
GpuReport count_gpus(const std::vector<store::PciDeviceCount>& counts,
                     const std::vector<ProductId>& products);

// Reads gpu_query's pci_devices with nothing but SELECT over one kept connection (opened again
// after it drops), so that the server's admission check costs one round trip. Errors say what
// failed (unreachable, access denied, no such table, bad URL) and show the password as ***.
class GpuReader {
 public:
  static Result<std::unique_ptr<GpuReader>> open(const DatabaseUrl& url);
  ~GpuReader();
  // Per compute node too when `per_node` (gpu-check shows them; admission needs only totals).
  Result<GpuReport> read(const std::vector<ProductId>& products, bool per_node = true);

 private:
  GpuReader(DatabaseUrl url, std::unique_ptr<store::PciDeviceCounter> counter);
  DatabaseUrl url_;
  std::unique_ptr<store::PciDeviceCounter> counter_;
};

// One check on a connection of its own (`gpucloud gpu-check`).
Result<GpuReport> read_gpu_report(const DatabaseUrl& url, const std::vector<ProductId>& products);

std::string report_text(const GpuReport& r);
std::string report_json(const GpuReport& r, std::optional<int> wanted, bool enough);

// The GPUs of a configured model that one instance of a flavor asks for.
struct GpuAsk {
  std::string alias;
  std::vector<ProductId> products;  // the alias's products that are in gpu_pci_ids
  int count = 0;
};
// From the flavor's pci_passthrough:alias; aliases matching no gpu_pci_ids product are skipped.
Result<std::vector<GpuAsk>> gpu_asks(const std::map<std::string, std::string>& extra_specs,
                                     const AliasTable& aliases,
                                     const std::vector<ProductId>& gpu_pci_ids);
// kConflict naming the model, how many were asked and how many are free when `instances` boots
// of these asks do not fit the free devices.
Status check_admission(const std::vector<GpuAsk>& asks, int instances, const GpuReport& report);

// ---- settings and reload ----

struct ReadinessOptions {
  std::chrono::milliseconds interval{2000};       // first re-check after a failed probe
  std::chrono::milliseconds max_interval{30000};  // backoff doubles up to this
  std::chrono::milliseconds probe_timeout{3000};  // connect + answer of one probe
  std::chrono::seconds give_up{900};              // ACTIVE this long without answer: timed_out
  bool verify_tls = false;                        // VMs usually have self-signed certificates
  int ssh_port = 22;
  int threads = 4;
};

struct ControllerFiles {
  std::string cloudcontroller_ini;
  std::vector<std::string> nova_conf;  // merged in order; may be empty
  std::string touch_file;              // e.g. /var/www/wsgi/cloudcontroller.wsgi; optional
};

struct Settings {
  config::CloudControllerConfig cloudcontroller;
  std::shared_ptr<const config::NovaConfig> nova;  // null without nova_conf files
  ReadinessOptions readiness;
};

// Reads and validates every file. Readiness options come from the app section's
// `gpucloud.readiness_*` keys. The error lists each problem as file:line: message.
Result<std::shared_ptr<const Settings>> load_settings(const ControllerFiles& files);

class Controller {
 public:
  static Result<std::unique_ptr<Controller>> create(ControllerFiles files);
  ~Controller();

  // The current settings; a reload swaps them atomically, readers keep what they loaded.
  std::shared_ptr<const Settings> settings() const;
  // Validates the files again; a valid configuration replaces the current one and the reload
  // listeners run; an invalid one is refused (logged with file:line) and the old one stays.
  Status reload();
  void on_reload(std::function<void(const std::shared_ptr<const Settings>&)> listener);
  // A thread that reloads when a file's mtime changes (polled every `period`).
  void start_watching(std::chrono::milliseconds period);
  void stop_watching();
  int reload_count() const;  // successful reloads so far

  // Advisory: kConflict when all GPUs of a model the flavor asks for are in use; kUnavailable
  // when the database cannot be read. OK without gpu_query or when the flavor asks no GPU.
  Status admit_boot(const std::map<std::string, std::string>& extra_specs,
                    const AliasTable& aliases, int instances);

  // When gpu_query names the server's own database (`redacted_url`, compared without the
  // password), the admission check takes the counts from `counts` (the conductor's fleet view:
  // one lock and a walk over its pools) instead of its SELECT. Counts per product and status.
  using CountSource =
      std::function<std::vector<store::PciDeviceCount>(const std::vector<ProductId>&)>;
  void count_own_database_with(std::string redacted_url, CountSource counts);

  struct Impl;

 private:
  explicit Controller(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- readiness ----

// The probes themselves live in probe/ (the agent runs them too).
using probe::expand_service_url;
using probe::probe_http;
using probe::probe_ssh;

// Where the server probes an instance: its endpoint, or nullopt when the server does not probe
// it at all (a guest of an agent's host: only that host can reach it, and its agent probes and
// reports; see docs/controller.md, "Who probes").
using EndpointSource = std::function<std::optional<probe::Endpoint>(const store::Instance&)>;
// The instance's ip_address as it is (every instance probed by the server).
using AddressSource = std::function<std::string(const store::Instance&)>;
EndpointSource by_address(AddressSource address);

// Stores one probe's outcome for `i`: READY when it answered, else waiting with the error until
// `give_up` after launch, then timed_out. Writes only when the state or the error changes (or
// nothing was stored yet). Used for the server's own probes and for those agents report.
Status record_probe(store::Store& store, const store::Instance& i, const Status& outcome,
                    const ReadinessOptions& options);

// Probes ACTIVE instances that are not READY on a pool of threads and stores the outcome with
// Store::set_instance_readiness (state and last error).
class ReadinessProber {
 public:
  // Without `endpoint`: every instance at its ip_address.
  ReadinessProber(store::Store& store, std::function<ReadinessOptions()> options,
                  EndpointSource endpoint = nullptr);
  ~ReadinessProber();
  void start();
  void stop();
  // One pass over the due instances, probing them on the calling thread (tests).
  void run_once();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpucloud::controller
