// Compute threads: one setting for torch's intra-op pool and the BLAS library under it, so a
// worker given N CPUs runs N compute threads, not torch's N plus OpenBLAS's own pool (issue
// 14: with Debian's pthread OpenBLAS the two pools fight over the cores, 3-4x slower on a
// loaded 2-core box). The build links the OpenMP variant of OpenBLAS when Debian's
// libopenblas0-openmp is installed (trial-worker/torch/CMakeLists.txt), so BLAS runs inside
// torch's OpenMP pool; with the pthread variant its pool is sized to the same N.
//
// SetComputeThreads and SetBlasThreads are process-wide: call them when no other thread
// trains (TrialRun does, before and after an epoch's threads).
#ifndef TUNER_TRIAL_WORKER_TORCH_COMPUTE_THREADS_H_
#define TUNER_TRIAL_WORKER_TORCH_COMPUTE_THREADS_H_

#include <string>

namespace tuner::worker::torchtrainer {

// The CPUs this process may run on (its affinity mask: taskset, cgroup cpusets).
int CpusAvailable();

// Sets torch's intra-op threads and OpenBLAS's threads to `threads` (0: CpusAvailable()).
// Returns the count set.
int SetComputeThreads(int threads);

// OpenBLAS's thread count alone (its pthread variant has one pool for the whole process).
void SetBlasThreads(int threads);

// For the calling thread only: torch's ops (OpenMP) and OpenMP OpenBLAS run `threads` threads
// when called from it. For executions trained on threads of their own (trial_run.h).
void SetThisThreadComputeThreads(int threads);

// What BLAS this process runs: "OpenBLAS <config>, openmp|pthread|sequential, N threads", or
// "not OpenBLAS" when the library is another one (then only torch's threads were set).
std::string DescribeBlas();

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_COMPUTE_THREADS_H_
