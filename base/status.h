// Status and Result<T>: the one error type of NexusFS.
//
// A Status is either OK or carries a positive errno-compatible code and a
// human-readable message. Core code returns Status/Result and never throws;
// each boundary converts once: FUSE replies the errno, the control socket
// returns a typed error with the message, the CLI prints the message.
//
// Thread-safety: value types; distinct objects may be used concurrently.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nexus {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  // An error with an explicit errno code (must be > 0) and message.
  static Status Error(int code, std::string message) { return Status(code, std::move(message)); }
  // The single place where the thread's errno becomes a Status. `context`
  // names the failed operation, e.g. "open data/12".
  static Status FromErrno(std::string_view context);
  static Status FromErrno(int code, std::string_view context);

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  // Lets NEXUS_RETURN_IF_ERROR treat Status and Result<T> alike.
  const Status& status() const { return *this; }
  const std::string& message() const { return message_; }
  // "message (strerror)" or "OK".
  std::string ToString() const;

 private:
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {}
  int code_ = 0;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  int code() const { return ok() ? 0 : std::get<Status>(v_).code(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nexus

// Propagates a non-OK Status (or Result's status) out of the current function.
#define NEXUS_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    auto _nexus_st = (expr);                        \
    if (!_nexus_st.ok()) return _nexus_st.status(); \
  } while (0)

// NEXUS_RETURN_IF_ERROR for a named Status or Result (which that macro would
// copy, and a Result of a move-only value cannot be copied).
#define NEXUS_RETURN_IF_FAILED(result)            \
  do {                                            \
    if (!(result).ok()) return (result).status(); \
  } while (0)

// Declares or assigns `lhs` from a Result, or returns its error:
//   NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::Parse(text));
#define NEXUS_ASSIGN_OR_RETURN(lhs, expr) \
  NEXUS_ASSIGN_OR_RETURN_IMPL_(NEXUS_STATUS_CONCAT_(_nexus_result_, __LINE__), lhs, expr)
#define NEXUS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
#define NEXUS_STATUS_CONCAT_(a, b) NEXUS_STATUS_CONCAT_INNER_(a, b)
#define NEXUS_STATUS_CONCAT_INNER_(a, b) a##b
