#include "trial-worker/training/torch_config.h"

#include <algorithm>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tuner::worker::torchtrainer {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Reads typed, range-checked values out of one JSON object; errors name "<path>.<key>".
class Section {
 public:
  Section(const nlohmann::json* object, std::string path)
      : object_(object), path_(std::move(path)) {}

  absl::Status CheckKeys(const std::vector<std::string>& allowed) const {
    if (object_ == nullptr) return absl::OkStatus();
    if (!object_->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": must be a mapping"));
    }
    for (const auto& item : object_->items()) {
      if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
        return absl::InvalidArgumentError(absl::StrCat(path_, ".", item.key(),
                                                       ": unknown key (allowed: ",
                                                       absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  const nlohmann::json* Find(const std::string& key) const {
    if (object_ == nullptr || !object_->is_object()) return nullptr;
    auto it = object_->find(key);
    return it == object_->end() || it->is_null() ? nullptr : &*it;
  }

  Section Child(const std::string& key) const { return Section(Find(key), Field(key)); }
  bool Present(const std::string& key) const { return Find(key) != nullptr; }

  absl::Status Number(const std::string& key, double min, double max, double* out) const {
    const nlohmann::json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number() || !(v->get<double>() >= min) || !(v->get<double>() <= max)) {
      return absl::InvalidArgumentError(absl::StrCat(Field(key), ": must be a number in [", min,
                                                     ", ", max, "] (got ", v->dump(), ")"));
    }
    *out = v->get<double>();
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status Integer(const std::string& key, int64_t min, int64_t max, Int* out) const {
    const nlohmann::json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number_integer() || v->get<int64_t>() < min || v->get<int64_t>() > max) {
      return absl::InvalidArgumentError(absl::StrCat(Field(key), ": must be an integer in [",
                                                     min, ", ", max, "] (got ", v->dump(), ")"));
    }
    *out = static_cast<Int>(v->get<int64_t>());
    return absl::OkStatus();
  }

  absl::Status Bool(const std::string& key, bool* out) const {
    const nlohmann::json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Field(key), ": must be true or false (got ", v->dump(), ")"));
    }
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  // A string; when `allowed` is non-empty it must be one of them.
  absl::Status String(const std::string& key, const std::vector<std::string>& allowed,
                      std::string* out) const {
    const nlohmann::json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string() || (!allowed.empty() && std::find(allowed.begin(), allowed.end(),
                                                          v->get<std::string>()) == allowed.end())) {
      return absl::InvalidArgumentError(absl::StrCat(
          Field(key), ": ", allowed.empty() ? "must be a string" : "must be one of ",
          absl::StrJoin(allowed, ", "), " (got ", v->dump(), ")"));
    }
    *out = v->get<std::string>();
    return absl::OkStatus();
  }

  std::string Field(const std::string& key) const { return absl::StrCat(path_, ".", key); }

 private:
  const nlohmann::json* object_;
  std::string path_;
};

#define TUNER_RETURN_IF_ERROR(expr)        \
  do {                                     \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)

const std::vector<std::string> kOptimizers = {"adam", "rmsprop", "sgd"};

// monitor, mode and min_delta of a callback section.
absl::Status ParseMonitor(const Section& s, MonitorConfig* out) {
  TUNER_RETURN_IF_ERROR(s.String("monitor", TorchReportedMetrics(), &out->metric));
  TUNER_RETURN_IF_ERROR(s.String("mode", {"auto", "min", "max"}, &out->mode));
  TUNER_RETURN_IF_ERROR(s.Number("min_delta", 0, kInf, &out->min_delta));
  return absl::OkStatus();
}

absl::Status ParseDataset(const Section& d, DatasetConfig* out) {
  TUNER_RETURN_IF_ERROR(d.CheckKeys(
      {"name", "path", "val_fraction", "split_seed", "limit_train", "limit_val", "label"}));
  if (!d.Present("name") || !d.Present("path")) {
    return absl::InvalidArgumentError(
        absl::StrCat(d.Field(d.Present("name") ? "path" : "name"), ": required"));
  }
  TUNER_RETURN_IF_ERROR(
      d.String("name", {"cifar10", "cifar100", "fashion_mnist", "mnist"}, &out->name));
  TUNER_RETURN_IF_ERROR(d.String("path", {}, &out->path));
  TUNER_RETURN_IF_ERROR(d.Number("val_fraction", 0.0, 0.9, &out->val_fraction));
  TUNER_RETURN_IF_ERROR(d.Integer("split_seed", 0, std::numeric_limits<int64_t>::max(),
                                  &out->split_seed));
  TUNER_RETURN_IF_ERROR(d.Integer("limit_train", 0, 1LL << 40, &out->limit_train));
  TUNER_RETURN_IF_ERROR(d.Integer("limit_val", 0, 1LL << 40, &out->limit_val));
  TUNER_RETURN_IF_ERROR(d.String("label", {"fine", "coarse"}, &out->label));
  if (!(out->val_fraction > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(d.Field("val_fraction"), ": must be > 0"));
  }
  return absl::OkStatus();
}

// trainer.backbone.name: a backbone's name, or {param: P} naming a choice param of the
// search space whose value (in `params`) is the name.
absl::Status ParseBackboneName(const Section& b, const search::Params& params,
                               BackboneConfig* out) {
  const nlohmann::json* v = b.Find("name");
  if (v != nullptr && v->is_object()) {
    const Section ref = b.Child("name");
    TUNER_RETURN_IF_ERROR(ref.CheckKeys({"param"}));
    TUNER_RETURN_IF_ERROR(ref.String("param", {}, &out->name_param));
    if (out->name_param.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ref.Field("param"), ": required (the choice param naming the backbone)"));
    }
    auto it = params.find(out->name_param);
    if (it == params.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          b.Field("name"), ": names param \"", out->name_param,
          "\", which the trial does not have (add a choice param of backbone names)"));
    }
    const auto* value = std::get_if<std::string>(&it->second);
    if (value == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          b.Field("name"), ": param \"", out->name_param,
          "\" must be a choice of backbone names (got ",
          search::ParamValueToString(it->second), ")"));
    }
    out->name = *value;
  } else {
    TUNER_RETURN_IF_ERROR(b.String("name", {}, &out->name));
  }
  if (FindTorchBackbone(out->name) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        b.Field("name"), ": unknown backbone \"", out->name, "\"",
        out->name_param.empty() ? "" : absl::StrCat(" (the value of param ", out->name_param, ")"),
        " (allowed: ", absl::StrJoin(TorchBackboneNames(), ", "), ")"));
  }
  return absl::OkStatus();
}

// trainer.backbone.weights: one file, or {backbone name: file} (a backbone missing from the
// mapping starts from random init).
absl::Status ParseBackboneWeights(const Section& b, BackboneConfig* out) {
  const nlohmann::json* v = b.Find("weights");
  if (v == nullptr) return absl::OkStatus();
  const BackboneInfo* info = FindTorchBackbone(out->name);
  if (v->is_object()) {
    const Section files = b.Child("weights");
    for (const auto& item : v->items()) {
      const BackboneInfo* keyed = FindTorchBackbone(item.key());
      if (keyed == nullptr || !keyed->torchvision) {
        std::vector<std::string> loadable;
        for (const BackboneInfo& i : TorchBackbones()) {
          if (i.torchvision) loadable.push_back(i.name);
        }
        return absl::InvalidArgumentError(absl::StrCat(
            files.Field(item.key()), ": ", keyed == nullptr ? "unknown backbone" : "trains from scratch",
            " (backbones that load weights: ", absl::StrJoin(loadable, ", "), ")"));
      }
      std::string file;
      TUNER_RETURN_IF_ERROR(files.String(item.key(), {}, &file));
      if (item.key() == out->name) out->weights = file;
    }
    return absl::OkStatus();
  }
  TUNER_RETURN_IF_ERROR(b.String("weights", {}, &out->weights));
  if (!out->weights.empty() && !info->torchvision) {
    return absl::InvalidArgumentError(absl::StrCat(
        b.Field("weights"), ": ", out->name,
        " trains from scratch (only the torchvision backbones load weights)"));
  }
  return absl::OkStatus();
}

absl::Status ParseBackbone(const Section& b, const search::Params& params, BackboneConfig* out) {
  TUNER_RETURN_IF_ERROR(b.CheckKeys({"name", "weights", "freeze", "unfreeze_stages",
                                     "unfreeze_from", "backbone_lr_scale", "lr_scale"}));
  TUNER_RETURN_IF_ERROR(ParseBackboneName(b, params, out));
  const BackboneInfo& info = *FindTorchBackbone(out->name);
  out->freeze = info.torchvision;
  TUNER_RETURN_IF_ERROR(ParseBackboneWeights(b, out));
  TUNER_RETURN_IF_ERROR(b.Bool("freeze", &out->freeze));
  TUNER_RETURN_IF_ERROR(b.Integer("unfreeze_stages", 0, 100, &out->unfreeze_stages));
  if (b.Present("unfreeze_from")) {
    if (b.Present("unfreeze_stages")) {
      return absl::InvalidArgumentError(absl::StrCat(
          b.Field("unfreeze_from"), ": give it or unfreeze_stages, not both"));
    }
    std::string from;
    TUNER_RETURN_IF_ERROR(b.String("unfreeze_from", {}, &from));
    const auto it = std::find(info.stages.begin(), info.stages.end(), from);
    if (it == info.stages.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          b.Field("unfreeze_from"), ": ", out->name, " has no stage \"", from,
          "\" (its stages: ", absl::StrJoin(info.stages, ", "), ")"));
    }
    out->unfreeze_stages = static_cast<int>(info.stages.end() - it);
  }
  TUNER_RETURN_IF_ERROR(b.Number("lr_scale", 0, 1000, &out->lr_scale));
  TUNER_RETURN_IF_ERROR(b.Number("backbone_lr_scale", 0, 1000, &out->lr_scale));
  return absl::OkStatus();
}

// trainer.preprocessing: overrides of the backbone's torchvision preprocessing.
absl::Status ParsePreprocessing(const Section& p, PreprocessConfig* out) {
  TUNER_RETURN_IF_ERROR(p.CheckKeys({"mean", "std", "interpolation", "center_crop"}));
  for (const char* key : {"mean", "std"}) {
    const nlohmann::json* v = p.Find(key);
    if (v == nullptr) continue;
    std::array<double, 3>& target = std::string(key) == "mean" ? out->mean : out->std;
    const double min = std::string(key) == "mean" ? -1e6 : 1e-6;
    bool ok = v->is_array() && v->size() == 3;
    for (size_t i = 0; ok && i < 3; ++i) {
      ok = (*v)[i].is_number() && (*v)[i].get<double>() >= min && (*v)[i].get<double>() <= 1e6;
      if (ok) target[i] = (*v)[i].get<double>();
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          p.Field(key), ": must be three numbers (R, G, B on the 0..1 scale",
          std::string(key) == "std" ? ", each > 0" : "", "; got ", v->dump(), ")"));
    }
  }
  TUNER_RETURN_IF_ERROR(p.String("interpolation", {"bilinear", "bicubic"}, &out->interpolation));
  TUNER_RETURN_IF_ERROR(p.Number("center_crop", 0.05, 1.0, &out->center_crop));
  return absl::OkStatus();
}

absl::Status ParseAugmentation(const Section& a, AugmentConfig* out) {
  TUNER_RETURN_IF_ERROR(
      a.CheckKeys({"rotation", "shift", "hflip", "cutout", "mixup", "views"}));
  TUNER_RETURN_IF_ERROR(a.Number("rotation", 0, 180, &out->rotation));
  TUNER_RETURN_IF_ERROR(a.Number("shift", 0, 0.5, &out->shift));
  TUNER_RETURN_IF_ERROR(a.Bool("hflip", &out->hflip));
  TUNER_RETURN_IF_ERROR(a.Integer("cutout", 0, 4096, &out->cutout));
  TUNER_RETURN_IF_ERROR(a.Number("mixup", 0, 100, &out->mixup));
  TUNER_RETURN_IF_ERROR(a.Integer("views", 0, 100000, &out->views));
  return absl::OkStatus();
}

// The trial's param `name` as a number, if present.
absl::Status ParamNumber(const search::Params& params, const std::string& name, double min,
                         double max, double* out) {
  auto it = params.find(name);
  if (it == params.end()) return absl::OkStatus();
  double v;
  if (const auto* i = std::get_if<int64_t>(&it->second)) {
    v = static_cast<double>(*i);
  } else if (const auto* d = std::get_if<double>(&it->second)) {
    v = *d;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("params.", name, ": must be a number (got \"",
                                                   std::get<std::string>(it->second), "\")"));
  }
  if (!(v >= min && v <= max)) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.", name, ": must be in [", min, ", ", max, "] (got ", v, ")"));
  }
  *out = v;
  return absl::OkStatus();
}

}  // namespace

const std::vector<BackboneInfo>& TorchBackbones() {
  constexpr std::array<double, 3> kImageNetMean{0.485, 0.456, 0.406};
  constexpr std::array<double, 3> kImageNetStd{0.229, 0.224, 0.225};
  // googlenet and inception_v3 with torchvision's weights run with transform_input, which
  // maps ImageNet-normalised input to (x - 0.5) / 0.5: the same as normalising with 0.5 / 0.5.
  constexpr std::array<double, 3> kHalf{0.5, 0.5, 0.5};
  const auto tv = [&](std::string name, int64_t features, int64_t min_input, int64_t crop,
                      int64_t resize, std::string interpolation,
                      std::vector<std::string> heads, std::vector<std::string> stages,
                      bool half = false) {
    return BackboneInfo{std::move(name),    features,
                        min_input,          true,
                        crop,               resize,
                        std::move(interpolation), half ? kHalf : kImageNetMean,
                        half ? kHalf : kImageNetStd, std::move(heads),
                        std::move(stages)};
  };
  const auto own = [&](std::string name, int64_t features, int64_t min_input,
                       std::vector<std::string> stages) {
    return BackboneInfo{std::move(name), features, min_input, false, 0, 0, "bilinear",
                        kImageNetMean, kImageNetStd, {}, std::move(stages)};
  };
  // "<prefix><first>" .. "<prefix><last>".
  const auto numbered = [](const std::string& prefix, int first, int last) {
    std::vector<std::string> out;
    for (int i = first; i <= last; ++i) out.push_back(absl::StrCat(prefix, i));
    return out;
  };
  const std::vector<std::string> layers = numbered("layer", 1, 4);
  const std::vector<std::string> efficientnet = numbered("features.", 1, 8);
  static const std::vector<BackboneInfo> kZoo = {
      tv("resnet50", 2048, 32, 224, 232, "bilinear", {"fc."}, layers),
      own("lenet5", 0, 12, {"conv1", "conv2"}),
      own("vgg_bn", 512, 32, numbered("stage", 1, 5)),
      own("resnet18_cifar", 512, 8, layers),
      own("small_cnn", 0, 8, {"block1", "block2"}),
      tv("resnet18", 512, 32, 224, 256, "bilinear", {"fc."}, layers),
      tv("resnet34", 512, 32, 224, 256, "bilinear", {"fc."}, layers),
      tv("resnet101", 2048, 32, 224, 232, "bilinear", {"fc."}, layers),
      tv("resnet152", 2048, 32, 224, 232, "bilinear", {"fc."}, layers),
      tv("vgg16_bn", 512, 32, 224, 256, "bilinear", {"classifier."},
         {"features.0-6", "features.7-13", "features.14-23", "features.24-33",
          "features.34-43"}),
      tv("mobilenet_v2", 1280, 32, 224, 232, "bilinear", {"classifier."},
         numbered("features.", 1, 18)),
      tv("densenet121", 1024, 32, 224, 256, "bilinear", {"classifier."},
         {"features.denseblock1", "features.transition1", "features.denseblock2",
          "features.transition2", "features.denseblock3", "features.transition3",
          "features.denseblock4", "features.norm5"}),
      tv("efficientnet_b0", 1280, 32, 224, 256, "bicubic", {"classifier."}, efficientnet),
      tv("efficientnet_b1", 1280, 32, 240, 255, "bilinear", {"classifier."}, efficientnet),
      tv("efficientnet_b2", 1408, 32, 288, 288, "bicubic", {"classifier."}, efficientnet),
      tv("googlenet", 1024, 32, 224, 256, "bilinear", {"fc.", "aux1.", "aux2."},
         {"inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
          "inception4d", "inception4e", "inception5a", "inception5b"},
         true),
      tv("inception_v3", 2048, 75, 299, 342, "bilinear", {"fc.", "AuxLogits."},
         {"Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
          "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"},
         true),
  };
  return kZoo;
}

const BackboneInfo* FindTorchBackbone(const std::string& name) {
  for (const BackboneInfo& info : TorchBackbones()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

const std::vector<std::string>& TorchBackboneNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const BackboneInfo& info : TorchBackbones()) names.push_back(info.name);
    return names;
  }();
  return kNames;
}

const std::vector<std::string>& TorchReportedMetrics() {
  static const std::vector<std::string> kMetrics = {"val_accuracy", "val_loss", "train_loss"};
  return kMetrics;
}

std::vector<std::string> TorchTrainerParamRefs(const nlohmann::json& trainer) {
  if (!trainer.is_object()) return {};
  const auto backbone = trainer.find("backbone");
  if (backbone == trainer.end() || !backbone->is_object()) return {};
  const auto name = backbone->find("name");
  if (name == backbone->end() || !name->is_object()) return {};
  const auto param = name->find("param");
  if (param == name->end() || !param->is_string()) return {};
  return {param->get<std::string>()};
}

bool BackboneFrozen(const TorchTrainerConfig& config) {
  return config.backbone.freeze && config.backbone.unfreeze_stages == 0;
}

absl::StatusOr<TorchTrainerConfig> ParseTorchTrainerConfig(const nlohmann::json& trainer,
                                                           const search::Params& params) {
  TorchTrainerConfig c;
  const Section t(&trainer, "trainer");
  TUNER_RETURN_IF_ERROR(t.CheckKeys(
      {"kind", "epochs", "dataset", "backbone", "input_size", "batch_size", "eval_batch_size",
       "augmentation", "preprocessing", "label_smoothing", "early_stopping",
       "reduce_lr_on_plateau", "cosine", "feature_cache", "feature_cache_max_mb", "momentum", "nesterov", "weight_decay", "units",
       "dropout", "optimizer", "learning_rate", "TEST_nan_at_epoch"}));
  if (!t.Present("dataset")) {
    return absl::InvalidArgumentError("trainer.dataset: required (name and path)");
  }
  TUNER_RETURN_IF_ERROR(ParseDataset(t.Child("dataset"), &c.dataset));
  if (t.Present("backbone")) {
    TUNER_RETURN_IF_ERROR(ParseBackbone(t.Child("backbone"), params, &c.backbone));
  }
  // The backbone's torchvision preprocessing, then the spec's overrides.
  const BackboneInfo& info = *FindTorchBackbone(c.backbone.name);
  c.preprocessing.mean = info.mean;
  c.preprocessing.std = info.std;
  c.preprocessing.interpolation = info.interpolation;
  if (t.Present("preprocessing")) {
    TUNER_RETURN_IF_ERROR(ParsePreprocessing(t.Child("preprocessing"), &c.preprocessing));
  }
  if (t.Present("augmentation")) {
    TUNER_RETURN_IF_ERROR(ParseAugmentation(t.Child("augmentation"), &c.augmentation));
  }
  TUNER_RETURN_IF_ERROR(t.Integer("input_size", 8, 1024, &c.input_size));
  if (c.input_size < info.min_input_size) {
    return absl::InvalidArgumentError(absl::StrCat("trainer.input_size: ", info.name, " needs >= ",
                                                   info.min_input_size, " pixels (got ",
                                                   c.input_size, ")"));
  }
  TUNER_RETURN_IF_ERROR(t.Integer("batch_size", 1, 1 << 20, &c.batch_size));
  TUNER_RETURN_IF_ERROR(t.Integer("eval_batch_size", 1, 1 << 20, &c.eval_batch_size));
  TUNER_RETURN_IF_ERROR(t.Number("label_smoothing", 0, 0.99, &c.label_smoothing));
  if (t.Present("early_stopping")) {
    const Section e = t.Child("early_stopping");
    TUNER_RETURN_IF_ERROR(e.CheckKeys({"monitor", "mode", "min_delta", "patience",
                                       "start_from_epoch", "restore_best", "enabled"}));
    c.early_stopping = true;
    TUNER_RETURN_IF_ERROR(e.Bool("enabled", &c.early_stopping));
    TUNER_RETURN_IF_ERROR(ParseMonitor(e, &c.early_stopping_monitor));
    TUNER_RETURN_IF_ERROR(e.Integer("patience", 0, 100000, &c.early_stopping_patience));
    TUNER_RETURN_IF_ERROR(
        e.Integer("start_from_epoch", 0, 100000, &c.early_stopping_start_from_epoch));
    TUNER_RETURN_IF_ERROR(e.Bool("restore_best", &c.restore_best));
  }
  if (t.Present("reduce_lr_on_plateau")) {
    const Section r = t.Child("reduce_lr_on_plateau");
    TUNER_RETURN_IF_ERROR(r.CheckKeys({"monitor", "mode", "min_delta", "factor", "patience",
                                       "cooldown", "min_lr", "enabled"}));
    c.reduce_lr = true;
    TUNER_RETURN_IF_ERROR(r.Bool("enabled", &c.reduce_lr));
    TUNER_RETURN_IF_ERROR(ParseMonitor(r, &c.reduce_lr_monitor));
    TUNER_RETURN_IF_ERROR(r.Integer("cooldown", 0, 100000, &c.reduce_lr_cooldown));
    TUNER_RETURN_IF_ERROR(r.Number("factor", 1e-6, 0.999999, &c.reduce_lr_factor));
    TUNER_RETURN_IF_ERROR(r.Integer("patience", 0, 100000, &c.reduce_lr_patience));
    TUNER_RETURN_IF_ERROR(r.Number("min_lr", 0, kInf, &c.min_lr));
  }
  if (t.Present("cosine")) {
    const Section k = t.Child("cosine");
    TUNER_RETURN_IF_ERROR(k.CheckKeys({"warmup_epochs", "epochs", "enabled"}));
    c.cosine = true;
    TUNER_RETURN_IF_ERROR(k.Bool("enabled", &c.cosine));
    TUNER_RETURN_IF_ERROR(k.Integer("warmup_epochs", 0, 100000, &c.warmup_epochs));
    TUNER_RETURN_IF_ERROR(k.Integer("epochs", 0, 100000, &c.cosine_epochs));
  }
  TUNER_RETURN_IF_ERROR(t.Bool("feature_cache", &c.feature_cache));
  TUNER_RETURN_IF_ERROR(t.Integer("feature_cache_max_mb", 1, 1LL << 30, &c.feature_cache_max_mb));
  TUNER_RETURN_IF_ERROR(t.Number("momentum", 0, 0.9999, &c.momentum));
  TUNER_RETURN_IF_ERROR(t.Bool("nesterov", &c.nesterov));
  TUNER_RETURN_IF_ERROR(t.Number("weight_decay", 0, 1, &c.weight_decay));
  TUNER_RETURN_IF_ERROR(t.Integer("units", 1, 1 << 16, &c.units));
  TUNER_RETURN_IF_ERROR(t.Number("dropout", 0, 0.99, &c.dropout));
  TUNER_RETURN_IF_ERROR(t.String("optimizer", kOptimizers, &c.optimizer));
  TUNER_RETURN_IF_ERROR(t.Number("learning_rate", 1e-12, 100, &c.learning_rate));
  TUNER_RETURN_IF_ERROR(t.Integer("TEST_nan_at_epoch", 0, 1 << 20, &c.test_nan_at_epoch));

  double units = static_cast<double>(c.units);
  TUNER_RETURN_IF_ERROR(ParamNumber(params, "units", 1, 1 << 16, &units));
  c.units = static_cast<int64_t>(units);
  TUNER_RETURN_IF_ERROR(ParamNumber(params, "dropout", 0, 0.99, &c.dropout));
  TUNER_RETURN_IF_ERROR(ParamNumber(params, "learning_rate", 1e-12, 100, &c.learning_rate));
  // A param (often conditional: `when: {optimizer: [sgd]}`) overrides trainer.momentum; a
  // trial without it keeps the trainer section's value.
  TUNER_RETURN_IF_ERROR(ParamNumber(params, "momentum", 0, 0.9999, &c.momentum));
  if (auto it = params.find("optimizer"); it != params.end()) {
    const auto* name = std::get_if<std::string>(&it->second);
    if (name == nullptr || std::find(kOptimizers.begin(), kOptimizers.end(), *name) ==
                               kOptimizers.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "params.optimizer: must be one of adam, rmsprop, sgd (got ",
          search::ParamValueToString(it->second), ")"));
    }
    c.optimizer = *name;
  }
  if (c.cosine && c.reduce_lr) {
    return absl::InvalidArgumentError(
        "trainer.cosine: cannot be combined with trainer.reduce_lr_on_plateau; pick one");
  }
  return c;
}

}  // namespace tuner::worker::torchtrainer
