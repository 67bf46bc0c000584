// Conversions between Status (errno + message) and the protocol's typed
// Error, in one place for the server and the client.
#pragma once

#include "base/status.h"
#include "rpc/nexus.capnp.h"

namespace nexus {

rpc::Error::Code ErrorCodeFor(int err);
// "notFound", "permissionDenied", ...
const char* ErrorCodeName(rpc::Error::Code code);
// Fills `out` from a non-OK status (an OK status leaves it untouched).
void FillError(rpc::Error::Builder out, const Status& st);
// OK when `has` is false (the result carried no error).
Status StatusFromError(bool has, rpc::Error::Reader err);

// The Status of a waited-for reply (NexusClient::Wait): the transport's
// failure, else the `error` the reply carries, else OK.
template <typename Reply>
Status ReplyStatus(const Result<Reply>& r) {
  return r.ok() ? StatusFromError(r->hasError(), r->getError()) : r.status();
}

}  // namespace nexus
