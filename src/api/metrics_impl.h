// Internal to api/: Prometheus metrics. Counters and request-latency histograms live in memory
// (per server process); gauges (GPUs free/claimed/allocated) are read from the store at scrape
// time by collectors, since the database is the source of truth across replicas.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace gpucloud::api {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Thread-safe.
  void observe_request(const std::string& method, const std::string& route, int status,
                       double seconds);
  void inc(const std::string& name, const Labels& labels = {}, double by = 1);
  // A collector appends text in Prometheus exposition format (with # HELP / # TYPE lines).
  void add_collector(std::function<std::string()> collector);
  // Declares HELP text for a counter used with inc().
  void describe(const std::string& name, const std::string& help);
  std::string render() const;

 private:
  struct Histogram {
    std::vector<double> counts;  // per bucket, cumulative at render time
    double sum = 0;
    double count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> counters_;  // name -> labels -> value
  std::map<std::string, std::string> help_;
  std::map<std::string, Histogram> latency_;  // labels -> histogram
  std::vector<std::function<std::string()>> collectors_;
};

std::string format_labels(const Labels& labels);

}  // namespace gpucloud::api
