// Loading and validating the Controller's files: cloudcontroller.ini (gpu_query, gpu_pci_ids and
// gpucloud's readiness keys in the same app section) and nova.conf (the aliases flavors name).
#include <fmt/format.h>

#include <charconv>

#include "controller/controller.h"

namespace gpucloud::controller {
namespace {

// A number of seconds (fractions allowed, e.g. 0.5) as milliseconds.
Result<std::chrono::milliseconds> parse_seconds(const std::string& text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0 || v > 86400 * 7) {
    return Error::invalid("'" + text + "' is not a number of seconds (0 to 604800)");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(v * 1000));
}

Result<int> parse_int(const std::string& text, int lo, int hi) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    return Error::invalid(fmt::format("'{}' is not an integer from {} to {}", text, lo, hi));
  }
  return v;
}

// gpucloud.readiness_* keys; anywhere in the file (the seed's file has one app section).
std::vector<config::Problem> read_readiness(const config::IniFile& file, ReadinessOptions& o) {
  std::vector<config::Problem> problems;
  for (const auto& e : file.entries()) {
    if (!e.key.starts_with("gpucloud.readiness_")) continue;
    const std::string name = e.key.substr(std::string("gpucloud.readiness_").size());
    Status s;
    auto seconds = [&](std::chrono::milliseconds& into) {
      auto v = parse_seconds(e.value);
      if (v.ok())
        into = *v;
      else
        s = v.error();
    };
    if (name == "interval") {
      seconds(o.interval);
    } else if (name == "max_interval") {
      seconds(o.max_interval);
    } else if (name == "probe_timeout") {
      seconds(o.probe_timeout);
    } else if (name == "timeout") {
      std::chrono::milliseconds ms{};
      seconds(ms);
      o.give_up = std::chrono::duration_cast<std::chrono::seconds>(ms);
    } else if (name == "verify_tls") {
      auto v = config::parse_bool(e.value);
      if (v.ok())
        o.verify_tls = *v;
      else
        s = v.error();
    } else if (name == "ssh_port") {
      auto v = parse_int(e.value, 1, 65535);
      if (v.ok())
        o.ssh_port = *v;
      else
        s = v.error();
    } else if (name == "threads") {
      auto v = parse_int(e.value, 1, 64);
      if (v.ok())
        o.threads = *v;
      else
        s = v.error();
    } else {
      s = Error::invalid(
          "unknown option (interval, max_interval, probe_timeout, timeout, "
          "verify_tls, ssh_port, threads)");
    }
    if (!s.ok()) problems.push_back({e.where, e.key + ": " + s.error().message});
  }
  if (o.interval.count() == 0) problems.push_back({{file.name(), 0}, "readiness interval is 0"});
  if (o.max_interval < o.interval) o.max_interval = o.interval;
  return problems;
}

std::string problem_list(const std::vector<config::Problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    if (p.warning) continue;
    out += (out.empty() ? "" : "; ") + p.to_string();
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const Settings>> load_settings(const ControllerFiles& files) {
  auto s = std::make_shared<Settings>();
  std::vector<config::Problem> problems;
  if (!files.cloudcontroller_ini.empty()) {
    auto ini = config::IniFile::load(files.cloudcontroller_ini, config::IniDialect::kPasteDeploy);
    if (!ini.ok()) return ini.error();
    s->cloudcontroller = config::load_cloudcontroller_config(*ini);
    problems = s->cloudcontroller.problems;
    auto more = read_readiness(*ini, s->readiness);
    problems.insert(problems.end(), more.begin(), more.end());
  }
  if (!files.nova_conf.empty()) {
    std::vector<config::IniFile> inis;
    for (const auto& f : files.nova_conf) {
      auto ini = config::IniFile::load(f);
      if (!ini.ok()) return ini.error();
      inis.push_back(std::move(*ini));
    }
    auto nova = config::load_nova_config(inis);
    problems.insert(problems.end(), nova.problems.begin(), nova.problems.end());
    s->nova = std::make_shared<const config::NovaConfig>(std::move(nova));
  }
  std::string errors = problem_list(problems);
  if (!errors.empty()) return Error::invalid("configuration refused: " + errors);
  return std::shared_ptr<const Settings>(std::move(s));
}

}  // namespace gpucloud::controller
