#include "trial-worker/torch/batch_transform.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace tuner::worker::torchtrainer {

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

torch::Tensor BatchTransform::Apply(const torch::Tensor& images, bool augment,
                                    std::mt19937_64& rng) const {
  torch::NoGradGuard no_grad;
  const int64_t b = images.size(0);
  const int64_t s = input_size_;
  torch::Tensor x = images.to(torch::kFloat).div_(255.0f);
  if (x.size(1) == 1) x = x.expand({b, 3, x.size(2), x.size(3)});
  const bool affine = augment && (augment_.rotation > 0 || augment_.shift > 0 || augment_.hflip);
  const bool bicubic = preprocessing_.interpolation == "bicubic";
  const double crop = preprocessing_.center_crop;
  if (affine) {
    // One affine resample per image: rotation, translation, flip, the centre crop and the
    // resize to s.
    constexpr double kPi = 3.14159265358979323846;
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    std::bernoulli_distribution flip(0.5);
    std::vector<float> theta(static_cast<size_t>(b) * 6);
    for (int64_t i = 0; i < b; ++i) {
      const double angle = augment_.rotation * unit(rng) * kPi / 180.0;
      const double tx = 2.0 * augment_.shift * unit(rng);
      const double ty = 2.0 * augment_.shift * unit(rng);
      const double sx = augment_.hflip && flip(rng) ? -1.0 : 1.0;
      float* t = &theta[static_cast<size_t>(i) * 6];
      t[0] = static_cast<float>(std::cos(angle) * sx * crop);
      t[1] = static_cast<float>(-std::sin(angle) * crop);
      t[2] = static_cast<float>(tx);
      t[3] = static_cast<float>(std::sin(angle) * sx * crop);
      t[4] = static_cast<float>(std::cos(angle) * crop);
      t[5] = static_cast<float>(ty);
    }
    torch::Tensor t = torch::from_blob(theta.data(), {b, 2, 3}).clone();
    torch::Tensor grid = torch::nn::functional::affine_grid(t, {b, 3, s, s}, false);
    // Border padding (1) repeats edge pixels, like Keras' fill_mode="nearest"; interpolation
    // 0 bilinear, 2 bicubic (the C++ options know only bilinear and nearest).
    x = torch::grid_sampler(x, grid, bicubic ? 2 : 0, /*padding_mode=*/1,
                            /*align_corners=*/false);
  } else {
    if (crop < 1.0) {
      // torchvision's CenterCrop after its Resize, as a fraction of each side.
      const int64_t h = std::max<int64_t>(1, std::llround(x.size(2) * crop));
      const int64_t w = std::max<int64_t>(1, std::llround(x.size(3) * crop));
      x = x.slice(2, (x.size(2) - h) / 2, (x.size(2) - h) / 2 + h)
              .slice(3, (x.size(3) - w) / 2, (x.size(3) - w) / 2 + w);
    }
    if (x.size(2) != s || x.size(3) != s) {
      auto options = torch::nn::functional::InterpolateFuncOptions()
                         .size(std::vector<int64_t>{s, s})
                         .align_corners(false);
      if (bicubic) {
        options.mode(torch::kBicubic);
      } else {
        options.mode(torch::kBilinear);
      }
      x = torch::nn::functional::interpolate(x, options);
    } else {
      x = x.contiguous();
    }
  }
  const std::array<double, 3>& m = preprocessing_.mean;
  const std::array<double, 3>& d = preprocessing_.std;
  torch::Tensor mean = torch::tensor({static_cast<float>(m[0]), static_cast<float>(m[1]),
                                      static_cast<float>(m[2])})
                           .view({1, 3, 1, 1});
  torch::Tensor std = torch::tensor({static_cast<float>(d[0]), static_cast<float>(d[1]),
                                     static_cast<float>(d[2])})
                          .view({1, 3, 1, 1});
  x = (x - mean) / std;
  if (augment && augment_.cutout > 0) {
    const int64_t side = std::min(augment_.cutout, s);
    std::uniform_int_distribution<int64_t> centre(0, s - 1);
    for (int64_t i = 0; i < b; ++i) {
      const int64_t cy = centre(rng), cx = centre(rng);
      const int64_t y0 = std::max<int64_t>(0, cy - side / 2), y1 = std::min(s, cy - side / 2 + side);
      const int64_t x0 = std::max<int64_t>(0, cx - side / 2), x1 = std::min(s, cx - side / 2 + side);
      if (y1 > y0 && x1 > x0) x[i].slice(1, y0, y1).slice(2, x0, x1).zero_();
    }
  }
  return x;
}

}  // namespace tuner::worker::torchtrainer
