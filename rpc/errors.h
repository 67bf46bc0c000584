// Conversions between Status (errno + message) and the protocol's typed
// Error, in one place for the server and the client.
#pragma once

#include <string_view>

#include "base/status.h"
#include "rpc/nexus.capnp.h"

namespace nexus {

rpc::Error::Code ErrorCodeFor(int err);
// "notFound", "permissionDenied", ...
const char* ErrorCodeName(rpc::Error::Code code);
// Fills `out` from a non-OK status (an OK status leaves it untouched).
void FillError(rpc::Error::Builder out, const Status& st);
// The one "unavailable" failure: a feature that is off, not built or not
// reachable. The message reads "<feature> — <why>"; the errno is ENOSYS
// (EAGAIN for something that may answer later, such as a daemon not yet
// started), so the socket sends code `unavailable` and the CLI exits 69.
Status Unavailable(std::string_view feature, std::string_view why, int code = ENOSYS);
// Whether `st` travels as code `unavailable` (Unavailable(), an unreachable
// daemon or endpoint).
bool IsUnavailable(const Status& st);
// "Too many calls in flight on this connection": code `resourceExhausted`.
Status TooManyCalls();
// OK when `has` is false (the result carried no error).
Status StatusFromError(bool has, rpc::Error::Reader err);

// The Status of a waited-for reply (NexusClient::Wait): the transport's
// failure, else the `error` the reply carries, else OK.
template <typename Reply>
Status ReplyStatus(const Result<Reply>& r) {
  return r.ok() ? StatusFromError(r->hasError(), r->getError()) : r.status();
}

}  // namespace nexus
