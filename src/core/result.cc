#include "core/result.h"

namespace gpucloud {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kPayloadTooLarge:
      return "payload too large";
    case ErrorCode::kNotImplemented:
      return "not implemented";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

}  // namespace gpucloud
