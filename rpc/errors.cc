#include "rpc/errors.h"

namespace nexus {

using Code = rpc::Error::Code;

Code ErrorCodeFor(int err) {
  switch (err) {
    case 0:
      return Code::OK;
    case ENOENT:
      return Code::NOT_FOUND;
    case EEXIST:
      return Code::ALREADY_EXISTS;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
    case EXDEV:
    case ERANGE:
    case EOPNOTSUPP:
      return Code::INVALID_ARGUMENT;
    case EACCES:
    case EPERM:
      return Code::PERMISSION_DENIED;
    case ENOKEY:
      return Code::UNAUTHENTICATED;
    case ESTALE:
      return Code::CONFLICT;
    case EDQUOT:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
      return Code::RESOURCE_EXHAUSTED;
    case EBUSY:
      return Code::BUSY;
    case ETIMEDOUT:
      return Code::TIMED_OUT;
    case EAGAIN:
    case ENOSYS:
      return Code::UNAVAILABLE;
    case EROFS:
      return Code::READ_ONLY;
    case ENOTEMPTY:
      return Code::NOT_EMPTY;
    case ENOTDIR:
      return Code::NOT_DIRECTORY;
    case EISDIR:
      return Code::IS_DIRECTORY;
    case EIO:
      return Code::IO_ERROR;
    case EBADMSG:
      return Code::MALFORMED;
    case EKEYREJECTED:
      return Code::UNTRUSTED;
    case EKEYEXPIRED:
      return Code::EXPIRED;
    case EKEYREVOKED:
      return Code::REVOKED;
    default:
      return Code::IO_ERROR;
  }
}

const char* ErrorCodeName(Code code) {
  switch (code) {
    case Code::OK:
      return "ok";
    case Code::NOT_FOUND:
      return "notFound";
    case Code::ALREADY_EXISTS:
      return "alreadyExists";
    case Code::INVALID_ARGUMENT:
      return "invalidArgument";
    case Code::PERMISSION_DENIED:
      return "permissionDenied";
    case Code::UNAUTHENTICATED:
      return "unauthenticated";
    case Code::CONFLICT:
      return "conflict";
    case Code::RESOURCE_EXHAUSTED:
      return "resourceExhausted";
    case Code::BUSY:
      return "busy";
    case Code::TIMED_OUT:
      return "timedOut";
    case Code::UNAVAILABLE:
      return "unavailable";
    case Code::READ_ONLY:
      return "readOnly";
    case Code::NOT_EMPTY:
      return "notEmpty";
    case Code::NOT_DIRECTORY:
      return "notDirectory";
    case Code::IS_DIRECTORY:
      return "isDirectory";
    case Code::IO_ERROR:
      return "ioError";
    case Code::INTERNAL:
      return "internal";
    case Code::MALFORMED:
      return "malformed";
    case Code::UNTRUSTED:
      return "untrusted";
    case Code::EXPIRED:
      return "expired";
    case Code::REVOKED:
      return "revoked";
  }
  return "unknown";
}

void FillError(rpc::Error::Builder out, const Status& st) {
  if (st.ok()) return;
  out.setCode(ErrorCodeFor(st.code()));
  out.setErrno(st.code());
  out.setMessage(st.message());
}

Status Unavailable(std::string_view feature, std::string_view why, int code) {
  std::string msg(feature);
  msg += " — ";
  msg += why;
  return Status::Error(code, std::move(msg));
}

bool IsUnavailable(const Status& st) { return !st.ok() && ErrorCodeFor(st.code()) == Code::UNAVAILABLE; }

Status TooManyCalls() { return Status::Error(EMFILE, "too many calls in flight on this connection"); }

Status StatusFromError(bool has, rpc::Error::Reader err) {
  if (!has || err.getCode() == Code::OK) return Status::Ok();
  int code = err.getErrno() > 0 ? err.getErrno() : EIO;
  return Status::Error(code, err.getMessage().cStr());
}

}  // namespace nexus
