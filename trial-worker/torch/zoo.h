// The torchvision backbones besides ResNet (resnet.h): vgg16_bn, mobilenet_v2, densenet121 and
// efficientnet_b0/b1/b2 (zoo_mobile.cc), googlenet and inception_v3 (zoo_inception.cc). Each
// registers its modules under torchvision's names (features.0.0.weight, Mixed_5b.branch1x1.
// conv.weight, ...) so a torchvision state dict loads by name; each is the model without its
// classifier, Features() is the globally average-pooled input of torchvision's classifier
// (vgg16_bn: of its conv features, 512 wide), and Stages() are torchvision's blocks
// (StageNames() says which). Dropout and stochastic depth are identity in eval mode, as in
// torchvision. Thread-compatible like every torch module.
#ifndef TUNER_TRIAL_WORKER_TORCH_ZOO_H_
#define TUNER_TRIAL_WORKER_TORCH_ZOO_H_

#include <memory>

#include "trial-worker/torch/backbone.h"

namespace tuner::worker::torchtrainer {

std::shared_ptr<BackboneImpl> MakeVgg16Bn();
std::shared_ptr<BackboneImpl> MakeMobileNetV2();
std::shared_ptr<BackboneImpl> MakeDenseNet121();
// torchvision's efficientnet_b0 (1.0, 1.0), b1 (1.0, 1.1) and b2 (1.1, 1.2).
std::shared_ptr<BackboneImpl> MakeEfficientNet(double width_mult, double depth_mult);
std::shared_ptr<BackboneImpl> MakeGoogLeNet();
std::shared_ptr<BackboneImpl> MakeInceptionV3();

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_ZOO_H_
