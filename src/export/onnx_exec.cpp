#include "export/onnx_exec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "core/error.h"

namespace nemokd::onnx_export {

int64_t ExecTensor::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {

using Tensor = ExecTensor;

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Tensor from_proto(const onnx::TensorProto& t, const std::string& file) {
  Tensor out;
  for (auto d : t.dims()) out.shape.push_back(d);
  const int64_t n = out.numel();
  out.values.resize(size_t(n));
  const std::string& raw = t.raw_data();
  auto bad = [&] { return DataError(fmt::format("{}: initializer '{}' has {} values for shape {}", file, t.name(),
                                                 raw.empty() ? -1 : int64_t(raw.size()), shape_str(out.shape))); };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (!raw.empty()) {
        if (raw.size() != size_t(n) * 4) throw bad();
        for (int64_t i = 0; i < n; ++i) {
          float f;
          std::memcpy(&f, raw.data() + 4 * i, 4);
          out.values[size_t(i)] = f;
        }
      } else {
        if (t.float_data_size() != n) throw bad();
        for (int64_t i = 0; i < n; ++i) out.values[size_t(i)] = t.float_data(int(i));
      }
      break;
    case onnx::TensorProto::DOUBLE:
      if (!raw.empty()) {
        if (raw.size() != size_t(n) * 8) throw bad();
        std::memcpy(out.values.data(), raw.data(), raw.size());
      } else {
        if (t.double_data_size() != n) throw bad();
        for (int64_t i = 0; i < n; ++i) out.values[size_t(i)] = t.double_data(int(i));
      }
      break;
    case onnx::TensorProto::INT64:
      if (!raw.empty()) {
        if (raw.size() != size_t(n) * 8) throw bad();
        for (int64_t i = 0; i < n; ++i) {
          int64_t v;
          std::memcpy(&v, raw.data() + 8 * i, 8);
          out.values[size_t(i)] = double(v);
        }
      } else {
        if (t.int64_data_size() != n) throw bad();
        for (int64_t i = 0; i < n; ++i) out.values[size_t(i)] = double(t.int64_data(int(i)));
      }
      break;
    default:
      throw DataError(fmt::format("{}: initializer '{}' has unsupported data type {}", file, t.name(), t.data_type()));
  }
  return out;
}

// ---- attributes ----
const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t attr_i(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : def;
}
double attr_f(const onnx::NodeProto& n, const std::string& name, double def) {
  const auto* a = find_attr(n, name);
  return a ? double(a->f()) : def;
}
std::string attr_s(const onnx::NodeProto& n, const std::string& name, const std::string& def) {
  const auto* a = find_attr(n, name);
  return a ? a->s() : def;
}
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> def) {
  const auto* a = find_attr(n, name);
  if (!a) return def;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

// ---- 2-D windows (Conv, MaxPool) on NCHW ----
struct Window {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0, dh = 1, dw = 1;
  int64_t out(int64_t in, bool height) const {
    const int64_t k = height ? kh : kw, s = height ? sh : sw, d = height ? dh : dw;
    const int64_t p = height ? pt + pb : pl + pr;
    return (in + p - d * (k - 1) - 1) / s + 1;
  }
};
Window window_of(const onnx::NodeProto& n, int64_t kh, int64_t kw, const std::string& file) {
  Window w;
  const auto k = attr_ints(n, "kernel_shape", {kh, kw});
  const auto s = attr_ints(n, "strides", {1, 1});
  const auto p = attr_ints(n, "pads", {0, 0, 0, 0});
  const auto d = attr_ints(n, "dilations", {1, 1});
  if (k.size() != 2 || s.size() != 2 || p.size() != 4 || d.size() != 2)
    throw DataError(fmt::format("{}: node '{}' ({}): only 2-D windows are supported", file, n.name(), n.op_type()));
  if (attr_s(n, "auto_pad", "NOTSET") != "NOTSET")
    throw DataError(fmt::format("{}: node '{}': auto_pad is not supported", file, n.name()));
  w.kh = k[0], w.kw = k[1], w.sh = s[0], w.sw = s[1], w.pt = p[0], w.pl = p[1], w.pb = p[2], w.pr = p[3];
  w.dh = d[0], w.dw = d[1];
  return w;
}

// ---- numpy-style broadcasting ----
std::vector<int64_t> broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw DataError(fmt::format("onnx executor: shapes {} and {} do not broadcast", shape_str(a), shape_str(b)));
    out[i] = std::max(da, db);
  }
  return out;
}
// Strides of `s` seen from an output of rank r (0 where s broadcasts).
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& s, size_t r) {
  std::vector<int64_t> st(r, 0);
  int64_t acc = 1;
  for (size_t k = s.size(); k-- > 0;) {
    const size_t i = k + (r - s.size());
    st[i] = s[k] == 1 ? 0 : acc;
    acc *= s[k];
  }
  return st;
}
// out[i] = f(inputs[0][..], inputs[1][..], ...) with broadcasting.
Tensor elementwise(const std::vector<const Tensor*>& in, const std::function<double(const double*)>& f) {
  std::vector<int64_t> shape = in[0]->shape;
  for (size_t k = 1; k < in.size(); ++k) shape = broadcast_shape(shape, in[k]->shape);
  Tensor out;
  out.shape = shape;
  const int64_t n = out.numel();
  out.values.resize(size_t(n));
  const size_t r = shape.size();
  std::vector<std::vector<int64_t>> strides;
  for (const auto* t : in) strides.push_back(broadcast_strides(t->shape, r));
  std::vector<int64_t> idx(r, 0);
  std::vector<double> args(in.size());
  for (int64_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < in.size(); ++k) {
      int64_t off = 0;
      for (size_t d = 0; d < r; ++d) off += idx[d] * strides[k][d];
      args[k] = in[k]->values[size_t(off)];
    }
    out.values[size_t(i)] = f(args.data());
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// ---- rounding (QONNX's rounding modes) ----
double round_mode(double y, const std::string& mode, int64_t& ties) {
  const double f = std::floor(y), frac = y - f;
  if (frac == 0.5) ++ties;
  const double a = std::fabs(y), fa = std::floor(a), fr = a - fa, s = y < 0 ? -1.0 : 1.0;
  if (mode == "ROUND" || mode == "HALF_EVEN") {
    if (frac < 0.5) return f;
    if (frac > 0.5) return f + 1;
    return std::fmod(f, 2.0) == 0 ? f : f + 1;
  }
  if (mode == "HALF_UP") return s * (fr >= 0.5 ? fa + 1 : fa);  // half away from zero
  if (mode == "HALF_DOWN") return s * (fr > 0.5 ? fa + 1 : fa);  // half towards zero
  if (mode == "UP") return s * std::ceil(a);
  if (mode == "DOWN") return std::trunc(y);
  if (mode == "CEIL") return std::ceil(y);
  if (mode == "FLOOR") return f;
  throw DataError(fmt::format("onnx executor: unknown Quant rounding_mode '{}'", mode));
}

Tensor matmul2d(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.shape.size() != 2 || b.shape.size() != 2)
    throw DataError(fmt::format("onnx executor: MatMul/Gemm on {} and {} (only 2-D is supported)", shape_str(a.shape),
                                shape_str(b.shape)));
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (k != kb) throw DataError(fmt::format("onnx executor: MatMul {} x {}", shape_str(a.shape), shape_str(b.shape)));
  Tensor out;
  out.shape = {m, n};
  out.values.assign(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      const double av = ta ? a.values[size_t(p * m + i)] : a.values[size_t(i * k + p)];
      if (av == 0) continue;
      double* o = &out.values[size_t(i * n)];
      if (tb)
        for (int64_t j = 0; j < n; ++j) o[j] += av * b.values[size_t(j * k + p)];
      else {
        const double* bp = &b.values[size_t(p * n)];
        for (int64_t j = 0; j < n; ++j) o[j] += av * bp[j];
      }
    }
  return out;
}

}  // namespace

struct OnnxExecutor::Impl {
  std::string file;
  onnx::ModelProto model;
  std::map<std::string, Tensor> constants;  // initializers and nodes folded from them
  std::vector<const onnx::NodeProto*> nodes;  // the nodes left to run per input
  std::string input, output;
  std::vector<int64_t> input_shape;
  mutable int64_t ties = 0;

  const Tensor& value(const std::map<std::string, Tensor>& values, const std::string& name) const {
    auto it = values.find(name);
    if (it != values.end()) return it->second;
    auto c = constants.find(name);
    if (c != constants.end()) return c->second;
    throw DataError(fmt::format("{}: value '{}' is used before it is computed", file, name));
  }

  Tensor eval(const onnx::NodeProto& n, const std::vector<const Tensor*>& in) const {
    const std::string& op = n.op_type();
    auto need = [&](size_t k) {
      if (in.size() < k || std::any_of(in.begin(), in.begin() + long(k), [](const Tensor* t) { return !t; }))
        throw DataError(fmt::format("{}: node '{}' ({}) needs {} inputs", file, n.name(), op, k));
    };
    if (op == "Quant") {
      need(4);
      const double bits = in[3]->values.at(0);
      const bool is_signed = attr_i(n, "signed", 1) != 0, narrow = attr_i(n, "narrow", 0) != 0;
      const std::string mode = attr_s(n, "rounding_mode", "ROUND");
      if (bits == 1 && is_signed)  // QONNX: a signed 1-bit Quant is bipolar
        return elementwise({in[0], in[1], in[2]}, [](const double* a) {
          const double q = a[0] / a[1] + a[2] >= 0 ? 1.0 : -1.0;
          return (q - a[2]) * a[1];
        });
      const double qmin = is_signed ? (narrow ? -std::pow(2.0, bits - 1) + 1 : -std::pow(2.0, bits - 1)) : 0.0;
      const double qmax = is_signed ? std::pow(2.0, bits - 1) - 1 : (narrow ? std::pow(2.0, bits) - 2 : std::pow(2.0, bits) - 1);
      int64_t& t = ties;
      return elementwise({in[0], in[1], in[2]}, [&](const double* a) {
        double y = a[0] / a[1] + a[2];
        y = std::min(std::max(y, qmin), qmax);
        return (round_mode(y, mode, t) - a[2]) * a[1];
      });
    }
    if (op == "BipolarQuant") {
      need(2);
      return elementwise({in[0], in[1]}, [](const double* a) { return a[0] >= 0 ? a[1] : -a[1]; });
    }
    if (op == "MatMul") {
      need(2);
      return matmul2d(*in[0], *in[1], false, false);
    }
    if (op == "Gemm") {
      need(2);
      auto y = matmul2d(*in[0], *in[1], attr_i(n, "transA", 0) != 0, attr_i(n, "transB", 0) != 0);
      const double alpha = attr_f(n, "alpha", 1.0), beta = attr_f(n, "beta", 1.0);
      for (auto& v : y.values) v *= alpha;
      if (in.size() > 2 && in[2]) {
        Tensor c = *in[2];
        for (auto& v : c.values) v *= beta;
        y = elementwise({&y, &c}, [](const double* a) { return a[0] + a[1]; });
      }
      return y;
    }
    if (op == "BatchNormalization") {
      need(5);
      const auto& x = *in[0];
      if (x.shape.size() < 2) throw DataError(fmt::format("{}: BatchNormalization on {}", file, shape_str(x.shape)));
      const int64_t c = x.shape[1];
      int64_t inner = 1;
      for (size_t d = 2; d < x.shape.size(); ++d) inner *= x.shape[d];
      const double eps = attr_f(n, "epsilon", 1e-5);
      Tensor y = x;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const size_t ch = size_t((i / inner) % c);
        y.values[size_t(i)] = (x.values[size_t(i)] - in[3]->values.at(ch)) / std::sqrt(in[4]->values.at(ch) + eps) *
                                  in[1]->values.at(ch) +
                              in[2]->values.at(ch);
      }
      return y;
    }
    auto unary = [&](const std::function<double(double)>& f) {
      need(1);
      Tensor y = *in[0];
      for (auto& v : y.values) v = f(v);
      return y;
    };
    if (op == "Relu") return unary([](double v) { return v > 0 ? v : 0.0; });
    if (op == "Tanh") return unary([](double v) { return std::tanh(v); });
    if (op == "Floor") return unary([](double v) { return std::floor(v); });
    if (op == "Sign") return unary([](double v) { return double((v > 0) - (v < 0)); });
    if (op == "Identity") return unary([](double v) { return v; });
    if (op == "Clip") {
      double lo = attr_f(n, "min", -INFINITY), hi = attr_f(n, "max", INFINITY);
      if (in.size() > 1 && in[1]) lo = in[1]->values.at(0);
      if (in.size() > 2 && in[2]) hi = in[2]->values.at(0);
      return unary([lo, hi](double v) { return std::min(std::max(v, lo), hi); });
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      need(2);
      const char k = op[0];
      return elementwise({in[0], in[1]}, [k](const double* a) {
        return k == 'A' ? a[0] + a[1] : k == 'S' ? a[0] - a[1] : k == 'M' ? a[0] * a[1] : a[0] / a[1];
      });
    }
    if (op == "Conv") {
      need(2);
      const auto &x = *in[0], &wt = *in[1];
      if (x.shape.size() != 4 || wt.shape.size() != 4)
        throw DataError(fmt::format("{}: Conv '{}' on {} with weights {} (2-D only)", file, n.name(), shape_str(x.shape),
                                    shape_str(wt.shape)));
      const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
      const int64_t M = wt.shape[0], G = attr_i(n, "group", 1), Cg = wt.shape[1];
      if (G < 1 || C != Cg * G || M % G != 0)
        throw DataError(fmt::format("{}: Conv '{}': {} channels, weights {}, group {}", file, n.name(), C,
                                    shape_str(wt.shape), G));
      const Window w = window_of(n, wt.shape[2], wt.shape[3], file);
      const int64_t Ho = w.out(H, true), Wo = w.out(W, false);
      const Tensor* bias = in.size() > 2 ? in[2] : nullptr;
      Tensor y;
      y.shape = {N, M, Ho, Wo};
      y.values.assign(size_t(N * M * Ho * Wo), 0.0);
      // Output plane by plane: for each weight, add weight * (the shifted input plane) over the valid window
      // positions; the innermost loop runs along an output row.
      for (int64_t b = 0; b < N; ++b)
        for (int64_t m = 0; m < M; ++m) {
          const int64_t g = m / (M / G);
          double* out = y.values.data() + (b * M + m) * Ho * Wo;
          if (bias) std::fill(out, out + Ho * Wo, bias->values.at(size_t(m)));
          for (int64_t c = 0; c < Cg; ++c) {
            const double* plane = x.values.data() + (b * C + g * Cg + c) * H * W;
            for (int64_t ky = 0; ky < w.kh; ++ky)
              for (int64_t kx = 0; kx < w.kw; ++kx) {
                const double wv = wt.values[size_t(((m * Cg + c) * w.kh + ky) * w.kw + kx)];
                if (wv == 0) continue;
                for (int64_t oy = 0; oy < Ho; ++oy) {
                  const int64_t iy = oy * w.sh - w.pt + ky * w.dh;
                  if (iy < 0 || iy >= H) continue;
                  const double* in_row = plane + iy * W;
                  double* out_row = out + oy * Wo;
                  for (int64_t ox = 0; ox < Wo; ++ox) {
                    const int64_t ix = ox * w.sw - w.pl + kx * w.dw;
                    if (ix >= 0 && ix < W) out_row[ox] += wv * in_row[ix];
                  }
                }
              }
          }
        }
      return y;
    }
    if (op == "MaxPool") {
      need(1);
      const auto& x = *in[0];
      if (x.shape.size() != 4) throw DataError(fmt::format("{}: MaxPool '{}' on {}", file, n.name(), shape_str(x.shape)));
      if (attr_i(n, "ceil_mode", 0) != 0 || attr_i(n, "storage_order", 0) != 0)
        throw DataError(fmt::format("{}: MaxPool '{}': ceil_mode/storage_order are not supported", file, n.name()));
      const Window w = window_of(n, 1, 1, file);
      const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
      const int64_t Ho = w.out(H, true), Wo = w.out(W, false);
      Tensor y;
      y.shape = {N, C, Ho, Wo};
      y.values.assign(size_t(N * C * Ho * Wo), -INFINITY);
      for (int64_t p = 0; p < N * C; ++p)
        for (int64_t oy = 0; oy < Ho; ++oy)
          for (int64_t ox = 0; ox < Wo; ++ox) {
            double& best = y.values[size_t((p * Ho + oy) * Wo + ox)];
            for (int64_t ky = 0; ky < w.kh; ++ky)
              for (int64_t kx = 0; kx < w.kw; ++kx) {
                const int64_t iy = oy * w.sh - w.pt + ky * w.dh, ix = ox * w.sw - w.pl + kx * w.dw;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) best = std::max(best, x.values[size_t((p * H + iy) * W + ix)]);
              }
          }
      return y;
    }
    if (op == "Pad") {
      need(2);
      const auto& x = *in[0];
      if (attr_s(n, "mode", "constant") != "constant")
        throw DataError(fmt::format("{}: Pad '{}': only constant padding is supported", file, n.name()));
      const size_t r = x.shape.size();
      const auto& pads = in[1]->values;
      if (pads.size() != 2 * r) throw DataError(fmt::format("{}: Pad '{}': {} pads for rank {}", file, n.name(), pads.size(), r));
      const double value = in.size() > 2 && in[2] ? in[2]->values.at(0) : 0.0;
      Tensor y;
      for (size_t d = 0; d < r; ++d) {
        if (pads[d] < 0 || pads[d + r] < 0) throw DataError(fmt::format("{}: Pad '{}': negative pads", file, n.name()));
        y.shape.push_back(x.shape[d] + int64_t(pads[d]) + int64_t(pads[d + r]));
      }
      y.values.assign(size_t(y.numel()), value);
      std::vector<int64_t> idx(r, 0);
      for (int64_t i = 0; i < x.numel(); ++i) {
        int64_t off = 0;
        for (size_t d = 0; d < r; ++d) off = off * y.shape[d] + idx[d] + int64_t(pads[d]);
        y.values[size_t(off)] = x.values[size_t(i)];
        for (size_t d = r; d-- > 0;) {
          if (++idx[d] < x.shape[d]) break;
          idx[d] = 0;
        }
      }
      return y;
    }
    if (op == "Flatten") {
      need(1);
      Tensor y = *in[0];
      int64_t axis = attr_i(n, "axis", 1);
      if (axis < 0) axis += int64_t(y.shape.size());
      int64_t outer = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= y.shape[size_t(d)];
      y.shape = {outer, y.numel() / std::max<int64_t>(outer, 1)};
      return y;
    }
    if (op == "Reshape") {
      need(2);
      Tensor y = *in[0];
      std::vector<int64_t> s;
      int64_t known = 1, minus = -1;
      for (size_t d = 0; d < in[1]->values.size(); ++d) {
        int64_t v = int64_t(in[1]->values[d]);
        if (v == 0) v = in[0]->shape.at(d);
        if (v == -1) minus = int64_t(d);
        else known *= v;
        s.push_back(v);
      }
      if (minus >= 0) s[size_t(minus)] = in[0]->numel() / known;
      y.shape = s;
      if (y.numel() != in[0]->numel())
        throw DataError(fmt::format("{}: Reshape {} -> {}", file, shape_str(in[0]->shape), shape_str(s)));
      return y;
    }
    throw DataError(fmt::format("{}: op {} (domain '{}') is not supported by nemokd's ONNX executor", file, op,
                                n.domain()));
  }
};

OnnxExecutor::OnnxExecutor(const std::string& path) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.file = path;
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError(fmt::format("{}: cannot open", path));
  if (!m.model.ParseFromIstream(&f)) throw DataError(fmt::format("{}: not an ONNX protobuf file", path));
  const auto& g = m.model.graph();
  for (const auto& t : g.initializer()) m.constants[t.name()] = from_proto(t, path);
  for (const auto& vi : g.input()) {
    if (m.constants.count(vi.name())) continue;
    m.input = vi.name();
    for (const auto& d : vi.type().tensor_type().shape().dim()) m.input_shape.push_back(d.has_dim_value() ? d.dim_value() : 0);
    break;
  }
  if (m.input.empty()) throw DataError(fmt::format("{}: the graph has no input", path));
  if (g.output_size() < 1) throw DataError(fmt::format("{}: the graph has no output", path));
  m.output = g.output(0).name();
  // Fold the nodes whose inputs are all constant (weight quantizers) once.
  for (const auto& n : g.node()) {
    bool constant = true;
    for (const auto& i : n.input())
      if (!i.empty() && !m.constants.count(i)) constant = false;
    if (!constant) {
      m.nodes.push_back(&n);
      continue;
    }
    std::vector<const Tensor*> in;
    for (const auto& i : n.input()) in.push_back(i.empty() ? nullptr : &m.constants.at(i));
    m.constants[n.output(0)] = m.eval(n, in);
  }
}

OnnxExecutor::~OnnxExecutor() = default;
OnnxExecutor::OnnxExecutor(OnnxExecutor&&) noexcept = default;

ExecTensor OnnxExecutor::run(const ExecTensor& input) const {
  const auto& m = *impl_;
  if (input.numel() != int64_t(input.values.size()))
    throw Error(fmt::format("onnx executor: input shape {} holds {} values", shape_str(input.shape), input.values.size()));
  std::map<std::string, Tensor> values;
  values[m.input] = input;
  for (const auto* n : m.nodes) {
    std::vector<const Tensor*> in;
    for (const auto& i : n->input()) in.push_back(i.empty() ? nullptr : &m.value(values, i));
    values[n->output(0)] = m.eval(*n, in);
  }
  return m.value(values, m.output);
}

std::vector<int64_t> OnnxExecutor::input_shape() const { return impl_->input_shape; }
int64_t OnnxExecutor::quant_ties() const { return impl_->ties; }

}  // namespace nemokd::onnx_export
