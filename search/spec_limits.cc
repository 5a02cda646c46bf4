#include "search/spec_limits.h"

#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/parser.h"

namespace tuner::search {
namespace {

// Counts the keys of the root mapping's search_space mapping from the parser's events, so
// no node tree is built for a spec that is then refused.
class ParamCounter final : public YAML::EventHandler {
 public:
  int64_t params() const { return params_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { Node(false, ""); }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { Node(false, ""); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    Node(false, value);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(false, "");
    stack_.push_back({});
  }
  void OnSequenceEnd() override { stack_.pop_back(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    const bool space = Node(true, "");
    stack_.push_back({/*is_map=*/true, /*expecting_key=*/true, space});
  }
  void OnMapEnd() override { stack_.pop_back(); }

 private:
  struct Frame {
    bool is_map = false;
    bool expecting_key = false;
    bool is_space = false;  // the root mapping's search_space
  };

  // A node starts inside the innermost container. Returns whether it is the value of the
  // root mapping's search_space key.
  bool Node(bool is_map, const std::string& scalar) {
    if (stack_.empty() || !stack_.back().is_map) return false;
    Frame& parent = stack_.back();
    if (parent.expecting_key) {
      parent.expecting_key = false;
      if (parent.is_space) ++params_;
      space_next_ = stack_.size() == 1 && scalar == "search_space";
      return false;
    }
    parent.expecting_key = true;
    const bool space = space_next_ && is_map;
    space_next_ = false;
    return space;
  }

  std::vector<Frame> stack_;
  bool space_next_ = false;  // the next value is the root's search_space
  int64_t params_ = 0;
};

}  // namespace

int64_t CountParams(const std::string& yaml_text) {
  std::istringstream in(yaml_text);
  ParamCounter counter;
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(counter);
  } catch (const YAML::Exception&) {
    return 0;  // ParseStudySpec says what is wrong with it
  }
  return counter.params();
}

absl::Status CheckSpecLimits(const std::string& yaml_text) {
  if (yaml_text.size() > kMaxSpecBytes) {
    return absl::InvalidArgumentError(absl::StrCat("spec_yaml: is ", yaml_text.size(),
                                                   " bytes, more than the limit of ",
                                                   kMaxSpecBytes, " (1 MiB)"));
  }
  if (const int64_t params = CountParams(yaml_text); params > kMaxParams) {
    return absl::InvalidArgumentError(absl::StrCat("search_space: has ", params,
                                                   " params, more than the limit of ",
                                                   kMaxParams));
  }
  return absl::OkStatus();
}

}  // namespace tuner::search
