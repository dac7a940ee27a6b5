// Internal to api/: what stands between a password login and an attacker. PasswordGate bounds
// how many Argon2id computations (64 MiB each) run at once, so memory has a ceiling however many
// logins arrive together, and gives unknown users the cost of a known one. LoginThrottle delays
// further tries of a user name, and from a source address, exponentially after failures.
// Thread-safe: one of each per server, shared by every request thread (ApiContext::login).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <semaphore>
#include <string>
#include <unordered_map>

#include "api/api.h"

namespace gpucloud::api {

class PasswordGate {
 public:
  explicit PasswordGate(int max_concurrent);
  Result<std::string> hash(const std::string& password);
  // Checks `password` against `stored_hash`. An empty stored hash (unknown user, or a user
  // without a password) is checked against a dummy hash instead, so that the answer takes as
  // long as for a real user, and is false.
  bool verify(const std::string& stored_hash, const std::string& password);
  // The most Argon2id runs that were ever inside the gate at once (for tests).
  int peak_concurrent() const { return peak_.load(); }

 private:
  class Slot;
  std::counting_semaphore<1024> slots_;
  std::atomic<int> inside_{0}, peak_{0};
  std::once_flag dummy_once_;
  std::string dummy_hash_;
};

// Per key (a user name, a source address): after `free_failures` failures in a row, the next try
// must wait base_delay, doubling with each further failure up to max_delay. A success clears the
// user's key (never the address's: an attacker's own good logins must not reset it). Entries are
// forgotten `forget_after` the last failure, and the map holds at most `max_entries` keys.
class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    int free_failures = 5;
    std::chrono::seconds base_delay{1};
    std::chrono::seconds max_delay{300};
    std::chrono::seconds forget_after{900};
    size_t max_entries = 100000;
  };
  explicit LoginThrottle(Limits limits) : limits_(limits) {}

  // Seconds the key must still wait before its next try; 0 when it may try now.
  int64_t wait_seconds(const std::string& key, Clock::time_point now);
  void record_failure(const std::string& key, Clock::time_point now);
  void record_success(const std::string& key);
  int failures(const std::string& key);
  size_t size();

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point last_failure{};
    Clock::time_point blocked_until{};
  };
  void prune(Clock::time_point now);

  Limits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

struct LoginGuard {
  explicit LoginGuard(const LoginLimits& limits);
  PasswordGate passwords;
  LoginThrottle users;
  LoginThrottle addresses;
};

// A value from a request made safe for one log line: control characters escaped, cut to 64.
std::string loggable(std::string_view text);

}  // namespace gpucloud::api
