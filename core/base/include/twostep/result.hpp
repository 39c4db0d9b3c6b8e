// Errors as values: every fallible core function returns Result<T>.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace twostep {

// One enum for every failure the core reports; front ends map it (the PAM
// module in exactly one function) to their own codes.
enum class ErrorCode {
  invalid_argument,   // caller passed something out of range
  malformed,          // input text/file does not parse; message names the line
  too_large,          // an explicit limit was exceeded
  unsafe_file,        // symlink, wrong owner/mode, hard link, not regular
  not_found,          // file does not exist
  lock_timeout,       // could not get the file lock in time
  io,                 // read/write/rename/fsync failed (errno text in message)
  crypto,             // OpenSSL failure
  cancelled,          // the update callback chose not to write
};

const char* to_string(ErrorCode code) noexcept;

// The C library's text for an errno value (thread-safe strerror_r). Not
// std::generic_category().message(): that pulls libstdc++'s system_error
// objects into the module, whose static initialiser registers two
// destructors at every load.
std::string errno_message(int error);

struct Error {
  ErrorCode code;
  std::string message;  // never contains secret material
};

// A value or the reason there is none. One template for every layer: the
// core's Result<T> below, and the relay store's StoreResult<T> (with its own
// error type).
template <typename T, typename E>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Expected(E error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const E& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

// Success that carries no value, or the reason for the failure.
template <typename E>
class [[nodiscard]] Expected<void, E> {
 public:
  Expected() = default;
  Expected(E error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const E& error() const { assert(!ok()); return *error_; }

 private:
  std::optional<E> error_;
};

template <typename T>
using Result = Expected<T, Error>;

using Status = Result<void>;

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace twostep
