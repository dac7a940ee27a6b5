// The Controller object: current settings behind an atomically swapped shared_ptr (requests in
// flight keep the settings they started with), reload on file change or on request, and the
// advisory admission check of GPU boots.
#include "controller/controller.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace gpucloud::controller {

struct Controller::Impl {
  ControllerFiles files;
  std::shared_ptr<const Settings> settings;  // std::atomic_load / std::atomic_store only
  std::mutex mu;                             // reloads and listeners
  std::vector<std::function<void(const std::shared_ptr<const Settings>&)>> listeners;
  std::atomic<int> reloads{0};
  std::thread watcher;
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool stopping = false;

  // The admission check's kept connection, opened again when gpu_query changes on reload.
  std::mutex reader_mu;
  std::unique_ptr<GpuReader> reader;
  std::string reader_url;  // the URL `reader` reads (its text, never logged)
  std::string own_url;     // redacted; see count_own_database_with
  CountSource own_counts;

  std::vector<std::string> watched() const {
    std::vector<std::string> out;
    if (!files.cloudcontroller_ini.empty()) out.push_back(files.cloudcontroller_ini);
    out.insert(out.end(), files.nova_conf.begin(), files.nova_conf.end());
    if (!files.touch_file.empty()) out.push_back(files.touch_file);
    return out;
  }
};

namespace {
// mtime in nanoseconds and size; 0 when the file is missing (a touch file may appear later).
std::pair<int64_t, int64_t> stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {0, 0};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, st.st_size};
}
}  // namespace

Controller::Controller(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Controller::~Controller() { stop_watching(); }

Result<std::unique_ptr<Controller>> Controller::create(ControllerFiles files) {
  auto s = load_settings(files);
  if (!s.ok()) return s.error();
  auto impl = std::make_unique<Impl>();
  impl->files = std::move(files);
  impl->settings = *s;
  return std::unique_ptr<Controller>(new Controller(std::move(impl)));
}

std::shared_ptr<const Settings> Controller::settings() const {
  return std::atomic_load(&impl_->settings);
}

Status Controller::reload() {
  std::lock_guard lock(impl_->mu);
  auto s = load_settings(impl_->files);
  if (!s.ok()) {
    spdlog::error("controller: reload refused, keeping the running configuration: {}",
                  s.error().message);
    return s.error();
  }
  std::atomic_store(&impl_->settings, *s);
  ++impl_->reloads;
  spdlog::info("controller: configuration reloaded");
  for (const auto& l : impl_->listeners) l(*s);
  return Status{};
}

void Controller::on_reload(std::function<void(const std::shared_ptr<const Settings>&)> listener) {
  std::lock_guard lock(impl_->mu);
  impl_->listeners.push_back(std::move(listener));
}

int Controller::reload_count() const { return impl_->reloads.load(); }

void Controller::start_watching(std::chrono::milliseconds period) {
  if (impl_->watcher.joinable()) return;
  // The first snapshot is taken here, not in the thread: a change right after this call counts.
  auto snapshot = [m = impl_.get()] {
    std::vector<std::pair<int64_t, int64_t>> v;
    for (const auto& f : m->watched()) v.push_back(stamp(f));
    return v;
  };
  impl_->watcher = std::thread([this, period, snapshot, last = snapshot()]() mutable {
    Impl& m = *impl_;
    std::unique_lock lock(m.watch_mu);
    while (!m.watch_cv.wait_for(lock, period, [&] { return m.stopping; })) {
      auto now = snapshot();
      if (now == last) continue;
      last = now;
      (void)reload();  // refusals are logged; the old configuration stays
    }
  });
}

void Controller::stop_watching() {
  {
    std::lock_guard lock(impl_->watch_mu);
    impl_->stopping = true;
  }
  impl_->watch_cv.notify_all();
  if (impl_->watcher.joinable()) impl_->watcher.join();
}

Status Controller::admit_boot(const std::map<std::string, std::string>& extra_specs,
                              const AliasTable& aliases, int instances) {
  auto s = settings();
  if (!s->cloudcontroller.gpu_query || s->cloudcontroller.gpu_pci_ids.empty()) return Status{};
  std::vector<ProductId> ids;
  for (const auto& p : s->cloudcontroller.gpu_pci_ids) ids.push_back(p.value);
  auto asks = gpu_asks(extra_specs, aliases, ids);
  if (!asks.ok()) return asks.error();
  if (asks->empty()) return Status{};
  const DatabaseUrl& url = s->cloudcontroller.gpu_query->value;
  Result<GpuReport> report = Error::unavailable("no reader");
  {
    std::lock_guard lock(impl_->reader_mu);
    if (impl_->own_counts && impl_->own_url == url.redacted()) {
      report = count_gpus(impl_->own_counts(ids), ids);
    } else if (!impl_->reader || impl_->reader_url != url.text()) {
      impl_->reader.reset();
      auto opened = GpuReader::open(url);
      if (opened.ok()) {
        impl_->reader = std::move(*opened);
        impl_->reader_url = url.text();
      } else {
        report = opened.error();
      }
    }
    if (impl_->reader && !report.ok()) report = impl_->reader->read(ids, /*per_node=*/false);
  }
  if (!report.ok()) {
    // Advisory: an unreadable gpu_query must not stop boots; the claim still decides.
    spdlog::warn("controller: GPU admission check skipped: {}", report.error().message);
    return Status{};
  }
  return check_admission(*asks, instances, *report);
}

void Controller::count_own_database_with(std::string redacted_url, CountSource counts) {
  std::lock_guard lock(impl_->reader_mu);
  impl_->own_url = std::move(redacted_url);
  impl_->own_counts = std::move(counts);
}

}  // namespace gpucloud::controller
