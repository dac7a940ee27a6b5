// The agent's loop: register, then long-poll tasks in the calling thread while a second thread
// heartbeats (re-registering when the server no longer knows the host) and checks orphans.
#include "agent/agent_loop.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/agent_client.h"
#include "agent/domain_orphans.h"
#include "agent/guest_watch.h"

namespace gpucloud::agent {
namespace {

using nlohmann::json;

std::string host_path(const AgentLoopOptions& o) { return "/gpucloud/v1/agent/hosts/" + o.host; }

std::string reply_message(const HttpReply& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    return "HTTP " + std::to_string(r.status) + ": " + j["error"].value("message", "");
  }
  return "HTTP " + std::to_string(r.status);
}

}  // namespace

AgentLoop::AgentLoop(AgentLoopOptions options, compute::ComputeDriver& driver)
    : options_(std::move(options)), driver_(driver) {}

AgentLoop::~AgentLoop() {
  stop();
  if (beat_thread_.joinable()) beat_thread_.join();
  if (guest_thread_.joinable()) guest_thread_.join();
}

Status AgentLoop::start() {
  if (options_.host.empty()) return Error::invalid("no host name");
  std::string server = options_.server_url;
  if (server.empty()) {
    auto parts = split_url(options_.credentials.auth_url);
    if (!parts.ok()) return parts.error().with_context("OS_AUTH_URL");
    server = parts->first;
  }
  const auto timeout = std::chrono::seconds(options_.poll_wait_seconds + 30);
  auto a = AgentClient::create(server, options_.credentials, timeout);
  if (!a.ok()) return a.error();
  auto b = AgentClient::create(server, options_.credentials, timeout);
  if (!b.ok()) return b.error();
  auto g = AgentClient::create(server, options_.credentials, timeout);
  if (!g.ok()) return g.error();
  tasks_client_ = std::move(*a);
  beat_client_ = std::move(*b);
  guest_client_ = std::move(*g);
  // The server may be restarting or its database away: keep trying with backoff. Anything
  // but an unreachable/unavailable server (wrong password, a host the driver does not serve)
  // will not heal by waiting and ends the agent with its message.
  auto backoff = std::chrono::seconds(1);
  for (;;) {
    Status s = tasks_client_->authenticate();
    if (s.ok()) s = register_host();
    if (s.ok()) break;
    if (s.error().code != ErrorCode::kUnavailable) return s;
    spdlog::warn("{}; retrying in {} s", s.error().message, backoff.count());
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, backoff, [this] { return stopping_.load(); })) {
      return Error::unavailable("stopped before the server could be reached");
    }
    backoff = std::min(backoff * 2, std::chrono::seconds(30));
  }
  if (auto r = check_orphans(); !r.ok()) {
    spdlog::warn("orphan check on start failed: {}", r.error().message);
  }
  beat_thread_ = std::thread([this] { heartbeat_loop(); });
  guest_thread_ = std::thread([this] { guest_loop(); });
  return {};
}

void AgentLoop::guest_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const auto wait = watch_guests();
    lock.lock();
    cv_.wait_for(lock, wait, [this] { return stopping_.load() || guests_due_; });
    guests_due_ = false;
  }
}

std::chrono::milliseconds AgentLoop::watch_guests() {
  using std::chrono::milliseconds;
  auto view = guest_client_->call("GET", host_path(options_) + "/view");
  if (!view.ok() || view->status != 200) {
    spdlog::warn("guest watch: reading the server's view failed: {}",
                 view.ok() ? reply_message(*view) : view.error().message);
    return options_.guest_interval;
  }
  auto parsed = parse_guest_watch_view(view->body);
  if (!parsed.ok()) {
    spdlog::warn("guest watch: {}", parsed.error().message);
    return options_.guest_interval;
  }
  apply_firewalls(driver_, options_.host, *parsed, firewalls_);
  const std::string body = guest_report(driver_, options_.host, *parsed);
  auto r = guest_client_->call("PUT", host_path(options_) + "/guests", body);
  if (!r.ok() || r->status != 200) {
    // An older server has no guests route (404): addresses then only come with spawn answers.
    spdlog::warn("guest watch: reporting guests failed: {}",
                 r.ok() ? reply_message(*r) : r.error().message);
  }
  if (parsed->interval.count() > 0) {
    return std::clamp(parsed->interval, milliseconds(250), options_.guest_interval);
  }
  return options_.guest_interval;
}

Status AgentLoop::register_host() {
  auto hosts = driver_.hosts();
  if (!hosts.ok()) return hosts.error();
  const compute::HostResources* mine = nullptr;
  for (const auto& h : *hosts) {
    if (h.name == options_.host) mine = &h;
  }
  if (!mine) return Error::not_found("the driver does not serve host '" + options_.host + "'");
  json host = json::parse(compute::host_resources_to_json(*mine));
  host["doctor_status"] = options_.doctor_status;
  auto r = beat_client_->call("PUT", host_path(options_), json{{"host", host}}.dump());
  if (!r.ok()) return r.error();
  if (r->status != 200) {
    return Error::unavailable("registering host " + options_.host + ": " + reply_message(*r));
  }
  spdlog::info("registered host {} ({} vcpus, {} MB, {} PCI devices{})", options_.host, mine->vcpus,
               mine->memory_mb, mine->pci_devices.size(),
               options_.doctor_status.empty() ? "" : ", doctor: " + options_.doctor_status);
  return {};
}

void AgentLoop::heartbeat_loop() {
  auto last_orphans = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, options_.heartbeat_interval, [this] { return stopping_.load(); })) {
    lock.unlock();
    auto r = beat_client_->call("POST", host_path(options_) + "/heartbeat", "{}");
    if (!r.ok()) {
      spdlog::warn("heartbeat failed: {}", r.error().message);
    } else if (r->status == 404) {
      spdlog::warn("the server does not know host {}; registering again", options_.host);
      if (auto s = register_host(); !s.ok()) spdlog::warn("{}", s.error().message);
    } else if (r->status != 200) {
      spdlog::warn("heartbeat refused: {}", reply_message(*r));
    }
    if (options_.orphan_interval.count() > 0 &&
        std::chrono::steady_clock::now() - last_orphans >= options_.orphan_interval) {
      last_orphans = std::chrono::steady_clock::now();
      if (auto o = check_orphans(); !o.ok()) {
        spdlog::warn("orphan check failed: {}", o.error().message);
      }
    }
    lock.lock();
  }
}

void AgentLoop::run() {
  const std::string path =
      host_path(options_) + "/tasks?wait=" + std::to_string(options_.poll_wait_seconds);
  while (!stopping_) {
    auto r = tasks_client_->call("GET", path);
    if (stopping_) break;
    if (!r.ok() || r->status != 200) {
      spdlog::warn("taking tasks failed: {}", r.ok() ? reply_message(*r) : r.error().message);
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stopping_.load(); });
      continue;
    }
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("tasks") || !j["tasks"].is_array()) continue;
    for (const auto& t : j["tasks"]) run_one(t.dump());
  }
}

// A string member of a task, or "" (a malformed task fails with a clear error, never the agent).
static std::string text_member(const json& t, const char* key) {
  return t.is_object() && t.contains(key) && t[key].is_string() ? t[key].get<std::string>() : "";
}

void AgentLoop::run_one(const std::string& text) {
  json t = json::parse(text, nullptr, false);
  store::AgentTask task;
  task.id = text_member(t, "id");
  task.host = options_.host;
  task.kind = text_member(t, "kind");
  task.instance_uuid = text_member(t, "instance_uuid");
  task.payload = t.is_object() && t.contains("payload") ? t["payload"].dump() : "{}";
  if (task.id.empty()) {
    spdlog::warn("a task without an id was skipped: {}", text.substr(0, 200));
    return;
  }
  if (task.kind == "spawn") {
    // Taken in a batch, it may have waited behind other tasks: a spawn the server failed
    // meanwhile (its server deleted) is skipped. If the server cannot say, the spawn runs; a
    // late answer's 409 undoes it below.
    auto now = tasks_client_->call("GET", host_path(options_) + "/tasks/" + task.id);
    json state = now.ok() && now->status == 200 ? json::parse(now->body, nullptr, false) : json();
    if (state.is_object() && state.contains("task") && state["task"].is_object() &&
        state["task"].value("state", "") == "failed") {
      spdlog::warn("task {}: spawn {} skipped: {}", task.id, task.instance_uuid,
                   state["task"].value("message", ""));
      return;
    }
  }
  spdlog::info("task {}: {} {}", task.id, task.kind, task.instance_uuid);
  Status s;
  json details = json::object();
  try {
    if (task.kind == "clean") {
      // A GPU a guest gave back: reset, check, scrub (docs/cleaning.md). The per-device outcome
      // goes back as the details; a device that is not clean becomes unavailable.
      auto r = compute::run_clean(driver_, task);
      if (r.ok()) {
        details = json::parse(*r);
      } else {
        s = r.error();
      }
    } else if (task.kind == "snapshot") {
      s = snapshot(task);
    } else if (task.kind == "console_output") {
      // A question, not a change: it always "succeeds" and the answer says what there is.
      // The text is made valid UTF-8 here (a guest writes any bytes) before it goes into JSON.
      auto r = driver_.console_output(options_.host, task.instance_uuid);
      if (r.ok()) {
        details = {{"output", compute::console_text(*r, std::nullopt)}};
      } else {
        details = {
            {"error", {{"code", to_string(r.error().code)}, {"message", r.error().message}}}};
      }
    } else {
      s = task.kind == "spawn" ? cache_image(task) : Status{};
      if (s.ok()) s = compute::run_task(driver_, task);
    }
  } catch (const std::exception& e) {
    // Input from another process must not end this one: the task fails with the reason.
    s = Error::invalid("malformed task: " + std::string(e.what()));
  }
  if (!s.ok()) spdlog::warn("task {} ({}) failed: {}", task.id, task.kind, s.error().message);
  json result = {{"result", {{"succeeded", s.ok()}, {"message", s.ok() ? "" : s.error().message}}}};
  if (s.ok() && !details.empty()) result["result"]["details"] = details;
  // The server's readiness probes need the new guest's address.
  if (s.ok() && task.kind == "spawn") {
    auto ip = driver_.guest_address(options_.host, task.instance_uuid);
    if (ip.ok() && !ip->empty()) result["result"]["details"] = {{"ip_address", *ip}};
  }
  auto r = tasks_client_->call("POST", host_path(options_) + "/tasks/" + task.id, result.dump());
  if (!r.ok() || r->status != 204) {
    spdlog::warn("answering task {} failed: {}", task.id,
                 r.ok() ? reply_message(*r) : r.error().message);
  }
  // A spawn the server failed while it ran (its server deleted, or its boot given up after the
  // agent timeout: a slow image download) made a guest nobody wants, holding GPUs that went to
  // cleaning: it goes now, before the clean that follows finds them passed through. The 409 of
  // Store::finish_agent_task names the state it found; a 409 for an answer recorded earlier
  // ("succeeded") leaves the guest alone.
  if (s.ok() && task.kind == "spawn" && r.ok() && r->status == 409 &&
      reply_message(*r).find("already finished (failed") != std::string::npos) {
    auto d = driver_.destroy(options_.host, task.instance_uuid);
    spdlog::warn("task {}: the server no longer waits for this spawn; its guest {}: {}", task.id,
                 task.instance_uuid, d.ok() ? "destroyed" : d.error().message);
    return;
  }
  if (s.ok() && task.kind == "spawn") {
    std::lock_guard lock(mu_);
    guests_due_ = true;  // the new guest's address and probe need not wait for the interval
    cv_.notify_all();
  }
}

Status AgentLoop::snapshot(const store::AgentTask& task) {
  namespace fs = std::filesystem;
  json payload = json::parse(task.payload, nullptr, false);
  const std::string id = payload.is_object() ? text_member(payload, "image_id") : "";
  if (id.empty() || id.find_first_not_of("0123456789abcdefABCDEF-") != std::string::npos) {
    return Error::invalid("snapshot task " + task.id +
                          ": payload.image_id: an image id is required");
  }
  // Beside the image cache when there is one (same file system as the guests' disks, usually).
  const fs::path dir =
      options_.image_cache.empty() ? fs::temp_directory_path() : fs::path(options_.image_cache);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path file = dir / ("snapshot-" + id);
  Status s = compute::snapshot_guest(driver_, options_.host, task.instance_uuid, file.string());
  if (s.ok()) {
    auto r = tasks_client_->upload(host_path(options_) + "/snapshots/" + id, file.string());
    if (!r.ok()) {
      s = r.error();
    } else if (r->status != 204) {
      s = Error::unavailable("uploading snapshot image " + id + ": " + reply_message(*r));
    }
  }
  fs::remove(file, ec);
  return s;
}

Status AgentLoop::cache_image(store::AgentTask& task) {
  namespace fs = std::filesystem;
  if (options_.image_cache.empty()) return {};
  json payload = json::parse(task.payload, nullptr, false);
  if (!payload.is_object() || !payload["image"].is_object()) return {};  // run_task says why
  json& image = payload["image"];
  const std::string id = image.value("id", "");
  if (auto s = cache_one_image(task.id, id, image); !s.ok()) return s;
  // nova's kernel_id / ramdisk_id name other images: a directly booted guest needs them too.
  if (image.contains("properties") && image["properties"].is_object()) {
    for (const char* key : {"kernel_id", "ramdisk_id"}) {
      const json& p = image["properties"];
      if (!p.contains(key) || !p[key].is_string() || p[key].get<std::string>().empty()) continue;
      if (auto s = cache_one_image(task.id, p[key].get<std::string>(), json::object()); !s.ok())
        return s.error().with_context(key);
    }
  }
  image["location"] = (fs::path(options_.image_cache) / id).string();  // the driver reads it
  task.payload = payload.dump();
  return {};
}

// One image into the cache unless it is there; `image` gives the size and MD5 to check when
// known (the spawn's own image; not kernel_id / ramdisk_id images).
Status AgentLoop::cache_one_image(const std::string& task_id, const std::string& id,
                                  const json& image) {
  namespace fs = std::filesystem;
  if (id.empty() || id.find('/') != std::string::npos || id.front() == '.')
    return Error::invalid("spawn task " + task_id + ": bad image id '" + id + "'");
  const fs::path cached = fs::path(options_.image_cache) / id;
  std::error_code ec;
  if (fs::exists(cached, ec)) return {};
  fs::create_directories(options_.image_cache, ec);
  const fs::path part = cached.string() + ".part";
  spdlog::info("image {}: not cached on this host; downloading it from the server", id);
  auto md5 = tasks_client_->download("/gpucloud/v1/agent/images/" + id + "/file", part);
  if (!md5.ok()) {
    fs::remove(part, ec);
    return Error::unavailable("image " + id + ": " + md5.error().message);
  }
  // A short or damaged file must never become a base image: size and MD5 recorded at upload
  // must match what arrived.
  const auto size = fs::file_size(part, ec);
  if (image.contains("size") && image["size"].is_number_integer() &&
      size != image["size"].get<uintmax_t>()) {
    fs::remove(part, ec);
    return Error::unavailable("image " + id + ": downloaded " + std::to_string(size) +
                              " bytes, the image has " + image["size"].dump());
  }
  const std::string checksum = image.value("checksum", "");
  if (!checksum.empty() && *md5 != checksum) {
    fs::remove(part, ec);
    return Error::unavailable("image " + id + ": downloaded data has MD5 " + *md5 +
                              ", the image's checksum is " + checksum);
  }
  fs::rename(part, cached, ec);
  if (ec) return Error::internal("caching image " + id + ": " + ec.message());
  return {};
}

Result<std::string> AgentLoop::check_orphans() {
  auto view = beat_client_->call("GET", host_path(options_) + "/view");
  if (!view.ok()) return view.error();
  if (view->status != 200) return Error::unavailable("server view: " + reply_message(*view));
  json v = json::parse(view->body, nullptr, false);
  if (!v.is_object()) return Error::unavailable("server view: not JSON");
  std::vector<store::Instance> instances;
  for (const auto& i : v.value("instances", json::array())) {
    store::Instance inst;
    inst.uuid = i.value("uuid", "");
    auto st = store::parse_server_status(i.value("status", "ERROR"));
    inst.status = st.ok() ? *st : store::ServerStatus::kError;
    inst.host = options_.host;
    instances.push_back(std::move(inst));
  }
  std::vector<store::PciDeviceRecord> devices;
  for (const auto& d : v.value("pci_devices", json::array())) {
    store::PciDeviceRecord rec;
    auto a = PciAddress::parse(d.value("address", ""));
    auto st = store::parse_pci_device_status(d.value("status", ""));
    if (!a.ok() || !st.ok()) continue;
    rec.address = *a;
    rec.status = *st;
    if (d.contains("instance_uuid") && d["instance_uuid"].is_string()) {
      rec.instance_uuid = d["instance_uuid"].get<std::string>();
    }
    devices.push_back(std::move(rec));
  }
  auto domains = driver_.list_domains(options_.host);
  if (!domains.ok()) return domains.error();
  OrphanReport report = find_orphans(*domains, instances, devices);

  json orphans = json::array(), missing = json::array(), leaked = json::array(),
       unclaimed = json::array();
  for (const auto& d : report.orphan_domains) {
    orphans.push_back({{"domain", d.name}, {"instance_uuid", d.instance_uuid}});
  }
  for (const auto& u : report.missing_domains) missing.push_back(u);
  std::set<std::string> leaked_instances;
  for (const auto& l : report.leaked_claims) {
    leaked.push_back({{"address", l.address.to_string()}, {"instance_uuid", l.instance_uuid}});
    leaked_instances.insert(l.instance_uuid);
  }
  for (const auto& u : report.unclaimed_uses) {
    unclaimed.push_back({{"address", u.address.to_string()}, {"domain", u.domain}});
  }
  json repaired = {{"destroyed", json::array()}, {"released", json::array()}};
  if (options_.repair_orphans && !report.clean()) {
    for (const auto& d : report.orphan_domains) {
      if (auto s = driver_.destroy(options_.host, d.instance_uuid); s.ok()) {
        repaired["destroyed"].push_back(d.name);
      } else {
        spdlog::warn("repair: destroying orphan domain {} failed: {}", d.name, s.error().message);
      }
    }
    if (!leaked_instances.empty()) {
      json body = {{"instances", json(std::vector<std::string>(leaked_instances.begin(),
                                                               leaked_instances.end()))}};
      auto r = beat_client_->call("POST", host_path(options_) + "/release-claims", body.dump());
      if (r.ok() && r->status == 200) {
        json out = json::parse(r->body, nullptr, false);
        if (out.is_object()) repaired["released"] = out.value("released", json::array());
      } else {
        spdlog::warn("repair: releasing leaked claims failed: {}",
                     r.ok() ? reply_message(*r) : r.error().message);
      }
    }
  }
  const std::string summary =
      report.clean() ? "no orphans"
                     : fmt::format(
                           "{} orphan domain(s), {} missing domain(s), {} leaked claim(s), "
                           "{} unclaimed device use(s)",
                           orphans.size(), missing.size(), leaked.size(), unclaimed.size());
  if (report.clean()) {
    spdlog::info("orphan check: {}", summary);
  } else {
    spdlog::warn("orphan check: {}: {}", summary,
                 json{{"orphan_domains", orphans},
                      {"missing_domains", missing},
                      {"leaked_claims", leaked},
                      {"unclaimed_uses", unclaimed}}
                     .dump());
  }
  json body = {{"report",
                {{"summary", summary},
                 {"clean", report.clean()},
                 {"orphan_domains", orphans},
                 {"missing_domains", missing},
                 {"leaked_claims", leaked},
                 {"unclaimed_uses", unclaimed},
                 {"repair", options_.repair_orphans},
                 {"repaired", repaired}}}};
  auto put = beat_client_->call("PUT", host_path(options_) + "/reports/orphans", body.dump());
  if (!put.ok()) return put.error();
  if (put->status != 204) return Error::unavailable("orphan report: " + reply_message(*put));
  return summary;
}

void AgentLoop::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_.exchange(true)) return;
  }
  cv_.notify_all();
  if (tasks_client_) tasks_client_->stop();
  if (guest_client_) guest_client_->stop();
}

}  // namespace gpucloud::agent
