// Limits on the spec of a new study (CreateStudy): its size and its param count, checked
// before the spec is parsed, since parsing, validating and building a policy grow with both
// (a 20,000-param spec cost 3.6 s of CPU per CreateStudy). A spec already stored is not
// checked: ParseStudySpec has no limits, so a db that holds a study made before these limits
// (or under larger ones) still loads.
#ifndef TUNER_SEARCH_SPEC_LIMITS_H_
#define TUNER_SEARCH_SPEC_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace tuner::search {

inline constexpr size_t kMaxSpecBytes = 1 << 20;  // 1 MiB of YAML
inline constexpr int64_t kMaxParams = 1000;       // entries of search_space

// INVALID_ARGUMENT naming the limit and the spec's own value when yaml_text is over either
// limit; OK otherwise, also when it is not valid YAML (ParseStudySpec then says why). Costs
// one pass of yaml-cpp's event parser, without building the document.
absl::Status CheckSpecLimits(const std::string& yaml_text);

// The number of entries of the top-level search_space mapping; 0 when there is none or the
// text is not valid YAML. For CheckSpecLimits and its tests.
int64_t CountParams(const std::string& yaml_text);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_SPEC_LIMITS_H_
