// Reading the files that carry secrets and certificates: shared by tuner-server, trial-worker
// and tunectl so every one of them reports an unreadable file the same way.
#ifndef TUNER_COMMON_SECRETS_H_
#define TUNER_COMMON_SECRETS_H_

#include <string>

#include "absl/status/statusor.h"

namespace tuner {

// Whole-file read; errors name the file and what the file is for ("TLS certificate", ...).
absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what);

// A token file: its first line, surrounding whitespace trimmed; an empty token is an error.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace tuner

#endif  // TUNER_COMMON_SECRETS_H_
