// Writers of tiny datasets in the official formats (CIFAR-10 / CIFAR-100 binary, IDX gzip)
// for the torch trainer's tests. Images are learnable: class k is a colour / brightness
// pattern plus noise, so a small network reaches high accuracy within a few epochs.
#ifndef TUNER_TESTS_TORCH_TINY_DATASETS_H_
#define TUNER_TESTS_TORCH_TINY_DATASETS_H_

#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace tuner::testing {

inline uint8_t TinyPixel(int label, int channel, int y, int x, std::mt19937& rng) {
  std::uniform_int_distribution<int> noise(-20, 20);
  // Class k: a channel-dependent level plus a class-dependent stripe direction.
  int v = 40 + ((label * (channel + 3) * 37) % 180);
  if (label % 2 == 0 ? (y / 4) % 2 == 0 : (x / 4) % 2 == 0) v += 30;
  v += noise(rng);
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

// data_batch_1..5.bin with `per_batch` images each and test_batch.bin with `test` images.
inline void WriteTinyCifar10(const std::string& dir, int per_batch, int test, unsigned seed = 1) {
  std::mt19937 rng(seed);
  auto write = [&](const std::string& name, int n) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    for (int i = 0; i < n; ++i) {
      const int label = static_cast<int>(rng() % 10);
      out.put(static_cast<char>(label));
      for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < 32; ++y) {
          for (int x = 0; x < 32; ++x) out.put(static_cast<char>(TinyPixel(label, c, y, x, rng)));
        }
      }
    }
  };
  for (int b = 1; b <= 5; ++b) write("data_batch_" + std::to_string(b) + ".bin", per_batch);
  write("test_batch.bin", test);
}

// train.bin / test.bin: coarse label (fine / 5) then fine label (0..99).
inline void WriteTinyCifar100(const std::string& dir, int train, int test, unsigned seed = 2) {
  std::mt19937 rng(seed);
  auto write = [&](const std::string& name, int n) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    for (int i = 0; i < n; ++i) {
      const int fine = static_cast<int>(rng() % 100);
      out.put(static_cast<char>(fine / 5));
      out.put(static_cast<char>(fine));
      for (int p = 0; p < 3 * 32 * 32; ++p) out.put(static_cast<char>(TinyPixel(fine % 10, p / 1024, (p / 32) % 32, p % 32, rng)));
    }
  };
  write("train.bin", train);
  write("test.bin", test);
}

// train-/t10k- images and labels, gzip-compressed, 28x28.
inline void WriteTinyIdx(const std::string& dir, int train, int test, unsigned seed = 3) {
  std::mt19937 rng(seed);
  auto be32 = [](std::string* s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>((v >> shift) & 0xff));
  };
  auto gz = [&](const std::string& name, const std::string& data) {
    gzFile f = gzopen((dir + "/" + name + ".gz").c_str(), "wb");
    gzwrite(f, data.data(), static_cast<unsigned>(data.size()));
    gzclose(f);
  };
  auto write = [&](const std::string& prefix, int n) {
    std::string images, labels;
    be32(&images, 0x803), be32(&images, n), be32(&images, 28), be32(&images, 28);
    be32(&labels, 0x801), be32(&labels, n);
    for (int i = 0; i < n; ++i) {
      const int label = static_cast<int>(rng() % 10);
      labels.push_back(static_cast<char>(label));
      for (int p = 0; p < 28 * 28; ++p) images.push_back(static_cast<char>(TinyPixel(label, 0, p / 28, p % 28, rng)));
    }
    gz(prefix + "-images-idx3-ubyte", images);
    gz(prefix + "-labels-idx1-ubyte", labels);
  };
  write("train", train);
  write("t10k", test);
}

}  // namespace tuner::testing

#endif  // TUNER_TESTS_TORCH_TINY_DATASETS_H_
