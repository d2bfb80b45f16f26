#include "hw/fpga/cost_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"
#include "hw/fpga/calibration.h"

namespace nemokd::hw::fpga {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int ceil_log2(int64_t n) {
  int bits = 0;
  while ((int64_t(1) << bits) < n) ++bits;
  return bits;
}

template <typename E>
E parse_enum(const std::string& key, const std::string& text, const std::vector<std::pair<std::string, E>>& table) {
  std::vector<std::string> names;
  for (const auto& [name, value] : table) {
    if (name == text) return value;
    names.push_back(name);
  }
  throw ConfigError(fmt::format("{}: '{}' is not one of {}", key, text, fmt::join(names, ", ")));
}

const std::vector<std::pair<std::string, Formulas>> kFormulas = {{"legacy", Formulas::legacy},
                                                                 {"current", Formulas::current}};
const std::vector<std::pair<std::string, WeightMode>> kWeightModes = {
    {"embedded", WeightMode::embedded}, {"decoupled", WeightMode::decoupled}, {"external", WeightMode::external}};
const std::vector<std::pair<std::string, RamStyle>> kRamStyles = {{"auto", RamStyle::automatic},
                                                                  {"block", RamStyle::block},
                                                                  {"distributed", RamStyle::distributed},
                                                                  {"ultra", RamStyle::ultra}};
const std::vector<std::pair<std::string, Multipliers>> kMultipliers = {{"lut", Multipliers::lut},
                                                                       {"dsp", Multipliers::dsp}};
const std::vector<std::pair<std::string, ThresholdRam>> kThresholdRams = {{"distributed", ThresholdRam::distributed},
                                                                          {"block", ThresholdRam::block}};

template <typename E>
std::string name_of(E value, const std::vector<std::pair<std::string, E>>& table) {
  for (const auto& [name, v] : table)
    if (v == value) return name;
  return "?";
}

std::string divisor_list(int64_t n) {
  std::vector<std::string> out;
  for (int64_t d : divisors(n)) out.push_back(std::to_string(d));
  return fmt::format("{}", fmt::join(out, ", "));
}

// Weights stored in LUTRAM: FINN prices them with the c2 term and no BRAM.
bool weights_in_lutram(const MvauLayer& l, const CostOptions& o) {
  if (o.weight_mode == WeightMode::external) return false;
  if (o.ram_style == RamStyle::distributed) return true;
  return o.weight_mode == WeightMode::embedded && l.wmem() <= 128;
}

// BRAM18 of the weight memory: FINN's table by memory word width (identical in every version since v0.5b).
int64_t mvau_bram18(const MvauLayer& l, const CostOptions& o) {
  if (o.weight_mode == WeightMode::external || o.ram_style == RamStyle::distributed ||
      o.ram_style == RamStyle::ultra || (o.weight_mode == WeightMode::embedded && l.wmem() <= 128))
    return 0;
  const int64_t omega = l.wmem();
  const int64_t wm = int64_t(l.pe) * l.simd * l.wbits;
  if (wm == 1) return ceil_div(omega, 16384);
  if (wm == 2) return ceil_div(omega, 8192);
  if (wm <= 4) return ceil_div(omega, 4096) * ceil_div(wm, 4);
  if (wm <= 9) return ceil_div(omega, 2048) * ceil_div(wm, 9);
  if (wm <= 18 || omega > 512) return ceil_div(omega, 1024) * ceil_div(wm, 18);
  return ceil_div(omega, 512) * ceil_div(wm, 36);
}

int64_t mvau_uram(const MvauLayer& l, const CostOptions& o) {
  if (o.ram_style != RamStyle::ultra || o.weight_mode == WeightMode::external) return 0;
  const int64_t wm = int64_t(l.pe) * l.simd * l.wbits;
  return ceil_div(wm, 72) * ceil_div(l.wmem(), 4096);
}

// Accumulator width the formulas price.
int64_t mvau_acc_bits(const MvauLayer& l, const CostOptions& o) {
  if (o.formulas == Formulas::legacy) return l.wbits + l.abits + ceil_log2(l.mw);
  // Current: the smallest width that cannot overflow, capped by the accumulator type. nemokd runs no
  // accumulator-minimisation pass, so the type is FINN's default INT32.
  const double alpha = std::log2(double(l.mw)) + l.wbits + l.abits - 1 - (l.input_signed ? 1 : 0);
  const double need = std::ceil(alpha + std::log2(1.0 + std::pow(2.0, -alpha)) + 1.0);
  return std::min<int64_t>(32, int64_t(need));
}

int64_t mvau_lut(const MvauLayer& l, const CostOptions& o) {
  const int64_t P = l.pe, Q = l.simd, W = l.wbits, A = l.abits;
  const double c0 = 300, c1 = 1.1;
  const int64_t c2 = weights_in_lutram(l, o) ? P * Q * W * ceil_div(l.wmem(), 64) : 0;
  const int64_t mult = o.multipliers == Multipliers::dsp ? 0 : Q * (2 * ceil_div(W + A, 6) - 1) * (W + A);
  const int64_t addertree = (W + A) * (2 * Q - 1);
  const int64_t acc = mvau_acc_bits(l, o);
  int64_t thr = 0, comp = 0;
  const bool priced = o.formulas == Formulas::legacy || o.threshold_ram == ThresholdRam::distributed;
  if (l.has_activation() && priced) {
    thr = l.thresholds * acc * ceil_div(l.tmem(), 64);
    comp = l.thresholds * acc;
  }
  // Same evaluation order as FINN (c1 times the integer PE sum), so the float rounding matches its int().
  return int64_t(std::floor(c0 + c1 * double(P * (mult + addertree + acc + thr + comp)) + double(c2)));
}

int64_t mvau_dsp(const MvauLayer& l, const CostOptions& o) {
  if (o.multipliers != Multipliers::dsp) return 0;
  return int64_t(l.pe) * l.simd * ceil_div(l.wbits + l.abits, 48);
}

// A register slice on an AXI stream holds a data register and a skid register plus valid/ready state.
int64_t stream_ff(int64_t width) { return 2 * width + 2; }

// Structural flip-flop estimate of an MVAU (FINN has none). Counted registers, no fitted constants:
//   input stream slice (SIMD x A), the registered weight word (PE x SIMD x W; a second slice when weights
//   are streamed), one product register per multiplier (W + A bits), every adder-tree level registered
//   (level l holds ceil(SIMD / 2^l) sums of W + A + l bits, capped at the accumulator), the accumulators
//   (PE x acc), one result bit per threshold comparator, the output stream slice (PE x output bits, or the
//   accumulator without activation), and the NF/SF loop counters.
int64_t mvau_ff(const MvauLayer& l, const CostOptions& o) {
  const int64_t P = l.pe, Q = l.simd, W = l.wbits, A = l.abits;
  const int64_t acc = W + A + ceil_log2(l.mw);  // full-precision accumulator, independent of the formulas
  const int64_t out_bits = l.has_activation() ? l.obits : acc;
  int64_t ff = stream_ff(Q * A) + stream_ff(P * out_bits);
  ff += P * Q * W;                                                   // weight word at the multipliers
  if (o.weight_mode != WeightMode::embedded) ff += stream_ff(P * Q * W);  // streamed weights arrive via a slice
  ff += P * Q * (W + A);
  int64_t tree = 0;
  for (int64_t level = 1, width = Q; width > 1; ++level) {
    width = ceil_div(width, 2);
    tree += width * std::min(acc, W + A + level);
  }
  ff += P * tree;
  ff += P * acc;
  if (l.has_activation()) ff += P * l.thresholds;
  ff += ceil_log2(l.nf() + 1) + ceil_log2(l.sf() + 1);
  return ff;
}

// Same structure for a standalone thresholding unit: input slice, comparator results, output slice, counter.
int64_t threshold_ff(const ThresholdLayer& l) {
  const int64_t P = l.pe;
  return stream_ff(P * l.in_bits) + P * l.thresholds + stream_ff(P * l.out_bits) + ceil_log2(l.tmem() + 1);
}

// RAM word width FINN's sliding-window estimators assume for a buffer of this depth (18 Kb BRAM aspect ratios).
int64_t ram_width_for_depth(int64_t depth) {
  if (depth <= 512) return 36;
  if (depth <= 1024) return 18;
  if (depth <= 2048) return 9;
  if (depth <= 4096) return 4;
  if (depth <= 8192) return 2;
  return 1;
}

// RTL sliding-window unit (FINN v0.10+ ConvolutionInputGenerator_rtl, default implementation style): the
// buffer holds K-1 rows and K pixels of C/SIMD words; stride adds room for an earlier pre-load.
int64_t rtl_window_depth(const ConvWindow& w) {
  const int64_t cf = w.channels / w.simd, k = w.k, s = w.stride, width = w.padded();
  const int64_t min_size = ((k - 1) * width + (k - 1) + 1) * cf;
  return min_size + std::max<int64_t>(0, ((s - 1) - k * k) * cf) + std::max<int64_t>(0, ((s - 1) * width - k * k) * cf);
}

int64_t window_cycles(const ConvWindow& w, Formulas f) {
  const int64_t cf = w.channels / w.simd, k = w.k, s = w.stride, in = w.padded(), out = w.ofm();
  const int64_t write_block = out * k * k * cf, read_block = s * in * cf;
  // legacy (HLS unit): the first K rows are read before output starts; current (RTL unit): the minimal buffer.
  const int64_t fill = f == Formulas::legacy ? in * k * cf : ((k - 1) * in + (k - 1) + 1) * cf;
  return fill + out * std::max(write_block, read_block);
}

int64_t maxpool_cycles(const MaxPool& p, Formulas f) {
  const double in = double(p.ifm), k = double(p.k);
  // legacy: FINN v0.5b-v0.9 StreamingMaxPool_Batch, IFM * (IFM + IFM/K); current: IFM^2 * (1 + 1/K^2).
  return f == Formulas::legacy ? int64_t(in * (in + in / k)) : int64_t(in * in * (1 + 1 / (k * k)));
}

// Structural flip-flops of the units FINN prices without FFs: stream register slices in and out plus counters.
int64_t window_ff(const ConvWindow& w, int64_t depth) {
  return 2 * stream_ff(int64_t(w.simd) * w.bits) + 3 * ceil_log2(depth + 1);
}

double nan() { return std::numeric_limits<double>::quiet_NaN(); }

// A unit's cost with no resources priced yet (and no BRAM, so no efficiency).
LayerCost unit_cost(const std::string& name, const char* kind, int simd, int64_t cycles, const std::string& note = "") {
  LayerCost c;
  c.name = name;
  c.kind = kind;
  c.simd = simd;
  c.cycles = cycles;
  c.bram_efficiency = nan();
  c.note = note;
  return c;
}

nlohmann::json num_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

std::string to_string(Formulas f) { return name_of(f, kFormulas); }
std::string to_string(WeightMode m) { return name_of(m, kWeightModes); }
std::string to_string(RamStyle s) { return name_of(s, kRamStyles); }
std::string to_string(Multipliers m) { return name_of(m, kMultipliers); }
std::string to_string(ThresholdRam t) { return name_of(t, kThresholdRams); }
Formulas parse_formulas(const std::string& key, const std::string& t) { return parse_enum(key, t, kFormulas); }
WeightMode parse_weight_mode(const std::string& key, const std::string& t) { return parse_enum(key, t, kWeightModes); }
RamStyle parse_ram_style(const std::string& key, const std::string& t) { return parse_enum(key, t, kRamStyles); }
Multipliers parse_multipliers(const std::string& key, const std::string& t) { return parse_enum(key, t, kMultipliers); }
ThresholdRam parse_threshold_ram(const std::string& key, const std::string& t) {
  return parse_enum(key, t, kThresholdRams);
}

void CostOptions::validate() const {
  if (!(fclk_mhz > 0 && fclk_mhz <= 2000))
    throw ConfigError(fmt::format("fclk_mhz: {} is out of range (0, 2000]", fclk_mhz));
  // FINN only builds UltraRAM weight memories for streamed (decoupled) weights.
  if (ram_style == RamStyle::ultra && weight_mode != WeightMode::decoupled)
    throw ConfigError(fmt::format("ram_style: ultra needs weight_mode decoupled (got {})", to_string(weight_mode)));
}

nlohmann::json CostOptions::to_json() const {
  return {{"formulas", to_string(formulas)},         {"weight_mode", to_string(weight_mode)},
          {"ram_style", to_string(ram_style)},       {"multipliers", to_string(multipliers)},
          {"threshold_ram", to_string(threshold_ram)}, {"window_ram", to_string(window_ram)},
          {"fclk_mhz", fclk_mhz}};
}

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> lo, hi;
  for (int64_t d = 1; d * d <= n; ++d) {
    if (n % d) continue;
    lo.push_back(d);
    if (d != n / d) hi.push_back(n / d);
  }
  lo.insert(lo.end(), hi.rbegin(), hi.rend());
  return lo;
}

void MvauLayer::check_folding() const {
  if (mw <= 0 || mh <= 0) throw ConfigError(fmt::format("{}: matrix {}x{} is empty", name, mh, mw));
  if (window && (window->simd < 1 || window->channels % window->simd))
    throw ConfigError(fmt::format("{}: sliding-window SIMD {} does not divide its {} input channels; legal values: {}",
                                  name, window->simd, window->channels, divisor_list(window->channels)));
  if (pe < 1 || mh % pe)
    throw ConfigError(fmt::format("{}: PE {} does not divide MH {}; legal PE values: {}", name, pe, mh, divisor_list(mh)));
  if (simd < 1 || mw % simd)
    throw ConfigError(
        fmt::format("{}: SIMD {} does not divide MW {}; legal SIMD values: {}", name, simd, mw, divisor_list(mw)));
}

void ThresholdLayer::check_folding() const {
  if (pe < 1 || channels % pe)
    throw ConfigError(fmt::format("{}: PE {} does not divide its {} channels; legal PE values: {}", name, pe, channels,
                                  divisor_list(channels)));
}

void Design::check_folding() const {
  if (input) input->check_folding();
  for (const auto& l : layers) l.check_folding();
}

nlohmann::json MvauLayer::to_json() const {
  return {{"name", name},     {"mw", mw},     {"mh", mh},         {"vectors", vectors},
          {"wbits", wbits},   {"abits", abits}, {"obits", obits}, {"thresholds", thresholds},
          {"input_signed", input_signed}, {"mh_unpadded", mh_unpadded}, {"pe", pe}, {"simd", simd}, {"note", note},
          {"window", window ? window->to_json() : nlohmann::json(nullptr)},
          {"pool", pool ? pool->to_json() : nlohmann::json(nullptr)}};
}

nlohmann::json ConvWindow::to_json() const {
  return {{"channels", channels}, {"ifm", ifm}, {"k", k}, {"stride", stride}, {"pad", pad},
          {"bits", bits},         {"simd", simd}, {"ofm", ofm()}};
}

nlohmann::json MaxPool::to_json() const {
  return {{"channels", channels}, {"ifm", ifm}, {"k", k}, {"bits", bits}, {"ofm", ofm()}};
}

nlohmann::json ThresholdLayer::to_json() const {
  return {{"name", name},         {"channels", channels},     {"vectors", vectors}, {"in_bits", in_bits},
          {"out_bits", out_bits}, {"thresholds", thresholds}, {"pe", pe},           {"ram", to_string(ram)},
          {"note", note}};
}

nlohmann::json Design::to_json() const {
  nlohmann::json layers_j = nlohmann::json::array();
  for (const auto& l : layers) layers_j.push_back(l.to_json());
  return {{"input", input ? input->to_json() : nlohmann::json(nullptr)}, {"layers", layers_j}};
}

Resources& Resources::operator+=(const Resources& o) {
  lut += o.lut;
  ff += o.ff;
  bram18 += o.bram18;
  uram += o.uram;
  dsp += o.dsp;
  return *this;
}

nlohmann::json Resources::to_json() const {
  return {{"lut", lut}, {"ff", ff}, {"bram18", bram18}, {"uram", uram}, {"dsp", dsp}};
}

nlohmann::json LayerCost::to_json() const {
  auto j = res.to_json();
  j["name"] = name;
  j["kind"] = kind;
  j["pe"] = pe;
  j["simd"] = simd;
  j["cycles"] = cycles;
  j["bram_efficiency"] = num_or_null(bram_efficiency);
  j["note"] = note;
  return j;
}

nlohmann::json Estimate::to_json() const {
  nlohmann::json layers_j = nlohmann::json::array();
  for (const auto& l : layers) layers_j.push_back(l.to_json());
  auto j = fps.to_json();
  j.update({{"layers", layers_j},   {"total", total.to_json()}, {"max_cycles", max_cycles},
            {"critical_path", critical_path}, {"bottleneck", bottleneck}, {"fclk_mhz", fclk_mhz},
            {"latency_us", latency_us}});
  return j;
}

nlohmann::json Throughput::to_json() const {
  return {{"fps_estimated", estimated},
          {"fps_expected", expected},
          {"fps_expected_sd", expected_sd},
          {"fps_expected_basis", board_efficiency().basis()}};
}

Throughput throughput(double fclk_mhz, int64_t max_cycles) {
  Throughput t;
  if (max_cycles <= 0) return t;
  const auto& eff = board_efficiency();
  t.estimated = fclk_mhz * 1e6 / double(max_cycles);
  t.expected = t.estimated * eff.mean;
  t.expected_sd = t.estimated * eff.sd;
  return t;
}

LayerCost mvau_cost(const MvauLayer& l, const CostOptions& o) {
  l.check_folding();
  LayerCost c;
  c.name = l.name;
  c.kind = "mvau";
  c.pe = l.pe;
  c.simd = l.simd;
  c.cycles = l.cycles();
  c.res.lut = mvau_lut(l, o);
  c.res.ff = mvau_ff(l, o);
  c.res.bram18 = mvau_bram18(l, o);
  c.res.uram = mvau_uram(l, o);
  c.res.dsp = mvau_dsp(l, o);
  c.bram_efficiency = c.res.bram18 > 0 ? double(l.wbits) * double(l.mw) * double(l.mh) /
                                             (double(c.res.bram18) * 36.0 * 512.0)
                                       : nan();
  c.note = l.note;
  if (l.mh_unpadded > 0)
    c.note = fmt::format("MH padded {} -> {}{}{}", l.mh_unpadded, l.mh, l.note.empty() ? "" : "; ", l.note);
  return c;
}

LayerCost threshold_cost(const ThresholdLayer& l, const CostOptions& o) {
  l.check_folding();
  LayerCost c;
  c.name = l.name;
  c.kind = "thresholding";
  c.pe = l.pe;
  c.simd = 1;
  c.cycles = l.cycles();
  const int64_t P = l.pe, A = l.in_bits, tmem = l.tmem();
  c.res.lut = A * P;
  if (l.ram == ThresholdRam::distributed && tmem > 1) c.res.lut += P * A * ceil_div(tmem, 64);
  if (l.ram == ThresholdRam::block && tmem > 1) c.res.bram18 = ceil_div(A * P, 16) * ceil_div(tmem, 1024);
  c.res.ff = threshold_ff(l);
  c.bram_efficiency = nan();
  c.note = l.note;
  return c;
}

LayerCost window_cost(const std::string& name, const ConvWindow& w, const CostOptions& o) {
  LayerCost c = unit_cost(name, "swu", w.simd, window_cycles(w, o.formulas));
  const int64_t width_bits = int64_t(w.simd) * w.bits;
  const bool block = o.window_ram == RamStyle::block || o.window_ram == RamStyle::automatic;
  int64_t depth = 0;
  if (o.formulas == Formulas::legacy) {
    // FINN v0.5b-v0.9 ConvolutionInputGenerator (HLS): K + stride rows of IFM * C/SIMD words.
    depth = w.padded() * (w.channels / w.simd);
    const int64_t rows = w.k + w.stride;
    if (block) c.res.bram18 = rows * ceil_div(width_bits, ram_width_for_depth(depth));
    if (o.window_ram == RamStyle::ultra) c.res.uram = rows * ceil_div(width_bits, 64) * ceil_div(depth, 4096);
    c.res.lut = 300 + (o.window_ram == RamStyle::distributed ? rows * width_bits * ceil_div(depth, 64) : 0);
  } else {
    // FINN v0.10+ ConvolutionInputGenerator_rtl: one buffer of the minimal depth; BRAMs cascaded in depth.
    depth = rtl_window_depth(w);
    if (block) {
      const int64_t cascade_width = ceil_div(width_bits, ram_width_for_depth(depth));
      int64_t savings = 0;
      if (depth > 16384) savings = cascade_width - ceil_div(width_bits, ram_width_for_depth(depth % 16384));
      c.res.bram18 = ceil_div(depth, 16384) * cascade_width - savings;
    }
    if (o.window_ram == RamStyle::ultra) c.res.uram = ceil_div(depth, 4096) * ceil_div(width_bits, 72);
    c.res.lut = 300 + (o.window_ram == RamStyle::distributed ? width_bits * ceil_div(depth, 38) : 0);
  }
  c.res.ff = window_ff(w, depth);
  return c;
}

LayerCost fmpad_cost(const std::string& name, const ConvWindow& w, const CostOptions&) {
  LayerCost c = unit_cost(name, "fmpad", w.simd, (w.channels / w.simd) * w.padded() * w.padded(),
                          "FINN prices no LUT/BRAM for padding");
  // FINN has no resource estimator for FMPadding; its registers are counted like the other streaming units.
  c.res.ff = 2 * stream_ff(int64_t(w.simd) * w.bits) + 2 * ceil_log2(w.padded() + 1);
  return c;
}

LayerCost maxpool_cost(const std::string& name, const MaxPool& p, const CostOptions& o) {
  LayerCost c = unit_cost(name, "maxpool", 1, maxpool_cycles(p, o.formulas), "FINN prices no LUT/BRAM for max-pool");
  // FINN has no resource estimator for StreamingMaxPool; the stream carries all channels (a 2-D max-pool is
  // not folded), so its register slices are C x bits wide.
  c.res.ff = 2 * stream_ff(p.channels * p.bits) + 2 * ceil_log2(p.ifm + 1);
  return c;
}

std::vector<LayerCost> mvau_group_cost(const MvauLayer& l, const CostOptions& o) {
  std::vector<LayerCost> out;
  if (l.window) {
    if (l.window->pad > 0) out.push_back(fmpad_cost(l.name + ".pad", *l.window, o));
    out.push_back(window_cost(l.name + ".swu", *l.window, o));
  }
  out.push_back(mvau_cost(l, o));
  if (l.pool) out.push_back(maxpool_cost(l.name + ".pool", *l.pool, o));
  return out;
}

int64_t window_group_cycles(const ConvWindow& w, Formulas f) {
  const int64_t pad = w.pad > 0 ? (w.channels / w.simd) * w.padded() * w.padded() : 0;
  return std::max(window_cycles(w, f), pad);
}

int64_t max_cycles(const Design& d, const CostOptions& o) {
  int64_t m = d.input ? d.input->cycles() : 0;
  for (const auto& l : d.layers) {
    m = std::max(m, l.cycles());
    if (l.window) m = std::max(m, window_group_cycles(*l.window, o.formulas));
    if (l.pool) m = std::max(m, maxpool_cycles(*l.pool, o.formulas));
  }
  return m;
}

Estimate estimate(const Design& d, const CostOptions& o) {
  o.validate();
  if (d.layers.empty()) throw ConfigError("design: no layers to estimate");
  Estimate e;
  if (d.input) e.layers.push_back(threshold_cost(*d.input, o));
  for (const auto& l : d.layers)
    for (auto& c : mvau_group_cost(l, o)) e.layers.push_back(std::move(c));
  for (const auto& c : e.layers) {
    e.total += c.res;
    e.critical_path += c.cycles;
    if (c.cycles > e.max_cycles) {
      e.max_cycles = c.cycles;
      e.bottleneck = c.name;
    }
  }
  e.fclk_mhz = o.fclk_mhz;
  e.fps = throughput(o.fclk_mhz, e.max_cycles);
  e.latency_us = double(e.critical_path) / o.fclk_mhz;
  return e;
}

}  // namespace nemokd::hw::fpga
