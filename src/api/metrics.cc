#include <fmt/format.h>

#include "api/metrics_impl.h"

namespace gpucloud::api {
namespace {

const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,   0.25,   0.5,   1,    2.5,   5};

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string format_labels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"" + escape(labels[i].second) + "\"";
  }
  return out + "}";
}

void Metrics::observe_request(const std::string& method, const std::string& route, int status,
                              double seconds) {
  const std::string key = format_labels({{"method", method}, {"route", route}});
  std::lock_guard lock(mu_);
  counters_["gpucloud_api_requests_total"][format_labels(
      {{"method", method}, {"route", route}, {"status", std::to_string(status)}})] += 1;
  Histogram& h = latency_[key];
  if (h.counts.empty()) h.counts.assign(kBuckets.size(), 0);
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      h.counts[i] += 1;
      break;
    }
  }
  h.sum += seconds;
  h.count += 1;
}

void Metrics::inc(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  counters_[name][format_labels(labels)] += by;
}

void Metrics::describe(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  help_[name] = help;
  counters_[name];  // present (possibly empty) from the start
}

void Metrics::add_collector(std::function<std::string()> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::render() const {
  std::vector<std::function<std::string()>> collectors;
  std::string out;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
    for (const auto& [name, series] : counters_) {
      auto help = help_.find(name);
      out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name,
                         help == help_.end() ? "API requests by route and status" : help->second,
                         name);
      for (const auto& [labels, v] : series) out += fmt::format("{}{} {}\n", name, labels, v);
    }
    out +=
        "# HELP gpucloud_api_request_duration_seconds API request latency by route\n"
        "# TYPE gpucloud_api_request_duration_seconds histogram\n";
    for (const auto& [labels, h] : latency_) {
      // labels is "{method=..,route=..}": insert le= before the closing brace.
      const std::string inner = labels.substr(1, labels.size() - 2);
      double cumulative = 0;
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += h.counts[i];
        out += fmt::format("gpucloud_api_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                           inner, kBuckets[i], cumulative);
      }
      out += fmt::format("gpucloud_api_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n",
                         inner, h.count);
      out += fmt::format("gpucloud_api_request_duration_seconds_sum{} {}\n", labels, h.sum);
      out += fmt::format("gpucloud_api_request_duration_seconds_count{} {}\n", labels, h.count);
    }
  }
  for (const auto& c : collectors) out += c();
  return out;
}

}  // namespace gpucloud::api
