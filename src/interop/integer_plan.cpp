#include "interop/integer_plan.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd::interop {

std::string OperandCode::describe() const {
  return base ? fmt::format("{}{:+d}", engine::describe(operand), base) : engine::describe(operand);
}

int64_t PlanAct::u_of(int64_t r) const {
  auto it = std::lower_bound(raw.begin(), raw.end(), r);
  if (it == raw.end() || *it != r) throw Error(fmt::format("interop: raw code {} is not a level", r));
  return u[size_t(it - raw.begin())];
}

namespace {

[[noreturn]] void blocked(const Stage& s, const std::string& why) {
  throw ConfigError(fmt::format("integer view: node '{}' ({}): {}", s.node, op_name(s.op), why));
}

bool elementwise_plain(const Op& op) { return !is_quantizer(op) && !std::holds_alternative<Linear>(op); }

int bit_length(int64_t v) {  // bits to hold 0..v
  int b = 0;
  while (v > 0) ++b, v >>= 1;
  return std::max(b, 1);
}

// Signed-ness of the slope of an elementwise stage at feature f (+1 non-decreasing, -1 non-increasing, 0 constant).
int slope_sign(const Op& op, int64_t f) {
  auto sign = [](float v) { return v > 0 ? 1 : v < 0 ? -1 : 0; };
  if (const auto* m = std::get_if<Mul>(&op)) return sign(m->c.at(f));
  if (const auto* d = std::get_if<Div>(&op)) return sign(d->c.at(f));
  if (const auto* q = std::get_if<Quant>(&op)) return sign(q->scale.at(f));  // raw code of x / scale
  return 1;  // Add, Relu, Tanh, Clip, BipolarQuant's and MultiThreshold's raw codes: non-decreasing
}

// Constants of an input-mapping stage must be the same for every pixel of a channel (the engine thresholds pixels
// per channel).
bool channel_uniform(const PerFeature& p, int64_t channels, int64_t ppc) {
  if (p.values.size() == 1) return true;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k = 1; k < ppc; ++k)
      if (p.values[size_t(c * ppc + k)] != p.values[size_t(c * ppc)]) return false;
  return true;
}
bool input_stage_uniform(const Op& op, int64_t channels, int64_t ppc) {
  if (const auto* m = std::get_if<Mul>(&op)) return channel_uniform(m->c, channels, ppc);
  if (const auto* a = std::get_if<Add>(&op)) return channel_uniform(a->c, channels, ppc);
  if (const auto* d = std::get_if<Div>(&op)) return channel_uniform(d->c, channels, ppc);
  if (const auto* q = std::get_if<Quant>(&op))
    return channel_uniform(q->scale, channels, ppc) && channel_uniform(q->zero_point, channels, ppc);
  if (const auto* b = std::get_if<BipolarQuant>(&op)) return channel_uniform(b->scale, channels, ppc);
  if (const auto* t = std::get_if<MultiThreshold>(&op)) {
    if (t->thresholds.size() == size_t(t->steps)) return true;
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 1; p < ppc; ++p)
        for (int64_t k = 0; k < t->steps; ++k)
          if (t->at(c * ppc + p, k) != t->at(c * ppc, k)) return false;
    return true;
  }
  return true;
}

// The quantizer at `q` and the stages after it up to the MatMul at `next`: its levels as integers u of one scale.
PlanAct plan_act(const Graph& g, size_t q, size_t next) {
  const Stage& qs = g.stages[q];
  if (std::holds_alternative<Trunc>(qs.op))
    blocked(qs, "Trunc between layers has no integer view (FINN reads Trunc only after average pooling)");
  for (size_t s = q + 1; s < next; ++s)
    if (!elementwise_plain(g.stages[s].op))
      blocked(g.stages[s], fmt::format("follows quantizer '{}' before the next MatMul; the integer engine needs one "
                                       "quantizer per layer",
                                       qs.node));
  PlanAct a;
  a.quant_stage = q;
  a.next_linear = next;
  if (const auto* quant = std::get_if<Quant>(&qs.op); quant && quant->bits > 8)
    blocked(qs, fmt::format("{} bits: the integer engine (like FINN's MultiThreshold) takes quantizers up to 8 bits",
                            quant->bits));
  if (const auto* t = std::get_if<MultiThreshold>(&qs.op); t && t->steps > 255)
    blocked(qs, fmt::format("{} thresholds: more than 8 bits", t->steps));
  a.raw = raw_levels(qs.op);
  if (a.raw.size() < 2) blocked(qs, "a quantizer with a single level");
  // Values of every level after the trailing stages, for every feature: they must not depend on the feature. When
  // every constant involved is one value for all features, feature 0 speaks for all.
  bool uniform = input_stage_uniform(qs.op, 1, qs.features);
  for (size_t s = q + 1; s < next; ++s) uniform = uniform && input_stage_uniform(g.stages[s].op, 1, g.stages[s].features);
  const int64_t features = uniform ? 1 : qs.features;
  std::vector<double> value(a.raw.size());
  for (size_t k = 0; k < a.raw.size(); ++k) {
    float v0 = 0;
    for (int64_t f = 0; f < features; ++f) {
      float v = dequantize(qs.op, f, a.raw[k]);
      for (size_t s = q + 1; s < next; ++s) v = apply(g.stages[s].op, f, v);
      if (f == 0) v0 = v;
      if (!(v == v0))
        blocked(qs, fmt::format("its levels differ between channels (a per-channel activation scale or bias before "
                                "MatMul '{}'); the engine folds one input scale per layer",
                                g.stages[next].node));
    }
    if (!std::isfinite(v0)) blocked(qs, "a level is not finite");
    value[k] = double(v0);
  }
  a.declared_bits = declared_bits(qs.op);
  a.thresholds = int64_t(a.raw.size()) - 1;
  if (value.size() == 2 && value[0] == -value[1] && value[0] != 0) {
    // Two levels symmetric around zero: bipolar.
    a.value_scale = std::fabs(value[0]);
    a.u = {value[0] < 0 ? -1 : 1, value[1] < 0 ? -1 : 1};
    a.u_direction = a.u[1] > a.u[0] ? 1 : -1;
    a.operand.operand = {engine::Encoding::bipolar, 1};
    a.declared_signed = true;
    return a;
  }
  const bool rising = value[1] > value[0];
  const double step = std::fabs(value[1] - value[0]);
  if (!(step > 0)) blocked(qs, "two levels have the same value");
  a.value_scale = step;
  a.u_direction = rising ? 1 : -1;
  for (size_t k = 0; k < value.size(); ++k) {
    const double u = value[k] / step;
    const double r = std::nearbyint(u);
    if (std::fabs(u - r) > 1e-4 * std::max(1.0, std::fabs(r)) || std::fabs(r) > 1e6)
      blocked(qs, fmt::format("its levels are not integer multiples of one step (level {} is {} steps of {})", k, u,
                              step));
    if (k > 0 && int64_t(r) - a.u.back() != (rising ? 1 : -1))
      blocked(qs, "its levels are not evenly spaced");
    a.u.push_back(int64_t(r));
  }
  const int64_t umin = *std::min_element(a.u.begin(), a.u.end()), umax = *std::max_element(a.u.begin(), a.u.end());
  a.declared_signed = umin < 0;
  if (umin >= 0 && umax <= 255) {
    a.operand.operand = {engine::Encoding::unsigned_int, bit_length(umax)};
    return a;
  }
  const int64_t m = std::max(std::abs(umin), std::abs(umax));
  int bits_signed = 2;
  while (bits_signed < 9 && (int64_t(1) << (bits_signed - 1)) - 1 < m) ++bits_signed;
  const int bits_offset = bit_length(umax - umin);
  if (bits_signed <= 8 && bits_signed <= bits_offset) {
    a.operand.operand = {engine::Encoding::signed_int, bits_signed};
  } else if (bits_offset <= 8) {
    a.operand.operand = {engine::Encoding::unsigned_int, bits_offset};
    a.operand.base = umin;
  } else {
    blocked(qs, fmt::format("levels {}..{} need more than 8 bits", umin, umax));
  }
  return a;
}

PlanLayer plan_layer(const Graph& g, size_t l, size_t post_end) {
  const Stage& ls = g.stages[l];
  const auto& lin = std::get<Linear>(ls.op);
  if (!lin.wq.integer) blocked(ls, fmt::format("no integer weights: {}", lin.wq.why_not));
  PlanLayer L;
  L.linear_stage = l;
  L.post_end = post_end;
  L.in = lin.in;
  L.out = lin.out;
  L.declared_weight_bits = lin.wq.bits;
  L.weight_signed = lin.wq.is_signed || lin.wq.bipolar;
  int32_t max_abs = 0;
  for (auto c : lin.wq.codes) max_abs = std::max(max_abs, c < 0 ? -c : c);
  if (lin.wq.bipolar) {
    L.weight = {{engine::Encoding::bipolar, 1}, 0};
  } else {
    int b = 2;
    while (b <= 8 && (int32_t(1) << (b - 1)) - 1 < max_abs) ++b;
    if (b > 8)
      blocked(ls, fmt::format("a weight is {} (beyond -127..127): the engine's int8 weights are narrow-range", max_abs));
    L.weight = {{engine::Encoding::signed_int, b}, 0};
  }
  L.weights.resize(size_t(L.out * L.in));
  L.rowsum.assign(size_t(L.out), 0);
  for (int64_t i = 0; i < L.in; ++i)
    for (int64_t o = 0; o < L.out; ++o) {
      const int32_t c = lin.wq.codes[size_t(i * L.out + o)];
      L.weights[size_t(o * L.in + i)] = int8_t(c);
      L.rowsum[size_t(o)] += c;
    }
  L.weight_scale.resize(size_t(L.out));
  for (int64_t o = 0; o < L.out; ++o)
    L.weight_scale[size_t(o)] = double(lin.wq.scale.size() == 1 ? lin.wq.scale[0] : lin.wq.scale[size_t(o)]);
  return L;
}

}  // namespace

IntegerPlan plan_integer(const Graph& g) {
  IntegerPlan p;
  if (g.input_dims.size() == 3) {
    p.channels = g.input_dims[0];
    p.pixels_per_channel = g.input_dims[1] * g.input_dims[2];
  } else {
    p.channels = 1;
    p.pixels_per_channel = g.features();
  }
  const auto& st = g.stages;
  std::vector<size_t> linears;
  for (size_t s = 0; s < st.size(); ++s)
    if (std::holds_alternative<Linear>(st[s].op)) linears.push_back(s);
  // Input: elementwise mapping, then the first quantizer (the last quantizer before the first MatMul).
  size_t q0 = st.size();
  for (size_t s = 0; s < linears[0]; ++s)
    if (is_quantizer(st[s].op)) q0 = s;
  if (q0 == st.size())
    blocked(st[linears[0]], "reads float values (no quantizer on the graph input); the integer engine needs a quantized "
                            "input");
  for (size_t s = 0; s < q0; ++s)
    if (is_quantizer(st[s].op))
      blocked(st[s], "the input passes two quantizers; the engine's input stage is one quantizer on the pixels");
  for (size_t s = 0; s <= q0; ++s)
    if (!input_stage_uniform(st[s].op, p.channels, p.pixels_per_channel))
      blocked(st[s], "its constants differ between pixels of one image channel; the engine's input thresholds are per "
                     "channel");
  p.acts.push_back(plan_act(g, q0, linears[0]));
  for (size_t k = 0; k < linears.size(); ++k) {
    const size_t l = linears[k];
    const bool last = k + 1 == linears.size();
    const size_t limit = last ? st.size() : linears[k + 1];
    size_t q = limit;
    for (size_t s = l + 1; s < limit; ++s)
      if (is_quantizer(st[s].op)) {
        q = s;
        break;
      }
    if (!last && q == limit)
      blocked(st[linears[k + 1]], fmt::format("follows MatMul '{}' with no quantizer between them", st[l].node));
    if (last && q != limit) blocked(st[q], "the output layer ends in a quantizer; the engine's logits are an affine map "
                                           "of the accumulator");
    for (size_t s = l + 1; s < q; ++s)
      if (!elementwise_plain(st[s].op)) blocked(st[s], "unexpected between a MatMul and its quantizer");
    PlanLayer L = plan_layer(g, l, q);
    const PlanAct in = p.acts.back();  // a copy: p.acts grows below
    L.is_output = last;
    if (last) {
      L.logit_scale.resize(size_t(L.out));
      L.logit_bias.resize(size_t(L.out));
      for (int64_t o = 0; o < L.out; ++o) {
        double a = in.value_scale * L.weight_scale[size_t(o)], b = 0;
        for (size_t s = l + 1; s < q; ++s) {
          const Op& op = st[s].op;
          if (const auto* m = std::get_if<Mul>(&op)) {
            a *= double(m->c.at(o));
            b *= double(m->c.at(o));
          } else if (const auto* ad = std::get_if<Add>(&op)) {
            b += double(ad->c.at(o));
          } else if (const auto* d = std::get_if<Div>(&op)) {
            a /= double(d->c.at(o));
            b /= double(d->c.at(o));
          } else {
            blocked(st[s], "after the last MatMul; the engine's logits are an affine map of the accumulator (Mul, Add, "
                           "Sub, Div, BatchNormalization only)");
          }
        }
        if (!std::isfinite(a) || !std::isfinite(b)) blocked(st[l], "its folded output scale or bias is not finite");
        L.logit_scale[size_t(o)] = a;
        L.logit_bias[size_t(o)] = b + a * double(in.operand.base) * double(L.rowsum[size_t(o)]);
      }
    } else {
      p.acts.push_back(plan_act(g, q, linears[k + 1]));
      const PlanAct& next = p.acts.back();
      L.direction.resize(size_t(L.out));
      for (int64_t o = 0; o < L.out; ++o) {
        const double s0 = in.value_scale * L.weight_scale[size_t(o)];
        int d = s0 > 0 ? 1 : s0 < 0 ? -1 : 0;
        for (size_t s = l + 1; s <= q; ++s) d *= slope_sign(st[s].op, o);
        L.direction[size_t(o)] = d * next.u_direction;
      }
    }
    p.layers.push_back(std::move(L));
  }
  // The engine's accumulators are int32.
  for (size_t l = 0; l < p.layers.size(); ++l)
    if (p.accumulator_bound(l) >= (int64_t(1) << 31) - 1)
      blocked(st[p.layers[l].linear_stage], "its accumulator range exceeds 32 bits");
  return p;
}

std::string integer_blocker(const Graph& g) {
  try {
    plan_integer(g);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

int32_t IntegerPlan::input_code(const Graph& g, int64_t channel, float x) const {
  const int64_t f = channel * pixels_per_channel;  // every pixel of a channel maps alike (checked by plan_integer)
  const PlanAct& a = acts[0];
  for (size_t s = 0; s < a.quant_stage; ++s) x = apply(g.stages[s].op, f, x);
  return a.operand.code(a.u_of(raw_code(g.stages[a.quant_stage].op, f, x)));
}

int32_t IntegerPlan::hidden_code(const Graph& g, size_t layer, int64_t o, int64_t acc) const {
  const PlanLayer& L = layers[layer];
  const PlanAct& in = acts[layer];
  const PlanAct& next = acts[layer + 1];
  const int64_t acc_u = acc + in.operand.base * L.rowsum[size_t(o)];
  float x = float(double(acc_u) * in.value_scale * L.weight_scale[size_t(o)]);
  for (size_t s = L.linear_stage + 1; s < next.quant_stage; ++s) x = apply(g.stages[s].op, o, x);
  return next.operand.code(next.u_of(raw_code(g.stages[next.quant_stage].op, o, x)));
}

int64_t IntegerPlan::accumulator_bound(size_t layer) const {
  const PlanLayer& L = layers[layer];
  return L.in * L.weight.max_abs_value() * acts[layer].operand.max_abs_value();
}

}  // namespace nemokd::interop
