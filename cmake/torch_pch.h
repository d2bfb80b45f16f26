// The one precompiled header of the project: torch's C++ API is large and slow to parse.
#pragma once
#include <torch/torch.h>
