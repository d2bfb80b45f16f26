#include "engine/integer_model.h"

#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd::engine {

const char* to_string(Encoding e) {
  switch (e) {
    case Encoding::bipolar: return "bipolar";
    case Encoding::unsigned_int: return "unsigned";
    case Encoding::signed_int: return "signed";
  }
  return "?";
}

int32_t Operand::min_value() const {
  switch (encoding) {
    case Encoding::bipolar: return -1;
    case Encoding::unsigned_int: return 0;
    case Encoding::signed_int: return -((int32_t(1) << (bits - 1)) - 1);
  }
  return 0;
}

int32_t Operand::max_value() const {
  switch (encoding) {
    case Encoding::bipolar: return 1;
    case Encoding::unsigned_int: return (int32_t(1) << bits) - 1;
    case Encoding::signed_int: return (int32_t(1) << (bits - 1)) - 1;
  }
  return 0;
}

int32_t Operand::min_code() const { return encoding == Encoding::bipolar ? 0 : min_value(); }

int32_t Operand::levels() const { return encoding == Encoding::bipolar ? 2 : max_value() - min_value() + 1; }

std::string describe(const Operand& o) {
  switch (o.encoding) {
    case Encoding::bipolar: return "bipolar";
    case Encoding::unsigned_int: return fmt::format("u{}", o.bits);
    case Encoding::signed_int: return fmt::format("s{}", o.bits);
  }
  return "?";
}

std::string describe(const MapShape& s) { return fmt::format("{}x{}x{}", s.channels, s.height, s.width); }

const char* to_string(LayerKind k) {
  switch (k) {
    case LayerKind::dense: return "dense";
    case LayerKind::conv: return "conv";
    case LayerKind::maxpool: return "maxpool";
    case LayerKind::flatten: return "flatten";
  }
  return "?";
}

MapShape Layer::output_map(const MapShape& in) const {
  switch (kind) {
    case LayerKind::dense: return {outputs, 1, 1};
    case LayerKind::conv:
      return {outputs, in.height + 2 * padding - kernel + 1, in.width + 2 * padding - kernel + 1};
    case LayerKind::maxpool:
      if (stride < 1 || kernel < 1 || in.height < kernel || in.width < kernel) return {in.channels, 0, 0};
      return {in.channels, (in.height - kernel) / stride + 1, (in.width - kernel) / stride + 1};
    case LayerKind::flatten: return {in.size(), 1, 1};
  }
  return {};
}

int64_t Layer::accumulator_bound() const {
  const int64_t w = std::max(std::abs(int64_t(weight.min_value())), std::abs(int64_t(weight.max_value())));
  int64_t a = std::max(std::abs(int64_t(input.min_value())), std::abs(int64_t(input.max_value())));
  if (kind == LayerKind::conv) a = std::max<int64_t>(a, std::abs(int64_t(pad_value)));
  return inputs * w * a;
}

namespace {

void check_operand(const std::string& where, const Operand& o) {
  const bool ok = o.encoding == Encoding::bipolar   ? o.bits == 1
                  : o.encoding == Encoding::signed_int ? o.bits >= 2 && o.bits <= 8
                  : o.encoding == Encoding::unsigned_int ? o.bits >= 1 && o.bits <= 8
                                                          : false;
  if (!ok) throw DataError(fmt::format("{}: invalid operand ({} with {} bits)", where, int(o.encoding), o.bits));
}

}  // namespace

namespace {

constexpr int64_t kMaxChannels = int64_t(1) << 16, kMaxSide = int64_t(1) << 12, kMaxMap = int64_t(1) << 24;

void check_map(const std::string& where, const MapShape& s) {
  if (s.channels < 1 || s.channels > kMaxChannels || s.height < 1 || s.height > kMaxSide || s.width < 1 ||
      s.width > kMaxSide || s.size() > kMaxMap)
    throw DataError(fmt::format("{}: bad map shape {}", where, describe(s)));
}

void check_weights(const std::string& where, const Layer& l) {
  if (int64_t(l.weights.size()) != l.inputs * l.outputs)
    throw DataError(fmt::format("{}: {} weights, expected {}", where, l.weights.size(), l.inputs * l.outputs));
  for (size_t k = 0; k < l.weights.size(); ++k) {
    const int8_t w = l.weights[k];
    const bool ok = l.weight.encoding == Encoding::bipolar ? (w == 1 || w == -1)
                                                           : (w >= l.weight.min_value() && w <= l.weight.max_value());
    if (!ok) throw DataError(fmt::format("{}: weight {} = {} is outside {}", where, k, int(w), describe(l.weight)));
  }
  if (l.accumulator_bound() >= std::numeric_limits<int32_t>::max())
    throw DataError(fmt::format("{}: accumulator bound {} does not fit int32", where, l.accumulator_bound()));
}

// Thresholds of a hidden layer or logit affine of the output layer.
void check_outputs(const std::string& where, const Layer& l) {
  const int64_t bound = l.accumulator_bound();
  if (l.is_output) {
    if (!l.thresholds.empty()) throw DataError(where + ": the output layer has no thresholds");
    if (int64_t(l.logit_scale.size()) != l.outputs || int64_t(l.logit_bias.size()) != l.outputs)
      throw DataError(fmt::format("{}: logit scale/bias must have {} entries", where, l.outputs));
    return;
  }
  check_operand(where + " output", l.output);
  if (!l.logit_scale.empty() || !l.logit_bias.empty()) throw DataError(where + ": a hidden layer has no logit scale/bias");
  const int64_t per = l.output.levels() - 1;
  if (int64_t(l.thresholds.size()) != l.outputs * per)
    throw DataError(fmt::format("{}: {} thresholds, expected {}", where, l.thresholds.size(), l.outputs * per));
  for (int64_t o = 0; o < l.outputs; ++o)
    for (int64_t j = 0; j < per; ++j) {
      const int64_t t = l.thresholds[o * per + j];
      if (t < -bound || t > bound + 1)
        throw DataError(fmt::format("{}: threshold {} of output {} is {}, outside the accumulator range [{}, {}]",
                                    where, j, o, t, -bound, bound + 1));
      if (j > 0 && t < l.thresholds[o * per + j - 1])
        throw DataError(fmt::format("{}: thresholds of output {} are not ascending", where, o));
    }
}

}  // namespace

void validate(const IntegerModel& m) {
  const auto& in = m.input;
  if (in.channels < 1 || in.pixels_per_channel < 1 || in.channels > (1 << 16) ||
      in.pixels_per_channel > (int64_t(1) << 24))
    throw DataError(fmt::format("input stage: bad shape {} x {}", in.channels, in.pixels_per_channel));
  if ((in.height != 0 || in.width != 0) && (in.height < 1 || in.width < 1 || in.height * in.width != in.pixels_per_channel))
    throw DataError(fmt::format("input stage: image {}x{} does not have {} pixels per channel", in.height, in.width,
                                in.pixels_per_channel));
  check_operand("input stage", in.output);
  if (in.passthrough) {
    if (in.output != Operand{Encoding::unsigned_int, 8})
      throw DataError("input stage: a pass-through input must produce u8 values");
    if (!in.thresholds.empty()) throw DataError("input stage: a pass-through input has no thresholds");
  } else {
    const int64_t per = in.output.levels() - 1;
    if (int64_t(in.thresholds.size()) != in.channels * per)
      throw DataError(fmt::format("input stage: {} thresholds, expected {}", in.thresholds.size(), in.channels * per));
    for (int64_t c = 0; c < in.channels; ++c)
      for (int64_t j = 0; j < per; ++j) {
        const uint16_t t = in.thresholds[c * per + j];
        if (t > 256) throw DataError(fmt::format("input stage: threshold {} of channel {} is {} (> 256)", j, c, t));
        if (j > 0 && t < in.thresholds[c * per + j - 1])
          throw DataError(fmt::format("input stage: thresholds of channel {} are not ascending", c));
      }
  }
  if (m.layers.empty()) throw DataError("integer model: no layers");
  Operand prev = in.output;
  MapShape prev_map = in.map();
  bool after_map_layer = false;  // the previous layer was a conv or max-pool (a dense layer needs a flatten first)
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const std::string where = fmt::format("layer {}", i);
    const bool last = i + 1 == m.layers.size();
    if (l.is_output != last)
      throw DataError(fmt::format("{}: {}", where, last ? "the last layer must be the output layer"
                                                       : "only the last layer may be the output layer"));
    if (last && l.kind != LayerKind::dense)
      throw DataError(fmt::format("{}: the output layer must be dense, not {}", where, to_string(l.kind)));
    switch (l.kind) {
      case LayerKind::dense: {
        if (after_map_layer)
          throw DataError(fmt::format("{}: a dense layer after a conv/max-pool layer needs a flatten layer first", where));
        if (l.inputs != prev_map.size())
          throw DataError(fmt::format("{}: {} inputs, but the previous stage produces {}", where, l.inputs,
                                      prev_map.size()));
        if (l.outputs < 1 || l.outputs > (int64_t(1) << 20) || l.inputs > (int64_t(1) << 24))
          throw DataError(fmt::format("{}: bad size {} x {}", where, l.outputs, l.inputs));
        if (l.in_map != MapShape{} || l.kernel != 0 || l.stride != 1 || l.padding != 0 || l.pad_value != 0)
          throw DataError(fmt::format("{}: a dense layer has no map, kernel, stride or padding", where));
        break;
      }
      case LayerKind::conv: {
        if (l.in_map != prev_map)
          throw DataError(fmt::format("{}: reads a {} map, but the previous stage produces {}", where,
                                      describe(l.in_map), describe(prev_map)));
        if (l.kernel < 1 || l.kernel > 16 || l.padding < 0 || l.padding >= l.kernel || l.stride != 1)
          throw DataError(fmt::format("{}: bad convolution (kernel {}, padding {}, stride {}; kernel 1..16, padding "
                                      "below the kernel, stride 1)",
                                      where, l.kernel, l.padding, l.stride));
        if (l.inputs != l.in_map.channels * l.kernel * l.kernel)
          throw DataError(fmt::format("{}: {} inputs, but a {}x{} kernel over {} channels reads {}", where, l.inputs,
                                      l.kernel, l.kernel, l.in_map.channels,
                                      l.in_map.channels * l.kernel * l.kernel));
        if (l.outputs < 1 || l.outputs > kMaxChannels)
          throw DataError(fmt::format("{}: {} output channels (1..{})", where, l.outputs, kMaxChannels));
        check_map(where + " output", l.output_map(l.in_map));
        check_operand(where + " input", l.input);
        if (l.pad_value != 0 && (l.pad_value < l.input.min_value() || l.pad_value > l.input.max_value()))
          throw DataError(fmt::format("{}: pad value {} is neither 0 nor a {} value", where, l.pad_value,
                                      describe(l.input)));
        break;
      }
      case LayerKind::maxpool:
      case LayerKind::flatten: {
        if (l.in_map != prev_map)
          throw DataError(fmt::format("{}: reads a {} map, but the previous stage produces {}", where,
                                      describe(l.in_map), describe(prev_map)));
        if (l.kind == LayerKind::maxpool) {
          if (l.kernel < 1 || l.kernel > 16 || l.stride < 1 || l.stride > 16)
            throw DataError(fmt::format("{}: bad max-pool (kernel {}, stride {}; 1..16 each)", where, l.kernel, l.stride));
          check_map(where + " output", l.output_map(l.in_map));
        } else if (l.kernel != 0 || l.stride != 1) {
          throw DataError(fmt::format("{}: a flatten layer has no kernel or stride", where));
        }
        if (l.inputs != 0 || l.outputs != 0 || !l.weights.empty() || !l.thresholds.empty() || !l.logit_scale.empty() ||
            !l.logit_bias.empty() || l.padding != 0 || l.pad_value != 0)
          throw DataError(fmt::format("{}: a {} layer has no sizes, weights, thresholds or padding", where,
                                      to_string(l.kind)));
        if (l.input != prev || l.output != prev || l.weight != prev)
          throw DataError(fmt::format("{}: a {} layer passes {} codes on (input, weight and output operands must be "
                                      "{})",
                                      where, to_string(l.kind), describe(prev), describe(prev)));
        prev_map = l.output_map(l.in_map);
        after_map_layer = l.kind == LayerKind::maxpool;
        continue;
      }
      default: throw DataError(fmt::format("{}: unknown layer kind {}", where, int(l.kind)));
    }
    check_operand(where + " input", l.input);
    check_operand(where + " weight", l.weight);
    if (l.input != prev)
      throw DataError(fmt::format("{}: reads {} values, but the previous stage produces {}", where, describe(l.input),
                                  describe(prev)));
    check_weights(where, l);
    check_outputs(where, l);
    if (!l.is_output) prev = l.output;
    prev_map = l.output_map(l.kind == LayerKind::conv ? l.in_map : prev_map);
    after_map_layer = l.kind == LayerKind::conv;
  }
}

}  // namespace nemokd::engine
