// The integer view of a quantized MLP (models/integer_net.h: what FINN's streamlined hardware computes, and
// what the MLP itself computes in eval mode): dense layers only, the first reading the input quantizer's codes.
#pragma once
#include <string>

#include "models/integer_net.h"

namespace nemokd::models {

class MlpImpl;
struct MlpConfig;

// Empty when the MLP computes in integers in eval mode; otherwise why not (float input, a 32-bit layer,
// not quantized).
std::string integer_exact_blocker(const MlpConfig& config);
// The integer view of the current parameters; throws ConfigError with the blocker when there is none.
IntegerNet integer_view(const MlpImpl& mlp);

}  // namespace nemokd::models
