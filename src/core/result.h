// Errors as values: every function that can fail on input returns Result<T> (a value or an Error).
// The API turns an Error into OpenStack's JSON error shape in one place; the CLI prints its
// message.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace gpucloud {

enum class ErrorCode {
  kInvalidArgument,  // bad input: config, request field, file contents (HTTP 400)
  kNotFound,         // no such object (404)
  kConflict,         // state does not allow it, e.g. all GPUs in use (409)
  kUnauthorized,     // no or bad credentials (401)
  kForbidden,        // authenticated but not allowed (403)
  kUnavailable,      // a dependency (database, hypervisor) cannot be reached (503)
  kPayloadTooLarge,  // a request body over the limit (413)
  kNotImplemented,   // a request gpucloud understands but has no means to carry out (501)
  kInternal,         // a bug or an unexpected failure (500)
};

const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  // Names what is wrong and where: "nova.conf:12: pci_alias: product_id 'xyz' is not 4 hex digits".
  // Never holds a secret.
  std::string message;

  static Error invalid(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
  static Error not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
  static Error conflict(std::string m) { return {ErrorCode::kConflict, std::move(m)}; }
  static Error unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
  static Error internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

  // A copy whose message starts with `context: `, to say where a nested error happened.
  Error with_context(const std::string& context) const { return {code, context + ": " + message}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design
  static Status Ok() { return {}; }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace gpucloud
