#include "interop/graph.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd::interop {

bool parse_rounding(const std::string& name, Rounding* out) {
  std::string u = name;
  for (auto& ch : u) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  static const std::pair<const char*, Rounding> table[] = {
      {"ROUND", Rounding::half_even}, {"HALF_EVEN", Rounding::half_even}, {"HALF_UP", Rounding::half_up},
      {"HALF_DOWN", Rounding::half_down}, {"UP", Rounding::up}, {"DOWN", Rounding::down},
      {"CEIL", Rounding::ceil}, {"FLOOR", Rounding::floor}};
  for (const auto& [n, r] : table)
    if (u == n) {
      *out = r;
      return true;
    }
  return false;
}

const char* to_string(Rounding r) {
  switch (r) {
    case Rounding::half_even: return "ROUND";
    case Rounding::half_up: return "HALF_UP";
    case Rounding::half_down: return "HALF_DOWN";
    case Rounding::up: return "UP";
    case Rounding::down: return "DOWN";
    case Rounding::ceil: return "CEIL";
    case Rounding::floor: return "FLOOR";
  }
  return "?";
}

float round_integer(float y, Rounding r) {
  switch (r) {
    case Rounding::half_even: return std::nearbyint(y);  // default FE_TONEAREST: ties to even
    case Rounding::half_up: return std::round(y);        // C round(): ties away from zero
    case Rounding::half_down: {
      // |y| - floor(|y|) is exact in float, so the tie is seen as a tie.
      const float a = std::fabs(y), f = std::floor(a), r2 = a - f > 0.5f ? f + 1 : f;
      return std::signbit(y) ? -r2 : r2;
    }
    case Rounding::up: return std::signbit(y) ? -std::ceil(-y) : std::ceil(y);
    case Rounding::down: return std::trunc(y);
    case Rounding::ceil: return std::ceil(y);
    case Rounding::floor: return std::floor(y);
  }
  return y;
}

bool PerFeature::uniform() const {
  return std::all_of(values.begin(), values.end(), [&](float v) { return v == values[0] || (v != v && values[0] != values[0]); });
}

int64_t Quant::qmin() const {
  if (!is_signed) return 0;
  return -(int64_t(1) << (bits - 1)) + (narrow ? 1 : 0);
}
int64_t Quant::qmax() const {
  if (is_signed) return (int64_t(1) << (bits - 1)) - 1;
  return (int64_t(1) << bits) - (narrow ? 2 : 1);
}

const char* op_name(const Op& op) {
  static const char* names[] = {"Mul", "Add", "Div", "Relu", "Tanh", "Clip", "Quant", "BipolarQuant", "Trunc",
                                "MultiThreshold", "MatMul"};
  return names[op.index()];
}

bool is_quantizer(const Op& op) {
  return std::holds_alternative<Quant>(op) || std::holds_alternative<BipolarQuant>(op) ||
         std::holds_alternative<Trunc>(op) || std::holds_alternative<MultiThreshold>(op);
}

int64_t Graph::features() const {
  int64_t n = 1;
  for (auto d : input_dims) n *= d;
  return n;
}

std::vector<std::string> Graph::summary() const {
  std::vector<std::string> out;
  for (const auto& s : stages) {
    std::string line = op_name(s.op);
    if (const auto* q = std::get_if<Quant>(&s.op)) {
      line += fmt::format("({}b {}{} {}{})", q->bits, q->is_signed ? "signed" : "unsigned", q->narrow ? " narrow" : "",
                          to_string(q->rounding), q->scale.values.size() > 1 ? " per-channel scale" : "");
    } else if (const auto* t = std::get_if<MultiThreshold>(&s.op)) {
      line += fmt::format("({} steps{})", t->steps, t->out_dtype.empty() ? "" : " " + t->out_dtype);
    } else if (const auto* l = std::get_if<Linear>(&s.op)) {
      line += fmt::format(" {}x{}", l->in, l->out);
      if (l->wq.integer) line += fmt::format(" ({} {}b)", l->wq.origin, l->wq.bits);
    } else if (const auto* tr = std::get_if<Trunc>(&s.op)) {
      line += fmt::format("({}->{}b {})", tr->in_bits, tr->out_bits, to_string(tr->rounding));
    }
    out.push_back(line);
  }
  return out;
}

namespace {

float clamp_nan(float y, float lo, float hi) {
  // As qonnx: where(y > hi, hi, y), then where(y < lo, lo, y) — NaN passes through.
  if (y > hi) y = hi;
  if (y < lo) y = lo;
  return y;
}

}  // namespace

float quant_round(const Quant& q, float scale, float zero_point, float x) {
  float y = x / scale;
  y = y + zero_point;
  if (q.bipolar()) return y >= 0.0f ? 1.0f : -1.0f;
  return round_integer(clamp_nan(y, float(q.qmin()), float(q.qmax())), q.rounding);
}

namespace {

// Quant up to (not including) the rescale: the rounded, clamped y.
float quant_code(const Quant& q, int64_t f, float x) { return quant_round(q, q.scale.at(f), q.zero_point.at(f), x); }

int64_t threshold_count(const MultiThreshold& t, int64_t f, float x) {
  int64_t n = 0;
  for (int64_t k = 0; k < t.steps; ++k) n += x >= t.at(f, k);
  return n;
}

float trunc_apply(const Trunc& t, int64_t f, float x) {
  const float scale = t.scale.at(f), zp = t.zero_point.at(f);
  float y = x / scale;
  y = y + zp;
  y = std::nearbyint(y);
  if (t.version == 1) {
    y = y / float(std::ldexp(1.0, t.in_bits - t.out_bits));
    y = round_integer(y, t.rounding);
    y = y - zp;
    return y * scale;
  }
  const float out_scale = t.out_scale.at(f);
  const float trunc_scale = float(std::exp2(std::nearbyint(std::log2(double(out_scale) / double(scale)))));
  y = y / trunc_scale;
  Quant range;
  range.bits = t.out_bits;
  range.is_signed = t.is_signed;
  range.narrow = t.narrow;
  y = round_integer(clamp_nan(y, float(range.qmin()), float(range.qmax())), t.rounding);
  y = y - zp / trunc_scale;
  return y * out_scale;
}

template <class... Fs>
struct Overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overload(Fs...) -> Overload<Fs...>;

}  // namespace

float apply(const Op& op, int64_t f, float x) {
  return std::visit(
      Overload{[&](const Mul& m) { return x * m.c.at(f); },
               [&](const Add& a) { return x + a.c.at(f); },
               [&](const Div& d) { return x / d.c.at(f); },
               [&](const Relu&) { return x > 0.0f ? x : (x != x ? x : 0.0f); },
               [&](const Tanh&) { return float(std::tanh(double(x))); },
               [&](const Clip& c) { return clamp_nan(x, c.lo, c.hi); },
               [&](const Quant& q) { return (quant_code(q, f, x) - q.zero_point.at(f)) * q.scale.at(f); },
               [&](const BipolarQuant& b) { return (x >= 0.0f ? 1.0f : -1.0f) * b.scale.at(f); },
               [&](const Trunc& t) { return trunc_apply(t, f, x); },
               [&](const MultiThreshold& t) { return t.out_scale * float(threshold_count(t, f, x)) + t.out_bias; },
               [&](const Linear&) -> float { throw Error("interop: apply() on a MatMul stage"); }},
      op);
}

void apply_rows(const Op& op, float* x, int64_t rows, int64_t features) {
  if (std::holds_alternative<Linear>(op)) throw Error("interop: apply_rows() on a MatMul stage");
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t f = 0; f < features; ++f) x[r * features + f] = apply(op, f, x[r * features + f]);
}

int64_t raw_code(const Op& op, int64_t f, float x) {
  if (const auto* q = std::get_if<Quant>(&op)) {
    const float c = quant_code(*q, f, x);
    if (c != c) return q->qmin();  // NaN: no code; the lowest (only a NaN input gets here)
    return int64_t(c);
  }
  if (std::holds_alternative<BipolarQuant>(op)) return x >= 0.0f ? 1 : -1;
  if (const auto* t = std::get_if<MultiThreshold>(&op)) return threshold_count(*t, f, x);
  throw Error(fmt::format("interop: {} has no integer code", op_name(op)));
}

float dequantize(const Op& op, int64_t f, int64_t q) {
  if (const auto* qq = std::get_if<Quant>(&op)) return (float(q) - qq->zero_point.at(f)) * qq->scale.at(f);
  if (const auto* b = std::get_if<BipolarQuant>(&op)) return float(q) * b->scale.at(f);
  if (const auto* t = std::get_if<MultiThreshold>(&op)) return t->out_scale * float(q) + t->out_bias;
  throw Error(fmt::format("interop: {} has no integer code", op_name(op)));
}

std::vector<int64_t> raw_levels(const Op& op) {
  std::vector<int64_t> out;
  if (const auto* q = std::get_if<Quant>(&op)) {
    if (q->bipolar()) return {-1, 1};
    for (int64_t c = q->qmin(); c <= q->qmax(); ++c) out.push_back(c);
  } else if (std::holds_alternative<BipolarQuant>(op)) {
    out = {-1, 1};
  } else if (const auto* t = std::get_if<MultiThreshold>(&op)) {
    for (int64_t c = 0; c <= t->steps; ++c) out.push_back(c);
  } else {
    throw Error(fmt::format("interop: {} has no integer code", op_name(op)));
  }
  return out;
}

int declared_bits(const Op& op) {
  if (const auto* q = std::get_if<Quant>(&op)) return q->bits;
  if (std::holds_alternative<BipolarQuant>(op)) return 1;
  if (const auto* t = std::get_if<MultiThreshold>(&op)) {
    const auto& d = t->out_dtype;
    if (d == "BIPOLAR" || d == "BINARY") return 1;
    for (const char* p : {"UINT", "INT"})
      if (d.rfind(p, 0) == 0 && d.size() > std::string(p).size()) {
        try {
          return std::stoi(d.substr(std::string(p).size()));
        } catch (...) {
        }
      }
    int b = 1;
    while ((int64_t(1) << b) - 1 < t->steps) ++b;
    return b;
  }
  if (const auto* tr = std::get_if<Trunc>(&op)) return tr->out_bits;
  return 32;
}

}  // namespace nemokd::interop
