// GP: the encoding of configurations, the Matern-5/2 ARD model and its fit, log EI and its
// maximisation. Eigen for the linear algebra, liblbfgs for both optimisations.
#include "search/gp_sampler.h"

#include <lbfgs.h>

#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "search/sampler_math.h"

namespace tuner::search {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kSqrt5 = 2.2360679774997896964;
constexpr double kNoiseFloor = 1e-6;

// log(phi(z) + z Phi(z)): EI of a unit normal at z = (best - mean) / sd, stable for z << 0.
double LogH(double z) {
  if (z > -5) return std::log(std::max(std::exp(NormalLogPdf(z)) + z * NormalCdf(z), 1e-300));
  const double t2 = z * z;
  return NormalLogPdf(z) + std::log(1 / t2 - 3 / (t2 * t2) + 15 / (t2 * t2 * t2));
}

double YeoJohnson(double y, double lambda) {
  if (y >= 0) {
    return std::fabs(lambda) < 1e-9 ? std::log1p(y) : (std::pow(y + 1, lambda) - 1) / lambda;
  }
  return std::fabs(lambda - 2) < 1e-9 ? -std::log1p(-y)
                                      : -(std::pow(1 - y, 2 - lambda) - 1) / (2 - lambda);
}

// Standardises the values, then the Yeo-Johnson power transform whose lambda (in [-2, 2])
// makes them most normal by likelihood, then standardises again: heavy tails (Rosenbrock's
// 1e5 next to 1) no longer flatten the model, and an already normal-looking set stays nearly
// as it was (lambda near 1).
VectorXd PowerTransform(const std::vector<double>& values) {
  const int n = static_cast<int>(values.size());
  VectorXd z = Eigen::Map<const VectorXd>(values.data(), n);
  const auto standardise = [n](VectorXd v) {
    const double mean = v.mean();
    const double sd = std::sqrt((v.array() - mean).square().sum() / n);
    return VectorXd((v.array() - mean) / (sd > 1e-12 ? sd : 1.0));
  };
  z = standardise(z);
  double best_lambda = 1, best_ll = -std::numeric_limits<double>::infinity();
  for (int k = 0; k <= 80; ++k) {
    const double lambda = -2 + 0.05 * k;
    VectorXd t(n);
    double jacobian = 0;
    for (int i = 0; i < n; ++i) {
      t[i] = YeoJohnson(z[i], lambda);
      jacobian += (z[i] >= 0 ? 1 : -1) * std::log1p(std::fabs(z[i]));
    }
    const double mean = t.mean();
    const double var = (t.array() - mean).square().sum() / n;
    if (!(var > 0) || !std::isfinite(var)) continue;
    const double ll = -0.5 * n * std::log(var) + (lambda - 1) * jacobian;
    if (ll > best_ll) {
      best_ll = ll;
      best_lambda = lambda;
    }
  }
  for (int i = 0; i < n; ++i) z[i] = YeoJohnson(z[i], best_lambda);
  return standardise(z);
}

// Configurations as points of [0, 1]^D.
class Encoder {
 public:
  explicit Encoder(const SearchSpace& space) : space_(space) {
    for (const ParamSpec& param : space.params) {
      Column column{&param, width_, 1, std::nullopt};
      if (param.kind == ParamKind::kChoice) {
        column.width = static_cast<int>(param.values.size());
      } else {
        column.domain.emplace(param);
      }
      width_ += column.width;
      columns_.push_back(std::move(column));
    }
  }

  int width() const { return width_; }

  VectorXd Encode(const Params& params) const {
    VectorXd x = VectorXd::Zero(width_);
    for (const Column& column : columns_) {
      auto it = params.find(column.param->name);
      if (!column.domain) {
        if (it == params.end()) continue;
        const auto& values = column.param->values;
        const auto at = std::find(values.begin(), values.end(), it->second);
        if (at != values.end()) x[column.offset + (at - values.begin())] = 1;
        continue;
      }
      const NumericDomain& domain = *column.domain;
      if (it == params.end() || domain.hi <= domain.lo) {
        x[column.offset] = 0.5;
        continue;
      }
      const double internal = domain.ToInternal(AsNumber(it->second));
      x[column.offset] = std::clamp((internal - domain.lo) / (domain.hi - domain.lo), 0.0, 1.0);
    }
    return x;
  }

  // `params` with its numeric values replaced by the snapped values at x.
  Params Decode(const VectorXd& x, Params params) const {
    for (const Column& column : columns_) {
      if (!column.domain) continue;
      auto it = params.find(column.param->name);
      if (it == params.end()) continue;
      const NumericDomain& domain = *column.domain;
      it->second = domain.Snap(domain.lo + std::clamp(x[column.offset], 0.0, 1.0) *
                                               (domain.hi - domain.lo));
    }
    return params;
  }

  // The numeric coordinates that `params` has (what a local search may move).
  std::vector<int> NumericCoordinates(const Params& params) const {
    std::vector<int> out;
    for (const Column& column : columns_) {
      if (column.domain && column.domain->hi > column.domain->lo &&
          params.count(column.param->name)) {
        out.push_back(column.offset);
      }
    }
    return out;
  }

 private:
  struct Column {
    const ParamSpec* param;
    int offset;
    int width;
    std::optional<NumericDomain> domain;
  };
  const SearchSpace& space_;
  std::vector<Column> columns_;
  int width_ = 0;
};

// The kernel's hyperparameters decoded from theta: log length scales (D), log signal
// variance, log noise variance (above kNoiseFloor).
struct Hyperparameters {
  Hyperparameters() = default;
  Hyperparameters(const double* theta, int d)
      : sf2(std::exp(theta[d])), sn2(std::exp(theta[d + 1]) + kNoiseFloor), inv_l2(d) {
    for (int i = 0; i < d; ++i) inv_l2[i] = std::exp(-2 * theta[i]);
  }

  // sqrt(5) times the length-scaled distance of two points.
  template <typename A, typename B>
  double ScaledDistance(const A& a, const B& b) const {
    return kSqrt5 * std::sqrt(((a - b).array().square() * inv_l2.transpose().array()).sum());
  }
  double Matern52(double u) const { return sf2 * (1 + u + u * u / 3) * std::exp(-u); }

  double sf2 = 1, sn2 = 1e-3;
  VectorXd inv_l2;
};

// Matern-5/2 ARD Gaussian process on standardised values.
class Gp {
 public:
  Gp(MatrixXd x, VectorXd y) : x_(std::move(x)), y_(std::move(y)) {}

  int dims() const { return static_cast<int>(x_.cols()); }
  int params() const { return dims() + 2; }

  // Negative log marginal likelihood plus the priors' negative log densities, and its
  // gradient; +inf when the kernel matrix is not positive definite.
  double Objective(const double* theta, double* grad) const {
    const int n = static_cast<int>(x_.rows()), d = dims();
    const Hyperparameters h(theta, d);
    MatrixXd k(n, n), dk_common(n, n);
    for (int a = 0; a < n; ++a) {
      for (int b = a; b < n; ++b) {
        const double u = h.ScaledDistance(x_.row(a), x_.row(b));
        k(a, b) = k(b, a) = h.Matern52(u);
        dk_common(a, b) = dk_common(b, a) = h.sf2 * (5.0 / 3.0) * (1 + u) * std::exp(-u);
      }
    }
    MatrixXd kn = k;
    kn.diagonal().array() += h.sn2;
    Eigen::LLT<MatrixXd> llt(kn);
    if (llt.info() != Eigen::Success) return std::numeric_limits<double>::infinity();
    const VectorXd alpha = llt.solve(y_);
    const MatrixXd& l = llt.matrixLLT();
    double log_det = 0;
    for (int i = 0; i < n; ++i) log_det += std::log(l(i, i));
    double value = 0.5 * y_.dot(alpha) + log_det + 0.5 * n * std::log(2 * M_PI);
    // Priors: length scales around 0.5 of the unit cube, signal variance around 1 (values are
    // standardised), noise small.
    const auto gauss = [&](double v, double mu, double sd, double* g) {
      const double z = (v - mu) / sd;
      *g += z / sd;
      return 0.5 * z * z;
    };
    std::vector<double> g(params(), 0.0);
    for (int i = 0; i < d; ++i) value += gauss(theta[i], std::log(0.5), 1.0, &g[i]);
    value += gauss(theta[d], 0.0, 1.0, &g[d]);
    value += gauss(theta[d + 1], std::log(1e-3), 2.0, &g[d + 1]);
    if (grad != nullptr) {
      const MatrixXd w = alpha * alpha.transpose() - llt.solve(MatrixXd::Identity(n, n));
      // d NLL / d theta_j = -0.5 tr(W dK/dtheta_j); W and dK are symmetric.
      g[d] += -0.5 * (w.array() * k.array()).sum();
      g[d + 1] += -0.5 * w.trace() * (h.sn2 - kNoiseFloor);
      for (int i = 0; i < d; ++i) {
        double t = 0;
        for (int a = 0; a < n; ++a) {
          for (int b = 0; b < n; ++b) {
            const double diff = x_(a, i) - x_(b, i);
            t += w(a, b) * dk_common(a, b) * diff * diff * h.inv_l2[i];
          }
        }
        g[i] += -0.5 * t;
      }
      for (int j = 0; j < params(); ++j) grad[j] = g[j];
    }
    return value;
  }

  // Fixes the hyperparameters and factors the kernel matrix.
  bool Condition(const std::vector<double>& theta) {
    theta_ = theta;
    h_ = Hyperparameters(theta.data(), dims());
    const int n = static_cast<int>(x_.rows());
    MatrixXd kn(n, n);
    for (int a = 0; a < n; ++a) {
      for (int b = a; b < n; ++b) kn(a, b) = kn(b, a) = Kernel(x_.row(a), x_.row(b));
    }
    kn.diagonal().array() += h_.sn2;
    llt_.compute(kn);
    if (llt_.info() != Eigen::Success) return false;
    alpha_ = llt_.solve(y_);
    return true;
  }

  // Adds points at the current posterior mean and refactors (the kriging believer).
  void Believe(const std::vector<VectorXd>& points) {
    if (points.empty()) return;
    const int n = static_cast<int>(x_.rows());
    MatrixXd x(n + static_cast<int>(points.size()), x_.cols());
    VectorXd y(x.rows());
    x.topRows(n) = x_;
    y.head(n) = y_;
    for (size_t i = 0; i < points.size(); ++i) {
      double mean, var;
      Predict(points[i], &mean, &var);
      x.row(n + static_cast<int>(i)) = points[i].transpose();
      y[n + static_cast<int>(i)] = mean;
    }
    x_ = std::move(x);
    y_ = std::move(y);
    Condition(theta_);
  }

  void Predict(const VectorXd& point, double* mean, double* var) const {
    const int n = static_cast<int>(x_.rows());
    VectorXd ks(n);
    for (int a = 0; a < n; ++a) ks[a] = Kernel(x_.row(a), point.transpose());
    *mean = ks.dot(alpha_);
    const VectorXd v = llt_.matrixL().solve(ks);
    *var = std::max(h_.sf2 - v.squaredNorm(), 1e-12);
  }

 private:
  template <typename A, typename B>
  double Kernel(const A& a, const B& b) const {
    return h_.Matern52(h_.ScaledDistance(a, b));
  }

  MatrixXd x_;
  VectorXd y_;
  std::vector<double> theta_;
  Hyperparameters h_;
  Eigen::LLT<MatrixXd> llt_;
  VectorXd alpha_;
};

// L-BFGS (liblbfgs) from x, in place; stops after `iterations` or at gradient norm `epsilon`
// relative to x's. A failed line search leaves the best point found.
void Minimise(lbfgs_evaluate_t evaluate, void* instance, int iterations, double epsilon,
              std::vector<double>* x) {
  lbfgs_parameter_t param;
  lbfgs_parameter_init(&param);
  param.max_iterations = iterations;
  param.epsilon = epsilon;
  param.linesearch = LBFGS_LINESEARCH_BACKTRACKING;
  double value = 0;
  lbfgs(static_cast<int>(x->size()), x->data(), &value, evaluate, nullptr, instance, &param);
}

lbfgsfloatval_t FitEvaluate(void* instance, const lbfgsfloatval_t* x, lbfgsfloatval_t* g,
                            const int n, const lbfgsfloatval_t /*step*/) {
  const Gp* gp = static_cast<const Gp*>(instance);
  const double value = gp->Objective(x, g);
  if (!std::isfinite(value)) {
    for (int i = 0; i < n; ++i) g[i] = 0;
    return 1e30;
  }
  return value;
}

// The maximum a posteriori hyperparameters, the best of two starts.
std::vector<double> FitHyperparameters(const Gp& gp) {
  const int d = gp.dims();
  std::vector<double> best;
  double best_value = std::numeric_limits<double>::infinity();
  for (double scale : {0.5, 0.15}) {
    std::vector<double> theta(gp.params());
    for (int i = 0; i < d; ++i) theta[i] = std::log(scale);
    theta[d] = 0;
    theta[d + 1] = std::log(1e-3);
    Minimise(FitEvaluate, const_cast<Gp*>(&gp), 60, 1e-4, &theta);
    const double value = gp.Objective(theta.data(), nullptr);
    if (std::isfinite(value) && value < best_value) {
      best_value = value;
      best = theta;
    }
  }
  if (best.empty()) {  // no start gave a positive definite matrix: a smooth, noisy default
    best.assign(gp.params(), std::log(0.5));
    best[d] = 0;
    best[d + 1] = std::log(1e-2);
  }
  return best;
}

struct Acquisition {
  const Gp* gp;
  double best;  // the lowest standardised value observed

  double operator()(const VectorXd& x) const {
    double mean, var;
    gp->Predict(x, &mean, &var);
    const double sd = std::sqrt(var);
    return std::log(sd) + LogH((best - mean) / sd);
  }
};

// L-BFGS over some coordinates of a point, each kept in (0, 1) as (1 + tanh(z)) / 2, with a
// central-difference gradient.
struct LocalSearch {
  const Acquisition* acquisition;
  VectorXd point;
  std::vector<int> coordinates;

  VectorXd At(const lbfgsfloatval_t* z) const {
    VectorXd x = point;
    for (size_t i = 0; i < coordinates.size(); ++i) x[coordinates[i]] = 0.5 * (1 + std::tanh(z[i]));
    return x;
  }

  static lbfgsfloatval_t Evaluate(void* instance, const lbfgsfloatval_t* z, lbfgsfloatval_t* g,
                                  const int n, const lbfgsfloatval_t /*step*/) {
    const LocalSearch* self = static_cast<const LocalSearch*>(instance);
    std::vector<double> probe(z, z + n);
    const double value = -(*self->acquisition)(self->At(probe.data()));
    for (int i = 0; i < n; ++i) {
      const double h = 1e-5;
      probe[i] = z[i] + h;
      const double up = -(*self->acquisition)(self->At(probe.data()));
      probe[i] = z[i] - h;
      const double down = -(*self->acquisition)(self->At(probe.data()));
      probe[i] = z[i];
      g[i] = (up - down) / (2 * h);
    }
    return value;
  }
};

struct Candidate {
  Params params;
  VectorXd x;
  double score = -std::numeric_limits<double>::infinity();
};

}  // namespace

Params GpSample(const SearchSpace& space, const SamplerSpec& spec, bool maximize,
                const std::vector<Observation>& observations, std::mt19937_64& rng) {
  std::vector<const Observation*> finished;
  std::vector<const Observation*> running;
  for (const Observation& o : observations) {
    if (o.running) {
      if (spec.constant_liar) running.push_back(&o);
    } else if (!o.pruned && std::isfinite(o.value)) {
      finished.push_back(&o);
    }
  }
  if (finished.size() < static_cast<size_t>(std::max(1, spec.n_startup_trials))) {
    return SampleParams(space, rng);
  }
  const Encoder encoder(space);
  const int n = static_cast<int>(finished.size());
  MatrixXd x(n, encoder.width());
  std::vector<double> loss(n);
  for (int i = 0; i < n; ++i) {
    x.row(i) = encoder.Encode(finished[i]->params).transpose();
    loss[i] = maximize ? -finished[i]->value : finished[i]->value;
  }
  const VectorXd y = PowerTransform(loss);
  std::vector<int> order(n);  // best first
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return loss[a] < loss[b]; });
  const double best = y.minCoeff();

  Gp gp(x, y);
  if (!gp.Condition(FitHyperparameters(gp))) return SampleParams(space, rng);
  std::vector<VectorXd> pending;
  for (const Observation* o : running) pending.push_back(encoder.Encode(o->params));
  gp.Believe(pending);
  const Acquisition acquisition{&gp, best};

  // Random candidates, and perturbations of the five best observations.
  std::vector<Candidate> candidates;
  const int total = std::max(10, spec.n_candidates);
  for (int c = 0; c < total * 4 / 5; ++c) {
    Candidate candidate;
    candidate.params = SampleParams(space, rng);
    candidates.push_back(std::move(candidate));
  }
  for (int c = 0; c < total / 5; ++c) {
    const Params& base = finished[order[c % std::min(n, 5)]]->params;
    Params params = base;
    VectorXd point = encoder.Encode(base);
    const double scale = c % 2 == 0 ? 0.02 : 0.1;
    for (int coordinate : encoder.NumericCoordinates(base)) {
      point[coordinate] = std::clamp(point[coordinate] + scale * StandardNormal(rng), 0.0, 1.0);
    }
    Candidate candidate;
    candidate.params = encoder.Decode(point, params);
    candidates.push_back(std::move(candidate));
  }
  for (Candidate& candidate : candidates) {
    candidate.params = ActiveOnly(space, std::move(candidate.params));
    candidate.x = encoder.Encode(candidate.params);
    candidate.score = acquisition(candidate.x);
    if (!std::isfinite(candidate.score)) candidate.score = -std::numeric_limits<double>::infinity();
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  Candidate winner = candidates.front();
  for (size_t c = 0; c < std::min<size_t>(5, candidates.size()); ++c) {
    LocalSearch search{&acquisition, candidates[c].x, encoder.NumericCoordinates(candidates[c].params)};
    if (search.coordinates.empty()) continue;
    std::vector<double> z;
    for (int coordinate : search.coordinates) {
      const double v = std::clamp(search.point[coordinate], 1e-6, 1 - 1e-6);
      z.push_back(std::atanh(2 * v - 1));
    }
    Minimise(LocalSearch::Evaluate, &search, 30, 1e-5, &z);
    Candidate polished;
    polished.params = encoder.Decode(search.At(z.data()), candidates[c].params);
    polished.x = encoder.Encode(polished.params);
    polished.score = acquisition(polished.x);
    if (std::isfinite(polished.score) && polished.score > winner.score) winner = polished;
  }
  return winner.params;
}

}  // namespace tuner::search
