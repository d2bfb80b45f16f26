// From a trained quantized MLP or CNN to an integer model (FINN's "streamlining"): BatchNorm, the scales and the
// activation quantizer of each hidden dense or conv layer become per-channel integer thresholds on the
// accumulator, found by evaluating the model's own integer view (models/integer_net.h) — so the engine reproduces the model's
// eval-mode output codes exactly, including every rounding decision; channels whose folded scale is
// negative get their weights negated (the threshold test must face the right way); the input quantizer
// becomes thresholds on uint8 pixels, computed through the loader's pixel mapping.
#pragma once
#include <cstdint>
#include <string>

#include "data/loader.h"
#include "engine/integer_model.h"
#include "models/integer_net.h"
#include "models/mlp.h"

namespace nemokd::engine {

struct BuildStats {
  int64_t flipped_channels = 0;  // hidden channels with a negative folded scale
  int64_t constant_channels = 0; // hidden channels whose code does not depend on the input (scale 0)
};

// `affine` is the pixel mapping the model was trained with; `source` is stored in the model (provenance).
// Throws ConfigError when the model has no integer view (not a quantized MLP/CNN, float input or a float layer;
// the message names the layer).
IntegerModel build_integer_model(const models::ClassifierImpl& model, const data::PixelAffine& affine,
                                 const std::string& source, BuildStats* stats = nullptr);
IntegerModel build_integer_model(const models::IntegerNet& view, const data::PixelAffine& affine,
                                 const std::string& source, BuildStats* stats = nullptr);
// An MLP whose input is `channels` x `pixels_per_channel` (a row of pixels per channel: no image shape).
IntegerModel build_integer_model(const models::MlpImpl& mlp, const data::PixelAffine& affine, int64_t channels,
                                 int64_t pixels_per_channel, const std::string& source, BuildStats* stats = nullptr);

}  // namespace nemokd::engine
