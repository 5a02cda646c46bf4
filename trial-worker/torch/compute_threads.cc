#include "trial-worker/torch/compute_threads.h"

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>

#include "absl/strings/str_cat.h"

namespace tuner::worker::torchtrainer {
namespace {

// OpenBLAS's and OpenMP's API, looked up at run time: libtorch links the reference BLAS
// interface (libblas.so.3), which Debian's alternatives point at one OpenBLAS variant or
// another library altogether, and this code is not compiled with -fopenmp.
template <typename F>
F RuntimeSymbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

int CpusAvailable() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int SetComputeThreads(int threads) {
  const int n = threads > 0 ? threads : CpusAvailable();
  if (at::get_num_threads() != n) at::set_num_threads(n);
  SetBlasThreads(n);
  return n;
}

void SetBlasThreads(int threads) {
  if (auto set_blas = RuntimeSymbol<void (*)(int)>("openblas_set_num_threads")) set_blas(threads);
}

void SetThisThreadComputeThreads(int threads) {
  // torch sets a new thread's OpenMP count lazily on its first parallel op; do that first so
  // it does not undo this afterwards. omp_set_num_threads is per thread; libgomp is loaded
  // with libtorch.
  at::get_num_threads();
  if (auto set_omp = RuntimeSymbol<void (*)(int)>("omp_set_num_threads")) set_omp(threads);
}

std::string DescribeBlas() {
  auto config = RuntimeSymbol<char* (*)()>("openblas_get_config");
  auto parallel = RuntimeSymbol<int (*)()>("openblas_get_parallel");
  auto threads = RuntimeSymbol<int (*)()>("openblas_get_num_threads");
  if (config == nullptr || parallel == nullptr || threads == nullptr) return "not OpenBLAS";
  const int mode = parallel();
  return absl::StrCat("OpenBLAS ", config(), ", ",
                      mode == 2 ? "openmp" : mode == 1 ? "pthread" : "sequential", ", ",
                      threads(), " threads");
}

}  // namespace tuner::worker::torchtrainer
