#include <sodium.h>

#include <algorithm>

#include "api/identity_impl.h"
#include "api/login_guard_impl.h"

namespace gpucloud::api {
// Holds one of the gate's slots for its lifetime.
class PasswordGate::Slot {
 public:
  explicit Slot(PasswordGate& g) : g_(g) {
    g_.slots_.acquire();
    const int now = ++g_.inside_;
    for (int peak = g_.peak_.load(); now > peak && !g_.peak_.compare_exchange_weak(peak, now);) {
    }
  }
  ~Slot() {
    --g_.inside_;
    g_.slots_.release();
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  PasswordGate& g_;
};

PasswordGate::PasswordGate(int max_concurrent) : slots_(std::clamp(max_concurrent, 1, 1024)) {}

Result<std::string> PasswordGate::hash(const std::string& password) {
  Slot slot(*this);
  return hash_password(password);
}

bool PasswordGate::verify(const std::string& stored_hash, const std::string& password) {
  if (stored_hash.empty()) {
    // The dummy is made on first use (not at server start: one Argon2id run per test server
    // would add up), with the same parameters as every user's hash.
    std::call_once(dummy_once_, [this] {
      unsigned char raw[16];
      randombytes_buf(raw, sizeof raw);
      auto h = hash_password(std::string(reinterpret_cast<char*>(raw), sizeof raw));
      if (h.ok()) dummy_hash_ = *h;
    });
    Slot slot(*this);
    (void)verify_password(dummy_hash_, password);
    return false;
  }
  Slot slot(*this);
  return verify_password(stored_hash, password);
}

int64_t LoginThrottle::wait_seconds(const std::string& key, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.blocked_until <= now) return 0;
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.blocked_until - now);
  return std::max<int64_t>(1, left.count());
}

void LoginThrottle::record_failure(const std::string& key, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= limits_.max_entries && !entries_.count(key)) prune(now);
  Entry& e = entries_[key];
  if (e.failures > 0 && now - e.last_failure > limits_.forget_after) e = Entry{};
  ++e.failures;
  e.last_failure = now;
  const int over = e.failures - limits_.free_failures;
  if (over > 0) {
    // 1 s, 2 s, 4 s, ... capped; the shift is capped too so it cannot overflow.
    const int64_t factor = int64_t{1} << std::min(over - 1, 30);
    const auto delay =
        std::min<std::chrono::seconds>(limits_.base_delay * factor, limits_.max_delay);
    e.blocked_until = now + delay;
  }
}

void LoginThrottle::record_success(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.erase(key);
}

int LoginThrottle::failures(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.failures;
}

size_t LoginThrottle::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void LoginThrottle::prune(Clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool stale =
        now - it->second.last_failure > limits_.forget_after && it->second.blocked_until <= now;
    it = stale ? entries_.erase(it) : std::next(it);
  }
  // Still full (a flood of distinct keys): drop the entries least recently failed, half of them.
  if (entries_.size() >= limits_.max_entries) {
    std::vector<std::pair<Clock::time_point, std::string>> by_age;
    by_age.reserve(entries_.size());
    for (const auto& [k, e] : entries_) by_age.emplace_back(e.last_failure, k);
    std::sort(by_age.begin(), by_age.end());
    for (size_t i = 0; i < by_age.size() / 2; ++i) entries_.erase(by_age[i].second);
  }
}

LoginGuard::LoginGuard(const LoginLimits& limits)
    : passwords(limits.max_concurrent_hashes),
      users({limits.user_free_failures, std::chrono::seconds(limits.base_delay_seconds),
             std::chrono::seconds(limits.max_delay_seconds), std::chrono::seconds(900), 100000}),
      addresses({limits.address_free_failures, std::chrono::seconds(limits.base_delay_seconds),
                 std::chrono::seconds(limits.max_delay_seconds), std::chrono::seconds(900),
                 100000}) {}

std::string loggable(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 64)) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > 64) out += "...";
  return out;
}

}  // namespace gpucloud::api
