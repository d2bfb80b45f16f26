// The model families as an enum: what the process compares and switches on. The family's name is a string only
// at the JSON/CLI boundary ("arch" in a model config, --model), parsed here. Everything else about a family (its
// config type, builder, JSON, quantization accessors, FPGA lowering) is one entry of the traits table in
// models/registry.h. No torch here.
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace nemokd::models {

// The order is the index of the family's config in models::FamilyConfig (registry.h), checked there.
enum class Family { mlp, resnet, mobilenetv2, flexstudent, flexresnet8x4, cnv, qflexstudent, qonnx };
inline constexpr size_t kFamilyCount = 8;
inline constexpr std::array<Family, kFamilyCount> kFamilies = {
    Family::mlp, Family::resnet,       Family::mobilenetv2, Family::flexstudent,
    Family::flexresnet8x4, Family::cnv, Family::qflexstudent, Family::qonnx};

// "mlp", "resnet", ... (the "arch" of a model config).
const std::string& family_name(Family family);
// Every family's name, in table order.
std::vector<std::string> family_names();
// The family of that name, or nothing.
std::optional<Family> find_family(const std::string& name);
// The family of that name; otherwise ConfigError "KEY: unknown architecture 'NAME'; known: mlp, resnet, ...".
Family parse_family(const std::string& name, const std::string& key = "model.arch");

}  // namespace nemokd::models
