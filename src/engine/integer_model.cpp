#include "engine/integer_model.h"

#include <cmath>
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

int64_t Layer::accumulator_bound() const {
  const int64_t w = std::max(std::abs(int64_t(weight.min_value())), std::abs(int64_t(weight.max_value())));
  const int64_t a = std::max(std::abs(int64_t(input.min_value())), std::abs(int64_t(input.max_value())));
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

void validate(const IntegerModel& m) {
  const auto& in = m.input;
  if (in.channels < 1 || in.pixels_per_channel < 1 || in.channels > (1 << 16) ||
      in.pixels_per_channel > (int64_t(1) << 24))
    throw DataError(fmt::format("input stage: bad shape {} x {}", in.channels, in.pixels_per_channel));
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
  int64_t prev_size = in.size();
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const std::string where = fmt::format("layer {}", i);
    const bool last = i + 1 == m.layers.size();
    if (l.is_output != last)
      throw DataError(fmt::format("{}: {}", where, last ? "the last layer must be the output layer"
                                                       : "only the last layer may be the output layer"));
    if (l.inputs != prev_size)
      throw DataError(fmt::format("{}: {} inputs, but the previous stage produces {}", where, l.inputs, prev_size));
    if (l.outputs < 1 || l.outputs > (int64_t(1) << 20) || l.inputs > (int64_t(1) << 24))
      throw DataError(fmt::format("{}: bad size {} x {}", where, l.outputs, l.inputs));
    check_operand(where + " input", l.input);
    check_operand(where + " weight", l.weight);
    if (l.input != prev)
      throw DataError(fmt::format("{}: reads {} values, but the previous stage produces {}", where, describe(l.input),
                                  describe(prev)));
    if (int64_t(l.weights.size()) != l.inputs * l.outputs)
      throw DataError(fmt::format("{}: {} weights, expected {}", where, l.weights.size(), l.inputs * l.outputs));
    for (size_t k = 0; k < l.weights.size(); ++k) {
      const int8_t w = l.weights[k];
      const bool ok = l.weight.encoding == Encoding::bipolar ? (w == 1 || w == -1)
                                                             : (w >= l.weight.min_value() && w <= l.weight.max_value());
      if (!ok) throw DataError(fmt::format("{}: weight {} = {} is outside {}", where, k, int(w), describe(l.weight)));
    }
    const int64_t bound = l.accumulator_bound();
    if (bound >= std::numeric_limits<int32_t>::max())
      throw DataError(fmt::format("{}: accumulator bound {} does not fit int32", where, bound));
    if (l.is_output) {
      if (!l.thresholds.empty()) throw DataError(where + ": the output layer has no thresholds");
      if (int64_t(l.logit_scale.size()) != l.outputs || int64_t(l.logit_bias.size()) != l.outputs)
        throw DataError(fmt::format("{}: logit scale/bias must have {} entries", where, l.outputs));
      // A NaN or infinite scale/bias makes every logit NaN: the argmax is then class 0 and accuracy ~10 %.
      for (int64_t o = 0; o < l.outputs; ++o)
        if (!std::isfinite(l.logit_scale[o]) || !std::isfinite(l.logit_bias[o]))
          throw DataError(fmt::format("{}: logit scale/bias of output {} is not a finite number ({}, {})", where, o,
                                      l.logit_scale[o], l.logit_bias[o]));
    } else {
      check_operand(where + " output", l.output);
      if (!l.logit_scale.empty() || !l.logit_bias.empty())
        throw DataError(where + ": a hidden layer has no logit scale/bias");
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
      prev = l.output;
    }
    prev_size = l.outputs;
  }
}

}  // namespace nemokd::engine
