#include "interop/reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "core/error.h"

namespace nemokd::interop {

namespace {

using onnx::AttributeProto;
using onnx::NodeProto;
using onnx::TensorProto;

std::string dims_str(const std::vector<int64_t>& d) { return fmt::format("[{}]", fmt::join(d, ", ")); }

// What is known about the integers behind a constant that went through a weight quantizer; kept through
// layout-only folds (Transpose, Reshape, ...), dropped by arithmetic. w.codes holds one integer per element
// (q - zero_point; bipolar: -1 / +1), element_scale the scale of each element; w.scale is left empty.
struct QMeta {
  WeightQuant w;
  std::vector<float> element_scale;
};

struct Const {
  std::vector<int64_t> dims;
  std::vector<float> f;        // float32 values
  std::vector<int64_t> i;      // exact values of an integer tensor (empty otherwise)
  std::shared_ptr<const QMeta> q;
  std::string datatype;        // FINN data type annotation of the tensor it came from ("" if none)
  bool is_int_type = false;  // an integer tensor (shape arithmetic): `i` holds its values
  int64_t numel() const { return int64_t(f.size()); }
};

class Reader {
 public:
  Reader(std::string file, ReadLimits limits) : file_(std::move(file)), limits_(limits) {}
  Graph run(const onnx::ModelProto& model);

 private:
  std::string file_;
  ReadLimits limits_;
  mutable int64_t total_elements_ = 0;  // every value held, constants and per-feature expansions
  std::map<std::string, Const> consts_;
  std::map<std::string, std::string> datatypes_;  // quantization_annotation: tensor -> finn_datatype
  std::map<std::string, int64_t> opsets_;
  // The activation chain.
  std::string current_;
  std::vector<int64_t> dims_;  // full shape, batch first
  int64_t batch_ = 1;
  Graph g_;

  [[noreturn]] void fail(const std::string& msg) const { throw DataError(file_ + ": " + msg); }
  std::string where(const NodeProto& n) const {
    return fmt::format("node '{}' ({})", n.name().empty() ? (n.output_size() ? n.output(0) : std::string("?")) : n.name(),
                       n.op_type());
  }
  [[noreturn]] void fail(const NodeProto& n, const std::string& msg) const { fail(where(n) + ": " + msg); }

  int64_t checked_numel(const std::vector<int64_t>& dims, const std::string& what) const {
    int64_t n = 1;
    for (auto d : dims) {
      if (d < 0) fail(fmt::format("{} has a negative dimension {}", what, dims_str(dims)));
      if (d != 0 && n > limits_.max_tensor_elements / d)
        fail(fmt::format("{} is too large {} (more than {} values)", what, dims_str(dims), limits_.max_tensor_elements));
      n *= d;
    }
    return n;
  }
  void account(int64_t n, const std::string& what) const {
    total_elements_ += n;
    if (total_elements_ > limits_.max_total_elements)
      fail(fmt::format("{}: the constants hold more than {} values in all", what, limits_.max_total_elements));
  }

  Const from_tensor(const TensorProto& t, const std::string& what);
  const Const* constant(const std::string& name) const {
    auto it = consts_.find(name);
    return it == consts_.end() ? nullptr : &it->second;
  }
  const Const& need_const(const NodeProto& n, int k, const char* role) const;

  // attributes
  const AttributeProto* attr(const NodeProto& n, const std::string& name, AttributeProto::AttributeType type) const;
  int64_t attr_i(const NodeProto& n, const std::string& name, int64_t def) const;
  int64_t attr_i_required(const NodeProto& n, const std::string& name) const;
  float attr_f(const NodeProto& n, const std::string& name, float def) const;
  std::string attr_s(const NodeProto& n, const std::string& name, const std::string& def) const;
  std::vector<int64_t> attr_ints(const NodeProto& n, const std::string& name) const;
  Rounding rounding(const NodeProto& n, const char* def) const;

  // folding
  Const fold(const NodeProto& n, const std::vector<const Const*>& in);
  Const broadcast(const NodeProto& n, const Const& a, const Const& b, const std::function<float(float, float)>& fn);
  Const transpose(const NodeProto& n, const Const& a, std::vector<int64_t> perm);
  std::vector<int64_t> reshape_dims(const NodeProto& n, const std::vector<int64_t>& in, const Const& shape) const;
  Quant quant_attrs(const NodeProto& n) const;  // bits, signed, narrow, rounding (scale/zero point left empty)
  Const quant_const(const NodeProto& n, const std::vector<const Const*>& in);
  Const bipolar_const(const NodeProto& n, const std::vector<const Const*>& in);
  Const weight_const(const NodeProto& n, const Const& x, const Const& s, WeightQuant w,
                     const std::function<float(size_t, WeightQuant&)>& element);

  // the chain
  void dynamic(const NodeProto& n, const std::vector<const Const*>& in);
  PerFeature per_feature(const NodeProto& n, const Const& c, const char* role, int channel_axis = -1) const;
  void stage(const NodeProto& n, Op op) { g_.stages.push_back(Stage{n.name(), features(), std::move(op)}); }
  int64_t features() const {
    int64_t f = 1;
    for (size_t k = 1; k < dims_.size(); ++k) f *= dims_[k];
    return f;
  }
  void linear(const NodeProto& n, const Const& w, bool transpose_w, const std::string& weight_name);
  void check_standard_or_custom(const NodeProto& n, bool custom) const;
};

// ---- tensors ----
Const Reader::from_tensor(const TensorProto& t, const std::string& what) {
  if (t.data_location() == TensorProto::EXTERNAL || t.external_data_size() > 0)
    fail(fmt::format("{} keeps its data in an external file; save the model with all tensors inside it", what));
  if (t.has_segment()) fail(fmt::format("{} is a segment of a tensor; not supported", what));
  Const c;
  c.dims.assign(t.dims().begin(), t.dims().end());
  const int64_t n = checked_numel(c.dims, what);
  account(n, what);
  const std::string& raw = t.raw_data();
  auto count_mismatch = [&](int64_t have) {
    fail(fmt::format("{} has {} values for shape {}", what, have, dims_str(c.dims)));
  };
  // The values come as raw little-endian bytes of type T, or in the typed repeated field.
  auto read = [&](auto tag, const auto& typed, auto sink) {
    using T = decltype(tag);
    if (!raw.empty() || typed.size() == 0) {
      if (raw.size() != size_t(n) * sizeof(T)) count_mismatch(int64_t(raw.size() / sizeof(T)));
      for (int64_t k = 0; k < n; ++k) {
        T v;
        std::memcpy(&v, raw.data() + size_t(k) * sizeof(T), sizeof(T));
        sink(v);
      }
    } else {
      if (typed.size() != n) count_mismatch(typed.size());
      for (auto v : typed) sink(T(v));
    }
  };
  auto to_float = [&](auto v) { c.f.push_back(float(v)); };
  auto to_int = [&](auto v) { c.i.push_back(int64_t(v)); };
  c.f.reserve(size_t(n));
  c.is_int_type = true;
  switch (t.data_type()) {
    case TensorProto::FLOAT: c.is_int_type = false; read(float{}, t.float_data(), to_float); break;
    case TensorProto::DOUBLE: c.is_int_type = false; read(double{}, t.double_data(), to_float); break;
    case TensorProto::INT64: read(int64_t{}, t.int64_data(), to_int); break;
    case TensorProto::INT32: read(int32_t{}, t.int32_data(), to_int); break;
    case TensorProto::INT16: read(int16_t{}, t.int32_data(), to_int); break;
    case TensorProto::UINT16: read(uint16_t{}, t.int32_data(), to_int); break;
    case TensorProto::INT8: read(int8_t{}, t.int32_data(), to_int); break;
    case TensorProto::UINT8:
    case TensorProto::BOOL: read(uint8_t{}, t.int32_data(), to_int); break;
    default:
      fail(fmt::format("{} has data type {}, which nemokd does not read (float, double or integer tensors only)", what,
                       t.data_type()));
  }
  if (c.is_int_type)
    for (auto v : c.i) c.f.push_back(float(v));
  return c;
}

const Const& Reader::need_const(const NodeProto& n, int k, const char* role) const {
  if (k >= n.input_size() || n.input(k).empty()) fail(n, fmt::format("input {} ({}) is missing", k, role));
  const Const* c = constant(n.input(k));
  if (!c)
    fail(n, fmt::format("its {} ('{}') is computed at run time; nemokd needs it constant (an initializer)", role,
                        n.input(k)));
  return *c;
}

// ---- attributes ----
const AttributeProto* Reader::attr(const NodeProto& n, const std::string& name,
                                   AttributeProto::AttributeType type) const {
  for (const auto& a : n.attribute())
    if (a.name() == name) {
      if (a.type() != type && !(a.type() == AttributeProto::UNDEFINED && type != AttributeProto::UNDEFINED))
        fail(n, fmt::format("attribute '{}' has type {} (expected {})", name, int(a.type()), int(type)));
      return &a;
    }
  return nullptr;
}
int64_t Reader::attr_i(const NodeProto& n, const std::string& name, int64_t def) const {
  const auto* a = attr(n, name, AttributeProto::INT);
  return a ? a->i() : def;
}
int64_t Reader::attr_i_required(const NodeProto& n, const std::string& name) const {
  const auto* a = attr(n, name, AttributeProto::INT);
  if (!a) fail(n, fmt::format("attribute '{}' is missing (QONNX requires it)", name));
  return a->i();
}
float Reader::attr_f(const NodeProto& n, const std::string& name, float def) const {
  const auto* a = attr(n, name, AttributeProto::FLOAT);
  return a ? a->f() : def;
}
std::string Reader::attr_s(const NodeProto& n, const std::string& name, const std::string& def) const {
  const auto* a = attr(n, name, AttributeProto::STRING);
  return a ? a->s() : def;
}
std::vector<int64_t> Reader::attr_ints(const NodeProto& n, const std::string& name) const {
  const auto* a = attr(n, name, AttributeProto::INTS);
  if (!a) return {};
  if (a->ints_size() > 64) fail(n, fmt::format("attribute '{}' has {} values", name, a->ints_size()));
  return {a->ints().begin(), a->ints().end()};
}
Rounding Reader::rounding(const NodeProto& n, const char* def) const {
  const auto s = attr_s(n, "rounding_mode", def);
  Rounding r;
  if (!parse_rounding(s, &r))
    fail(n, fmt::format("rounding_mode '{}' is not a QONNX rounding mode (ROUND, HALF_EVEN, HALF_UP, HALF_DOWN, UP, "
                        "DOWN, CEIL, FLOOR)",
                        s.substr(0, 40)));
  return r;
}

// ---- folding constants ----
Const Reader::broadcast(const NodeProto& n, const Const& a, const Const& b, const std::function<float(float, float)>& fn) {
  const size_t r = std::max(a.dims.size(), b.dims.size());
  std::vector<int64_t> shape(r);
  for (size_t k = 0; k < r; ++k) {
    const int64_t da = k < r - a.dims.size() ? 1 : a.dims[k - (r - a.dims.size())];
    const int64_t db = k < r - b.dims.size() ? 1 : b.dims[k - (r - b.dims.size())];
    if (da != db && da != 1 && db != 1)
      fail(n, fmt::format("shapes {} and {} do not broadcast", dims_str(a.dims), dims_str(b.dims)));
    shape[k] = da == 1 ? db : da;
  }
  Const out;
  out.dims = shape;
  const int64_t total = checked_numel(shape, where(n));
  account(total, where(n));
  auto strides = [&](const std::vector<int64_t>& d) {
    std::vector<int64_t> st(r, 0);
    int64_t acc = 1;
    for (size_t k = d.size(); k-- > 0;) {
      st[k + (r - d.size())] = d[k] == 1 ? 0 : acc;
      acc *= d[k];
    }
    return st;
  };
  const auto sa = strides(a.dims), sb = strides(b.dims);
  out.f.resize(size_t(total));
  std::vector<int64_t> idx(r, 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t ia = 0, ib = 0;
    for (size_t k = 0; k < r; ++k) ia += idx[k] * sa[k], ib += idx[k] * sb[k];
    out.f[size_t(e)] = fn(a.f[size_t(ia)], b.f[size_t(ib)]);
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

Const Reader::transpose(const NodeProto& n, const Const& a, std::vector<int64_t> perm) {
  const size_t r = a.dims.size();
  if (perm.empty())
    for (size_t k = 0; k < r; ++k) perm.push_back(int64_t(r - 1 - k));
  std::vector<bool> seen(r, false);
  if (perm.size() != r) fail(n, fmt::format("perm {} for a tensor of rank {}", dims_str(perm), r));
  for (auto p : perm) {
    if (p < 0 || p >= int64_t(r) || seen[size_t(p)]) fail(n, fmt::format("perm {} is not a permutation", dims_str(perm)));
    seen[size_t(p)] = true;
  }
  Const out;
  out.datatype = a.datatype;
  for (auto p : perm) out.dims.push_back(a.dims[size_t(p)]);
  const int64_t total = a.numel();
  account(total * (a.q ? 3 : 1), where(n));
  std::vector<int64_t> in_strides(r, 1);
  for (size_t k = r; k-- > 1;) in_strides[k - 1] = in_strides[k] * a.dims[k];
  std::vector<int64_t> src(static_cast<size_t>(total));
  std::vector<int64_t> idx(r, 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t off = 0;
    for (size_t k = 0; k < r; ++k) off += idx[k] * in_strides[size_t(perm[k])];
    src[size_t(e)] = off;
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < out.dims[k]) break;
      idx[k] = 0;
    }
  }
  out.f.resize(size_t(total));
  for (int64_t e = 0; e < total; ++e) out.f[size_t(e)] = a.f[size_t(src[size_t(e)])];
  if (!a.i.empty()) {
    out.i.resize(size_t(total));
    for (int64_t e = 0; e < total; ++e) out.i[size_t(e)] = a.i[size_t(src[size_t(e)])];
    out.is_int_type = true;
  }
  if (a.q) {
    auto q = std::make_shared<QMeta>(*a.q);
    if (q->w.why_not.empty())
      for (int64_t e = 0; e < total; ++e) {
        q->w.codes[size_t(e)] = a.q->w.codes[size_t(src[size_t(e)])];
        q->element_scale[size_t(e)] = a.q->element_scale[size_t(src[size_t(e)])];
      }
    out.q = q;
  }
  return out;
}

std::vector<int64_t> Reader::reshape_dims(const NodeProto& n, const std::vector<int64_t>& in, const Const& shape) const {
  if (!shape.is_int_type) fail(n, "the target shape is not an integer tensor");
  if (shape.i.size() > 16) fail(n, fmt::format("target shape of rank {}", shape.i.size()));
  const bool allowzero = attr_i(n, "allowzero", 0) != 0;
  int64_t total = 1;
  for (auto d : in) total *= d;
  std::vector<int64_t> out;
  int64_t known = 1, infer = -1;
  for (size_t k = 0; k < shape.i.size(); ++k) {
    int64_t v = shape.i[k];
    if (v == 0 && !allowzero) {
      if (k >= in.size()) fail(n, fmt::format("target shape {} copies a dimension the input {} lacks", dims_str(shape.i), dims_str(in)));
      v = in[k];
    }
    if (v == -1) {
      if (infer >= 0) fail(n, "target shape has more than one -1");
      infer = int64_t(k);
      out.push_back(1);
      continue;
    }
    if (v < 0 || (v > 0 && known > limits_.max_tensor_elements / v))
      fail(n, fmt::format("bad target shape {}", dims_str(shape.i)));
    known *= v;
    out.push_back(v);
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0) fail(n, fmt::format("cannot reshape {} to {}", dims_str(in), dims_str(shape.i)));
    out[size_t(infer)] = total / known;
  } else if (known != total) {
    fail(n, fmt::format("cannot reshape {} to {}", dims_str(in), dims_str(shape.i)));
  }
  return out;
}

Quant Reader::quant_attrs(const NodeProto& n) const {
  Quant q;
  const Const& bits = need_const(n, 3, "bit width");
  if (bits.numel() != 1 || !(bits.f[0] >= 1 && bits.f[0] <= 24) || bits.f[0] != std::floor(bits.f[0]))
    fail(n, fmt::format("bit width must be one integer in 1..24 (got {} values{})", bits.numel(),
                        bits.numel() == 1 ? fmt::format(", {}", bits.f[0]) : ""));
  q.bits = int(bits.f[0]);
  q.is_signed = attr_i_required(n, "signed") != 0;
  q.narrow = attr_i_required(n, "narrow") != 0;
  q.rounding = rounding(n, "ROUND");
  if (!q.is_signed && q.narrow && q.bits == 1) fail(n, "an unsigned narrow 1-bit Quant has a single level");
  return q;
}

// Quant on constants: the folded values, plus the integers and scales behind them (a weight quantizer).
Const Reader::quant_const(const NodeProto& n, const std::vector<const Const*>& in) {
  if (in.empty() || !in[0]) fail(n, "input 0 is missing");
  const Quant q = quant_attrs(n);
  const Const& x = *in[0];
  const Const& scale = need_const(n, 1, "scale");
  const Const& zp = need_const(n, 2, "zero point");
  // scale and zero point broadcast against x (numpy rules), element by element.
  const Const s = broadcast(n, x, scale, [](float, float b) { return b; });
  const Const z = broadcast(n, x, zp, [](float, float b) { return b; });
  if (s.dims != x.dims || z.dims != x.dims)
    fail(n, fmt::format("scale {} or zero point {} broadcast beyond the weight {}", dims_str(scale.dims),
                        dims_str(zp.dims), dims_str(x.dims)));
  WeightQuant w;
  w.origin = "Quant";
  w.bits = q.bits;
  w.is_signed = q.is_signed;
  w.narrow = q.narrow;
  w.bipolar = q.bipolar();
  return weight_const(n, x, s, std::move(w), [&](size_t e, WeightQuant& wq) {
    const float code = quant_round(q, s.f[e], z.f[e], x.f[e]);
    const float integer = q.bipolar() ? code : code - z.f[e];
    if (wq.why_not.empty()) {
      if (integer != std::floor(integer) || std::fabs(integer) > float(1 << 24))
        wq.why_not = "its zero point is not an integer";
      else
        wq.codes[e] = int32_t(integer);
    }
    return (code - z.f[e]) * s.f[e];
  });
}

Const Reader::bipolar_const(const NodeProto& n, const std::vector<const Const*>& in) {
  if (in.empty() || !in[0]) fail(n, "input 0 is missing");
  const Const& x = *in[0];
  const Const& scale = need_const(n, 1, "scale");
  const Const s = broadcast(n, x, scale, [](float, float b) { return b; });
  if (s.dims != x.dims) fail(n, fmt::format("scale {} broadcasts beyond the weight {}", dims_str(scale.dims), dims_str(x.dims)));
  WeightQuant w;
  w.origin = "BipolarQuant";
  w.bits = 1;
  w.bipolar = true;
  return weight_const(n, x, s, std::move(w), [&](size_t e, WeightQuant& wq) {
    const int32_t c = x.f[e] >= 0.0f ? 1 : -1;
    wq.codes[e] = c;
    return float(c) * s.f[e];
  });
}

// A folded weight quantizer: `element(e, w)` gives element e's float value and sets its integer code in w.codes (or
// w.why_not); the per-element scales s travel with the codes for the engine. A zero or non-finite scale leaves the
// weights without an integer view.
Const Reader::weight_const(const NodeProto& n, const Const& x, const Const& s, WeightQuant w,
                           const std::function<float(size_t, WeightQuant&)>& element) {
  account(3 * x.numel(), where(n));
  Const out;
  out.dims = x.dims;
  out.f.resize(x.f.size());
  auto meta = std::make_shared<QMeta>();
  meta->w = std::move(w);
  meta->w.codes.resize(x.f.size());
  meta->element_scale = s.f;
  for (size_t e = 0; e < x.f.size(); ++e) {
    if (meta->w.why_not.empty() && !(s.f[e] != 0.0f && std::isfinite(s.f[e])))
      meta->w.why_not = "a weight scale is zero or not finite";
    out.f[e] = element(e, meta->w);
  }
  if (!meta->w.why_not.empty()) meta->w.codes.clear(), meta->element_scale.clear();
  out.q = meta;
  return out;
}

Const Reader::fold(const NodeProto& n, const std::vector<const Const*>& in) {
  const std::string& op = n.op_type();
  auto arg = [&](size_t k) -> const Const& {
    if (k >= in.size() || !in[k]) fail(n, fmt::format("input {} is missing", k));
    return *in[k];
  };
  auto same_layout = [&](const Const& a, std::vector<int64_t> dims) {
    account(a.numel(), where(n));
    Const out = a;
    if (checked_numel(dims, where(n)) != a.numel())
      fail(n, fmt::format("cannot reshape {} to {}", dims_str(a.dims), dims_str(dims)));
    out.dims = std::move(dims);
    return out;
  };
  if (op == "Identity" || op == "Dropout") {
    account(arg(0).numel(), where(n));
    return arg(0);
  }
  if (op == "Cast") {
    const int64_t to = attr_i(n, "to", 0);
    if (to != TensorProto::FLOAT && to != TensorProto::DOUBLE && to != TensorProto::INT64)
      fail(n, fmt::format("Cast to data type {} is not supported on constants", to));
    account(arg(0).numel(), where(n));
    Const out = arg(0);
    out.q.reset();
    if (to == TensorProto::INT64) {
      out.is_int_type = true;
      out.i.clear();
      for (float v : out.f) {
        if (!(std::fabs(v) < 9e15f)) fail(n, "Cast of a non-finite value to an integer");
        out.i.push_back(int64_t(std::trunc(v)));
      }
      out.f.clear();
      for (auto v : out.i) out.f.push_back(float(v));
    } else {
      out.is_int_type = false;
      out.i.clear();
    }
    return out;
  }
  if (op == "Transpose") return transpose(n, arg(0), attr_ints(n, "perm"));
  if (op == "Reshape") return same_layout(arg(0), reshape_dims(n, arg(0).dims, arg(1)));
  if (op == "Flatten") {
    const auto& a = arg(0);
    int64_t axis = attr_i(n, "axis", 1);
    const int64_t r = int64_t(a.dims.size());
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) fail(n, fmt::format("axis {} for rank {}", axis, r));
    int64_t outer = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= a.dims[size_t(k)];
    return same_layout(a, {outer, outer ? a.numel() / outer : 0});
  }
  if (op == "Squeeze" || op == "Unsqueeze") {
    const auto& a = arg(0);
    std::vector<int64_t> axes = attr_ints(n, "axes");
    if (in.size() > 1 && in[1]) axes = in[1]->i;
    std::vector<int64_t> dims = a.dims;
    if (op == "Squeeze") {
      const int64_t r = int64_t(dims.size());
      std::set<int64_t> drop;
      for (auto ax : axes) drop.insert(ax < 0 ? ax + r : ax);
      std::vector<int64_t> out;
      for (int64_t k = 0; k < r; ++k)
        if (!(axes.empty() ? dims[size_t(k)] == 1 : drop.count(k) > 0)) out.push_back(dims[size_t(k)]);
      return same_layout(a, out);
    }
    const int64_t r = int64_t(dims.size() + axes.size());
    std::set<int64_t> add;
    for (auto ax : axes) add.insert(ax < 0 ? ax + r : ax);
    std::vector<int64_t> out;
    size_t src = 0;
    for (int64_t k = 0; k < r; ++k) {
      if (add.count(k)) {
        out.push_back(1);
      } else {
        if (src >= dims.size()) fail(n, "bad axes");
        out.push_back(dims[src++]);
      }
    }
    return same_layout(a, out);
  }
  if (op == "Gather") {
    const auto& a = arg(0);
    const auto& idx = arg(1);
    if (attr_i(n, "axis", 0) != 0 || a.dims.size() != 1 || !idx.is_int_type || idx.dims.size() > 1)
      fail(n, "Gather on constants: only 1-D data, axis 0 and integer indices (shape arithmetic) are supported");
    Const out;
    out.dims = idx.dims;
    out.is_int_type = a.is_int_type;
    for (auto k : idx.i) {
      if (k < 0) k += a.numel();
      if (k < 0 || k >= a.numel()) fail(n, fmt::format("index {} out of range", k));
      out.f.push_back(a.f[size_t(k)]);
      if (a.is_int_type) out.i.push_back(a.i[size_t(k)]);
    }
    return out;
  }
  if (op == "Concat") {
    Const out;
    out.is_int_type = true;
    for (const auto* c : in) {
      if (!c || c->dims.size() > 1) fail(n, "Concat on constants: only 1-D tensors (shape arithmetic) are supported");
      out.is_int_type = out.is_int_type && c->is_int_type;
      out.f.insert(out.f.end(), c->f.begin(), c->f.end());
      out.i.insert(out.i.end(), c->i.begin(), c->i.end());
    }
    if (!out.is_int_type) out.i.clear();
    out.dims = {out.numel()};
    return out;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow") {
    const auto& a = arg(0);
    const auto& b = arg(1);
    const char k = op == "Pow" ? 'P' : op[0];
    // Pow: exponent 0.5 is a square root and 2 a product, as PyTorch computes them (TensorNorm's (var + eps)^0.5).
    Const out = broadcast(n, a, b, [k](float x, float y) -> float {
      switch (k) {
        case 'A': return x + y;
        case 'S': return x - y;
        case 'M': return x * y;
        case 'D': return x / y;
        default: return y == 0.5f ? std::sqrt(x) : y == 2.0f ? x * x : float(std::pow(double(x), double(y)));
      }
    });
    if (a.is_int_type && b.is_int_type && k != 'P' && k != 'D' &&
        std::all_of(out.f.begin(), out.f.end(), [](float v) { return std::fabs(v) < 9e15f; })) {
      out.is_int_type = true;
      for (float v : out.f) out.i.push_back(int64_t(v));
    }
    return out;
  }
  if (op == "Sqrt" || op == "Neg" || op == "Reciprocal" || op == "Relu") {
    account(arg(0).numel(), where(n));
    Const out = arg(0);
    out.q.reset();
    out.i.clear();
    out.is_int_type = false;
    for (auto& v : out.f)
      v = op == "Sqrt" ? std::sqrt(v) : op == "Neg" ? -v : op == "Relu" ? (v > 0 ? v : 0.0f) : 1.0f / v;
    return out;
  }
  if (op == "Quant") return quant_const(n, in);
  if (op == "BipolarQuant") return bipolar_const(n, in);
  fail(n, "folding this op on constants is not supported");
}

// ---- the activation chain ----
// A constant broadcast against the activation (numpy rules, the activation's shape unchanged), as one value per
// feature. channel_axis >= 0: a 1-D constant laid along that axis of the activation (BatchNormalization,
// MultiThreshold rows).
PerFeature Reader::per_feature(const NodeProto& n, const Const& c, const char* role, int channel_axis) const {
  PerFeature out;
  if (c.numel() == 1) {
    out.values = {c.f[0]};
    return out;
  }
  const size_t r = dims_.size();
  std::vector<int64_t> cd(r, 1);
  if (channel_axis >= 0) {
    if (c.dims.size() != 1 || size_t(channel_axis) >= r || c.dims[0] != dims_[size_t(channel_axis)])
      fail(n, fmt::format("{} of shape {} does not match the {} channels of the activation {}", role, dims_str(c.dims),
                          size_t(channel_axis) < r ? dims_[size_t(channel_axis)] : -1, dims_str(dims_)));
    cd[size_t(channel_axis)] = c.dims[0];
  } else {
    if (c.dims.size() > r) {
      for (size_t k = 0; k < c.dims.size() - r; ++k)
        if (c.dims[k] != 1) fail(n, fmt::format("{} of shape {} would broadcast the activation {}", role, dims_str(c.dims), dims_str(dims_)));
    }
    for (size_t k = 0; k < std::min(r, c.dims.size()); ++k) cd[r - 1 - k] = c.dims[c.dims.size() - 1 - k];
    for (size_t k = 0; k < r; ++k)
      if (cd[k] != 1 && cd[k] != dims_[k])
        fail(n, fmt::format("{} of shape {} does not broadcast to the activation {}", role, dims_str(c.dims), dims_str(dims_)));
    if (cd[0] != 1) fail(n, fmt::format("{} of shape {} varies along the batch dimension", role, dims_str(c.dims)));
  }
  const int64_t f_total = features();
  account(f_total, where(n));
  out.values.resize(size_t(f_total));
  std::vector<int64_t> cstride(r, 0);
  int64_t acc = 1;
  for (size_t k = r; k-- > 1;) {
    cstride[k] = cd[k] == 1 ? 0 : acc;
    acc *= cd[k];
  }
  std::vector<int64_t> idx(r, 0);
  for (int64_t f = 0; f < f_total; ++f) {
    int64_t off = 0;
    for (size_t k = 1; k < r; ++k) off += idx[k] * cstride[k];
    out.values[size_t(f)] = c.f[size_t(off)];
    for (size_t k = r; k-- > 1;) {
      if (++idx[k] < dims_[k]) break;
      idx[k] = 0;
    }
  }
  if (out.uniform()) out.values.resize(1);
  return out;
}

int finn_bits(const std::string& dt, bool* is_signed, bool* bipolar) {
  *bipolar = dt == "BIPOLAR";
  *is_signed = dt.rfind("INT", 0) == 0 || dt == "BIPOLAR" || dt == "TERNARY";
  if (dt == "BIPOLAR" || dt == "BINARY") return 1;
  if (dt == "TERNARY") return 2;
  for (const char* p : {"UINT", "INT"}) {
    const std::string pre(p);
    if (dt.rfind(pre, 0) == 0 && dt.size() > pre.size() && dt.size() <= pre.size() + 2 &&
        std::all_of(dt.begin() + long(pre.size()), dt.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return std::stoi(dt.substr(pre.size()));
  }
  return 0;
}

void Reader::linear(const NodeProto& n, const Const& w0, bool transpose_w, const std::string& weight_name) {
  if (dims_.size() != 2)
    fail(n, fmt::format("multiplies an activation of shape {}; nemokd imports MLPs (a Flatten/Reshape to [N, features] "
                        "first)",
                        dims_str(dims_)));
  const Const w = transpose_w ? transpose(n, w0, {1, 0}) : w0;
  if (w.dims.size() != 2 || w.dims[0] != dims_[1])
    fail(n, fmt::format("weight of shape {} does not multiply an activation of shape {}", dims_str(w.dims), dims_str(dims_)));
  Linear L;
  L.in = w.dims[0];
  L.out = w.dims[1];
  if (L.out < 1 || L.out > limits_.max_features) fail(n, fmt::format("{} outputs", L.out));
  L.weight = w.f;
  auto& wq = L.wq;
  if (w.q) {
    wq = w.q->w;
    if (wq.why_not.empty()) {
      const auto& es = w.q->element_scale;
      wq.integer = true;
      // One scale per output column (FINN moves it behind the MatMul), or one for all.
      wq.scale.assign(size_t(L.out), 0.0f);
      for (int64_t o = 0; o < L.out && wq.integer; ++o) {
        wq.scale[size_t(o)] = es[size_t(o)];
        for (int64_t i = 1; i < L.in; ++i)
          if (es[size_t(i * L.out + o)] != wq.scale[size_t(o)]) {
            wq.integer = false;
            wq.why_not = "its scale varies along the input dimension (only per-output-channel scales fold into the "
                         "accumulator)";
            break;
          }
      }
      PerFeature s{wq.scale};
      if (wq.integer && s.uniform()) wq.scale.resize(1);
      if (!wq.integer) wq.codes.clear(), wq.scale.clear();
    }
  } else {
    // A plain initializer: integers already (FINN's FoldQuantWeights), or float weights.
    wq.origin = "integer initializer";
    int32_t max_abs = 0;
    bool integral = true;
    for (float v : w.f) {
      if (!(v == std::floor(v)) || std::fabs(v) > 127.0f) {
        integral = false;
        break;
      }
      max_abs = std::max(max_abs, int32_t(std::fabs(v)));
    }
    if (integral && !w.f.empty()) {
      wq.integer = true;
      wq.codes.reserve(w.f.size());
      for (float v : w.f) wq.codes.push_back(int32_t(v));
      wq.scale = {1.0f};
      auto it = datatypes_.find(weight_name);
      bool s = true, bip = false;
      const int b = it == datatypes_.end() ? 0 : finn_bits(it->second, &s, &bip);
      if (b > 0) {
        wq.bits = b;
        wq.is_signed = s;
        wq.bipolar = bip;
        wq.narrow = false;
      } else {
        wq.bits = 2;
        while ((int32_t(1) << (wq.bits - 1)) - 1 < max_abs) ++wq.bits;
        wq.is_signed = wq.narrow = true;
      }
    } else {
      wq.origin = "float initializer";
      wq.why_not = "the weights are float (no Quant on them, not integers)";
    }
  }
  stage(n, std::move(L));
  dims_ = {dims_[0], w.dims[1]};
}

void Reader::check_standard_or_custom(const NodeProto& n, bool custom) const {
  const std::string& d = n.domain();
  const bool standard = d.empty() || d == "ai.onnx";
  const bool qonnx = d == "onnx.brevitas" || d == "qonnx.custom_op.general" || d == "finn.custom_op.general" ||
                     d == "finn";
  if (custom && !qonnx)
    fail(n, fmt::format("{} in domain '{}': nemokd reads it from the QONNX domains (qonnx.custom_op.general, "
                        "onnx.brevitas, finn.custom_op.general)",
                        n.op_type(), d));
  if (!custom && !standard)
    fail(n, fmt::format("op in domain '{}' is not supported", d));
}

void Reader::dynamic(const NodeProto& n, const std::vector<const Const*>& in) {
  const std::string& op = n.op_type();
  const bool custom_op = op == "Quant" || op == "BipolarQuant" || op == "Trunc" || op == "MultiThreshold";
  check_standard_or_custom(n, custom_op);
  // The activation must be input 0, except for commutative binary ops with a constant first.
  int dyn = -1;
  for (int k = 0; k < n.input_size(); ++k)
    if (!n.input(k).empty() && !in[size_t(k)]) {
      if (dyn >= 0)
        fail(n, "combines two activations (a branch or residual connection); nemokd imports MLP chains");
      dyn = k;
    }
  if (n.input(dyn) != current_)
    fail(n, fmt::format("reads the activation '{}', which already fed another node (a branch); nemokd imports MLP "
                        "chains",
                        n.input(dyn)));
  if (dyn != 0 && op != "Mul" && op != "Add" && op != "Sub" && op != "Div" && op != "MatMul")
    fail(n, "the activation is not its first input");
  if (n.output_size() < 1 || n.output(0).empty()) fail(n, "has no output");
  const std::string out_name = n.output(0);
  auto binary_const = [&]() -> const Const& {
    if (n.input_size() != 2 || !in[size_t(1 - dyn)]) fail(n, "needs two inputs");
    return *in[size_t(1 - dyn)];
  };
  if (op == "Identity" || op == "Dropout") {
    if (op == "Dropout" && n.input_size() > 2 && !n.input(2).empty()) {
      const Const& t = need_const(n, 2, "training_mode");
      if (t.numel() != 1 || t.f[0] != 0) fail(n, "Dropout in training mode");
    }
  } else if (op == "Cast") {
    if (attr_i(n, "to", 0) != TensorProto::FLOAT) fail(n, "casts the activation to a non-float type");
  } else if (op == "Reshape") {
    if (n.input_size() < 2 || !in[1]) fail(n, "the target shape is missing");
    auto d = reshape_dims(n, dims_, *in[1]);
    if (d.empty() || d[0] != batch_)
      fail(n, fmt::format("reshapes {} to {}, moving the batch dimension; only flattening is supported", dims_str(dims_),
                          dims_str(d)));
    dims_ = d;
  } else if (op == "Flatten") {
    int64_t axis = attr_i(n, "axis", 1);
    if (axis < 0) axis += int64_t(dims_.size());
    if (axis != 1 && !(axis == 0 && batch_ == 1)) fail(n, fmt::format("Flatten with axis {} (only 1)", axis));
    dims_ = {batch_, features()};
  } else if (op == "Mul" || op == "Add") {
    PerFeature c = per_feature(n, binary_const(), "constant operand");
    if (op == "Mul") stage(n, Mul{std::move(c)}); else stage(n, Add{std::move(c)});
  } else if (op == "Sub") {
    PerFeature c = per_feature(n, binary_const(), "constant operand");
    if (dyn == 0) {
      for (auto& v : c.values) v = -v;  // x - c == x + (-c) in IEEE arithmetic
      stage(n, Add{std::move(c)});
    } else {
      stage(n, Mul{PerFeature{{-1.0f}}});  // c - x == (-x) + c
      stage(n, Add{std::move(c)});
    }
  } else if (op == "Div") {
    if (dyn != 0) fail(n, "divides a constant by the activation; only activation / constant is supported");
    stage(n, Div{per_feature(n, binary_const(), "divisor")});
  } else if (op == "BatchNormalization") {
    if (attr_i(n, "training_mode", 0) != 0) fail(n, "BatchNormalization in training mode");
    if (n.output_size() > 1)
      for (int k = 1; k < n.output_size(); ++k)
        if (!n.output(k).empty()) fail(n, "BatchNormalization with running-statistics outputs (training mode)");
    if (dims_.size() < 2) fail(n, "BatchNormalization on a 1-D activation");
    const float eps = attr_f(n, "epsilon", 1e-5f);
    const Const& scale = need_const(n, 1, "scale");
    const Const& bias = need_const(n, 2, "bias");
    const Const& mean = need_const(n, 3, "mean");
    const Const& var = need_const(n, 4, "variance");
    // ONNX: (x - mean) / sqrt(var + eps) * scale + bias, each step in float32.
    Const minus_mean = mean, denom = var;
    for (auto& v : minus_mean.f) v = -v;
    for (auto& v : denom.f) v = std::sqrt(v + eps);
    stage(n, Add{per_feature(n, minus_mean, "mean", 1)});
    stage(n, Div{per_feature(n, denom, "variance", 1)});
    stage(n, Mul{per_feature(n, scale, "scale", 1)});
    stage(n, Add{per_feature(n, bias, "bias", 1)});
  } else if (op == "Relu") {
    stage(n, Relu{});
  } else if (op == "Tanh") {
    stage(n, Tanh{});
  } else if (op == "Clip") {
    float lo = -INFINITY, hi = INFINITY;
    if (n.input_size() > 1 && !n.input(1).empty()) {
      const Const& c = need_const(n, 1, "min");
      if (c.numel() != 1) fail(n, "min is not a scalar");
      lo = c.f[0];
    }
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const Const& c = need_const(n, 2, "max");
      if (c.numel() != 1) fail(n, "max is not a scalar");
      hi = c.f[0];
    }
    lo = attr_f(n, "min", lo);
    hi = attr_f(n, "max", hi);
    stage(n, Clip{lo, hi});
  } else if (op == "Quant") {
    Quant q = quant_attrs(n);
    q.scale = per_feature(n, need_const(n, 1, "scale"), "scale");
    q.zero_point = per_feature(n, need_const(n, 2, "zero point"), "zero point");
    stage(n, std::move(q));
  } else if (op == "BipolarQuant") {
    stage(n, BipolarQuant{per_feature(n, need_const(n, 1, "scale"), "scale")});
  } else if (op == "Trunc") {
    Trunc t;
    const bool v2 = n.input_size() == 6;
    if (n.input_size() != 5 && !v2) fail(n, fmt::format("Trunc with {} inputs (5 in version 1, 6 in version 2)", n.input_size()));
    t.version = v2 ? 2 : 1;
    t.scale = per_feature(n, need_const(n, 1, "scale"), "scale");
    t.zero_point = per_feature(n, need_const(n, 2, "zero point"), "zero point");
    const Const& ib = need_const(n, 3, "input bit width");
    const Const& ob = need_const(n, v2 ? 5 : 4, "output bit width");
    for (const Const* b : {&ib, &ob})
      if (b->numel() != 1 || !(b->f[0] >= 1 && b->f[0] <= 32) || b->f[0] != std::floor(b->f[0]))
        fail(n, "bit widths must be single integers in 1..32");
    t.in_bits = int(ib.f[0]);
    t.out_bits = int(ob.f[0]);
    if (v2) {
      t.out_scale = per_feature(n, need_const(n, 4, "output scale"), "output scale");
      t.is_signed = attr_i(n, "signed", 1) != 0;
      t.narrow = attr_i(n, "narrow", 0) != 0;
    }
    t.rounding = rounding(n, "FLOOR");
    stage(n, std::move(t));
  } else if (op == "MultiThreshold") {
    MultiThreshold t;
    const Const& th = need_const(n, 1, "thresholds");
    if (th.dims.size() != 2 || th.dims[1] < 1 || th.dims[1] > 65535)
      fail(n, fmt::format("thresholds of shape {} (expected [channels or 1, steps])", dims_str(th.dims)));
    const std::string layout = attr_s(n, "data_layout", "NCHW");
    const int axis = !layout.empty() && layout.back() == 'C' ? int(dims_.size()) - 1 : 1;
    t.steps = th.dims[1];
    t.out_scale = attr_f(n, "out_scale", 1.0f);
    t.out_bias = attr_f(n, "out_bias", 0.0f);
    t.out_dtype = attr_s(n, "out_dtype", "");
    if (th.dims[0] == 1) {
      t.thresholds = th.f;
    } else {
      if (features() > limits_.max_tensor_elements / t.steps)
        fail(n, fmt::format("{} thresholds for each of {} features is too many", t.steps, features()));
      account(features() * t.steps, where(n));
      // One row per channel along `axis`, spread to one row per feature.
      t.thresholds.resize(size_t(features() * t.steps));
      for (int64_t k = 0; k < t.steps; ++k) {
        Const column;
        column.dims = {th.dims[0]};
        for (int64_t c = 0; c < th.dims[0]; ++c) column.f.push_back(th.f[size_t(c * t.steps + k)]);
        PerFeature pf = per_feature(n, column, "thresholds", axis);
        for (int64_t f = 0; f < features(); ++f) t.thresholds[size_t(f * t.steps + k)] = pf.at(f);
      }
    }
    stage(n, std::move(t));
  } else if (op == "MatMul") {
    if (dyn != 0) fail(n, "multiplies a constant by the activation (W x); nemokd reads x W");
    linear(n, need_const(n, 1, "weight"), false, n.input(1));
  } else if (op == "Gemm") {
    if (attr_i(n, "transA", 0) != 0) fail(n, "Gemm with transA");
    linear(n, need_const(n, 1, "weight B"), attr_i(n, "transB", 0) != 0, n.input(1));
    const float alpha = attr_f(n, "alpha", 1.0f), beta = attr_f(n, "beta", 1.0f);
    if (alpha != 1.0f) stage(n, Mul{PerFeature{{alpha}}});
    if (n.input_size() > 2 && !n.input(2).empty()) {
      Const c = need_const(n, 2, "bias C");
      for (auto& v : c.f) v = beta * v;
      stage(n, Add{per_feature(n, c, "bias C")});
    }
  } else if (op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "Pad") {
    fail(n, "convolutional layers are not imported yet (nemokd imports MLPs; CNN import needs nemokd's quantized CNN "
            "family)");
  } else if (op == "Softmax" || op == "LogSoftmax") {
    fail(n, "the graph ends in a softmax; export the logits (nemokd's models output logits)");
  } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    fail(n, "QCDQ quantization (QuantizeLinear/DequantizeLinear) is not read: FINN's front end takes QONNX Quant "
            "nodes; convert first (qonnx's QCDQToQuant, `qonnx convert`)");
  } else {
    fail(n, fmt::format("op {} (domain '{}') is not supported; nemokd imports MLP chains of MatMul/Gemm, "
                        "BatchNormalization, Mul/Add/Sub/Div by constants, Relu, Tanh, Clip, Reshape/Flatten and the "
                        "QONNX ops Quant, BipolarQuant, Trunc, MultiThreshold",
                        op, n.domain()));
  }
  if (features() > limits_.max_features) fail(n, fmt::format("activation of shape {} is too wide", dims_str(dims_)));
  current_ = out_name;
}

Graph Reader::run(const onnx::ModelProto& model) {
  if (!model.has_graph()) fail("no graph (is it an ONNX model file?)");
  const auto& graph = model.graph();
  g_.file = file_;
  g_.producer = model.producer_name() + (model.producer_version().empty() ? "" : " " + model.producer_version());
  for (const auto& o : model.opset_import()) {
    g_.opsets.emplace_back(o.domain(), o.version());
    opsets_[o.domain()] = o.version();
  }
  if (graph.node_size() > limits_.max_nodes) fail(fmt::format("{} nodes (more than {})", graph.node_size(), limits_.max_nodes));
  for (const auto& a : graph.quantization_annotation())
    for (const auto& kv : a.quant_parameter_tensor_names())
      if (kv.key() == "finn_datatype") datatypes_[a.tensor_name()] = kv.value();
  for (const auto& t : graph.initializer()) {
    if (t.name().empty()) fail("an initializer has no name");
    if (consts_.count(t.name())) fail(fmt::format("initializer '{}' is defined twice", t.name()));
    Const c = from_tensor(t, fmt::format("initializer '{}'", t.name()));
    if (auto it = datatypes_.find(t.name()); it != datatypes_.end()) c.datatype = it->second;
    consts_.emplace(t.name(), std::move(c));
  }
  if (graph.sparse_initializer_size() > 0) fail("sparse initializers are not supported");
  // The image input: the one graph input that is not an initializer (Brevitas lists every initializer as an input).
  const onnx::ValueInfoProto* input = nullptr;
  for (const auto& vi : graph.input()) {
    if (consts_.count(vi.name())) continue;
    if (input) fail(fmt::format("the graph has more than one input ('{}', '{}'); nemokd models take one image", input->name(), vi.name()));
    input = &vi;
  }
  if (!input) fail("the graph has no input");
  if (graph.output_size() != 1) fail(fmt::format("the graph has {} outputs; nemokd models have one (the logits)", graph.output_size()));
  const auto& tt = input->type().tensor_type();
  if (!input->type().has_tensor_type() || tt.elem_type() != TensorProto::FLOAT)
    fail(fmt::format("input '{}' is not a float tensor", input->name()));
  const auto& shape = tt.shape().dim();
  if (shape.size() < 2 || shape.size() > 4)
    fail(fmt::format("input '{}' has rank {}; expected [N, C, H, W] or [N, features]", input->name(), shape.size()));
  for (int k = 0; k < shape.size(); ++k) {
    const auto& d = shape[k];
    if (k == 0) {
      batch_ = d.has_dim_value() && d.dim_value() > 0 ? d.dim_value() : 1;
      if (batch_ > 65536) fail(fmt::format("input batch dimension {}", batch_));
      continue;
    }
    if (!d.has_dim_value() || d.dim_value() <= 0 || d.dim_value() > limits_.max_features)
      fail(fmt::format("input '{}' dimension {} is {}; nemokd needs a fixed image shape", input->name(), k,
                       d.has_dim_value() ? std::to_string(d.dim_value()) : "'" + d.dim_param() + "'"));
    g_.input_dims.push_back(d.dim_value());
  }
  dims_ = {batch_};
  dims_.insert(dims_.end(), g_.input_dims.begin(), g_.input_dims.end());
  if (features() > limits_.max_features) fail(fmt::format("input shape {} is too large", dims_str(dims_)));
  current_ = input->name();
  const std::string output = graph.output(0).name();

  // Producers, checked: every name defined once; every input defined somewhere.
  const int nn = graph.node_size();
  std::map<std::string, int> producer;
  for (int k = 0; k < nn; ++k)
    for (const auto& o : graph.node(k).output()) {
      if (o.empty()) continue;
      if (consts_.count(o) || o == current_ || producer.count(o))
        fail(where(graph.node(k)) + fmt::format(": output '{}' is defined more than once", o));
      producer[o] = k;
    }
  if (!producer.count(output) && output != current_ && !consts_.count(output))
    fail(fmt::format("the graph output '{}' is not computed by any node", output));
  // Only what the output depends on matters (dead nodes are ignored); a cycle among those is an error.
  std::vector<int> needed_order;
  {
    std::vector<int> state(size_t(nn), 0);  // 0 new, 1 on the stack, 2 done
    std::vector<std::pair<int, int>> stack;  // (node, next input)
    auto push = [&](const std::string& name, const NodeProto* from) {
      if (name.empty() || consts_.count(name) || name == current_) return;
      auto it = producer.find(name);
      if (it == producer.end())
        fail((from ? where(*from) + ": " : std::string()) +
             fmt::format("reads '{}', which no node, initializer or graph input provides", name));
      const int k = it->second;
      if (state[size_t(k)] == 1) fail(where(graph.node(k)) + ": the graph has a cycle through this node");
      if (state[size_t(k)] == 0) {
        state[size_t(k)] = 1;
        stack.emplace_back(k, 0);
      }
    };
    push(output, nullptr);
    while (!stack.empty()) {
      auto& [k, next] = stack.back();
      const auto& node = graph.node(k);
      if (next < node.input_size()) {
        const std::string& name = node.input(next++);
        push(name, &node);
        continue;
      }
      state[size_t(k)] = 2;
      needed_order.push_back(k);
      stack.pop_back();
    }
  }
  // Nodes in dependency order: constants fold, the chain becomes stages.
  std::set<std::string> dynamic_names = {current_};
  for (int k : needed_order) {
    const auto& node = graph.node(k);
    std::vector<const Const*> in;
    bool any_dynamic = false;
    for (const auto& name : node.input()) {
      if (name.empty()) {
        in.push_back(nullptr);
        continue;
      }
      if (dynamic_names.count(name)) {
        any_dynamic = true;
        in.push_back(nullptr);
      } else {
        in.push_back(constant(name));
        if (!in.back()) fail(where(node) + fmt::format(": reads '{}', which is not computed yet", name));
      }
    }
    if (node.op_type() == "Constant") {
      if (node.output_size() != 1) fail(node, "Constant with several outputs");
      Const c;
      if (const auto* a = attr(node, "value", AttributeProto::TENSOR)) {
        c = from_tensor(a->t(), where(node));
      } else if (const auto* f = attr(node, "value_float", AttributeProto::FLOAT)) {
        c.f = {f->f()};
      } else if (const auto* i = attr(node, "value_int", AttributeProto::INT)) {
        c.is_int_type = true;
        c.i = {i->i()};
        c.f = {float(i->i())};
      } else if (const auto* is = attr(node, "value_ints", AttributeProto::INTS)) {
        if (is->ints_size() > 64) fail(node, "value_ints too long");
        c.is_int_type = true;
        c.i.assign(is->ints().begin(), is->ints().end());
        for (auto v : c.i) c.f.push_back(float(v));
        c.dims = {int64_t(c.i.size())};
      } else if (const auto* fs = attr(node, "value_floats", AttributeProto::FLOATS)) {
        if (fs->floats_size() > (1 << 20)) fail(node, "value_floats too long");
        c.f.assign(fs->floats().begin(), fs->floats().end());
        c.dims = {int64_t(c.f.size())};
      } else {
        fail(node, "Constant without a supported value attribute");
      }
      consts_[node.output(0)] = std::move(c);
      continue;
    }
    if (node.op_type() == "Shape" && any_dynamic) {
      // The activation's shape is known: Shape of it is a constant (the shape arithmetic of x.view(N, -1)).
      if (node.input(0) != current_) fail(node, "Shape of an earlier activation");
      Const c;
      c.is_int_type = true;
      c.i = dims_;
      for (auto v : c.i) c.f.push_back(float(v));
      c.dims = {int64_t(c.i.size())};
      consts_[node.output(0)] = std::move(c);
      continue;
    }
    if (!any_dynamic) {
      if (node.output_size() < 1 || node.output(0).empty()) fail(node, "has no output");
      Const c = fold(node, in);
      if (auto it = datatypes_.find(node.output(0)); it != datatypes_.end()) c.datatype = it->second;
      consts_[node.output(0)] = std::move(c);
      continue;
    }
    dynamic(node, in);
    dynamic_names.insert(node.output(0));
    for (int o = 1; o < node.output_size(); ++o)
      if (!node.output(o).empty()) dynamic_names.insert(node.output(o));  // unused extra outputs (Dropout's mask)
  }
  if (current_ != output)
    fail(fmt::format("the graph output '{}' is not the end of the activation chain ('{}')", output, current_));
  if (dims_.size() != 2)
    fail(fmt::format("the output has shape {}; expected [N, classes] logits", dims_str(dims_)));
  g_.classes = dims_[1];
  if (g_.classes < 2) fail(fmt::format("the output has {} classes", g_.classes));
  bool any_linear = false;
  for (const auto& s : g_.stages) any_linear = any_linear || std::holds_alternative<Linear>(s.op);
  if (!any_linear) fail("the graph has no MatMul/Gemm layer");
  return std::move(g_);
}

}  // namespace

Graph parse_qonnx(const void* data, size_t size, const std::string& name, const ReadLimits& limits) {
  onnx::ModelProto model;
  if (size > size_t(INT32_MAX) || !model.ParseFromArray(data, int(size)))
    throw DataError(fmt::format("{}: not an ONNX model (the protobuf does not parse: truncated or another format)", name));
  return Reader(name, limits).run(model);
}

Graph read_qonnx(const std::string& path, const ReadLimits& limits) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError(fmt::format("{}: cannot open", path));
  std::ostringstream buf;
  buf << f.rdbuf();
  const std::string bytes = buf.str();
  return parse_qonnx(bytes.data(), bytes.size(), path, limits);
}

}  // namespace nemokd::interop
