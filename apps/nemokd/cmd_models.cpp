// nemokd models list | info — the model zoo: architectures, presets, parameter and MAC counts, layer summaries.
#include <filesystem>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "models/registry.h"

namespace nemokd::cli {
namespace {

// "177071104" -> "177,071,104"
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string shape_text(const std::vector<int64_t>& dims) {
  return fmt::format("{}", fmt::join(dims, "x"));
}

// --config: a JSON object inline (starts with '{') or a file holding one.
nlohmann::json read_config_arg(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    return parse_json(text, "--config");
  }
  std::error_code ec;
  if (!std::filesystem::exists(text, ec))
    throw ConfigError(fmt::format("--config: '{}' is neither inline JSON nor an existing file", text));
  return read_json_file(text);
}

// The model a `models info` call describes: --model (a preset or arch), optionally refined by --config.
// --config is either a whole model config ({"arch": ..., ARCH: {...}}) or the keys of --model's arch config
// that change (e.g. --model flexresnet8x4 --config '{"widths": [16, 32, 64, 128]}').
models::ModelConfig resolve_model(const std::string& name, const std::string& config_arg) {
  if (name.empty() && config_arg.empty()) throw ConfigError("models info: give --model NAME and/or --config JSON");
  models::ModelConfig config = name.empty() ? models::ModelConfig{} : models::preset_model(name);
  if (config_arg.empty()) return config;
  const auto j = read_config_arg(config_arg);
  if (!j.is_object()) throw ConfigError("--config: expected a JSON object");
  if (j.contains("arch")) {
    auto full = models::model_config_from_json(j, "config");
    if (!name.empty() && full.family() != config.family())
      throw ConfigError(fmt::format("--config: arch '{}' differs from --model {} (arch '{}')",
                                    models::family_name(full.family()), name, models::family_name(config.family())));
    return full;
  }
  if (name.empty()) throw ConfigError("--config: without --model it needs an \"arch\" key");
  auto merged = models::to_json(config);
  merged[models::family_name(config.family())].update(j);  // strict re-read: unknown keys are errors naming config.ARCH.KEY
  return models::model_config_from_json(merged, "config");
}

void register_list(CLI::App* models_cmd) {
  auto out = std::make_shared<OutputFlags>();
  auto* cmd = models_cmd->add_subcommand("list", "Architectures and named presets of the model zoo");
  add_output_flags(cmd, *out);
  cmd->callback([out] {
    if (out->json) {
      nlohmann::json archs = nlohmann::json::array(), presets = nlohmann::json::array();
      for (const auto& a : models::architectures())
        archs.push_back({{"name", a.name},
                         {"description", a.description},
                         {"presets", a.presets},
                         {"default_config", models::to_json(models::preset_model(a.name))}});
      for (const auto& p : models::model_presets())
        presets.push_back({{"name", p.name},
                           {"arch", p.arch},
                           {"description", p.description},
                           {"config", models::to_json(models::preset_model(p.name))}});
      return print_json({{"architectures", archs}, {"presets", presets}});
    }
    fmt::print("{:<14} {}\n", "arch", "description [presets]");
    for (const auto& a : models::architectures())
      fmt::print("{:<14} {}{}\n", a.name, a.description,
                 a.presets.empty() ? "" : fmt::format(" [{}]", fmt::join(a.presets, ", ")));
    fmt::print("\n{:<14} {:<13} {}\n", "preset", "arch", "description");
    for (const auto& p : models::model_presets())
      fmt::print("{:<14} {:<13} {}\n", p.name, p.arch, p.description);
    fmt::print("\nnemokd models info --model NAME --input 3x32x32 --classes 100 counts parameters and MACs.\n");
  });
}

void register_info(CLI::App* models_cmd) {
  struct Flags {
    std::string model, input = "3x32x32", config;
    int classes = 100;
    OutputFlags out;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = models_cmd->add_subcommand(
      "info", "Resolved config, parameter count, MACs (one image) and per-layer summary of a model");
  cmd->footer("Examples: nemokd models info --model resnet8x4 --input 3x32x32 --classes 100\n"
              "          nemokd models info --model flexstudent --input 1x28x28 --classes 10 --json\n"
              "          nemokd models info --model flexresnet8x4 --config '{\"widths\": [16, 32, 64, 128]}'\n"
              "MACs: conv = Cout*(Cin/groups)*k*k*Hout*Wout, linear = in*out; BN, activations, pooling, adds: 0.");
  cmd->add_option("--model,-m", f->model, "Preset (resnet8x4, mobilenetv2, tfc, ...) or architecture name "
                                          "(see `nemokd models list`)");
  cmd->add_option("--input", f->input, "Input shape CxHxW")->capture_default_str();
  cmd->add_option("--classes", f->classes, "Output classes")->capture_default_str();
  cmd->add_option("--config", f->config, "JSON (inline or a file): the arch config keys to change, or a whole "
                                         "model config {\"arch\": ..., ARCH: {...}}");
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    const auto config = resolve_model(f->model, f->config);
    const auto& arch = models::family_name(config.family());
    const auto input = models::InputShape::parse(f->input);
    auto model = models::build_model(config, input, f->classes);
    const auto rows = model->layers();
    const int64_t params = models::parameter_count(*model), macs = model->macs();
    if (f->out.json) {
      nlohmann::json layers = nlohmann::json::array();
      for (const auto& r : rows) layers.push_back(models::to_json(r));
      return print_json({{"model", f->model.empty() ? arch : f->model},
                         {"arch", arch},
                         {"config", models::to_json(config)},
                         {"input", input.str()},
                         {"classes", f->classes},
                         {"parameters", params},
                         {"macs", macs},
                         {"layers", layers}});
    }
    fmt::print("{}: arch {}, input {}, {} classes\n", f->model.empty() ? arch : f->model, arch,
               input.str(), f->classes);
    fmt::print("config {}\n", models::to_json(config)[arch].dump());
    fmt::print("{:<24} {:<8} {:<20} {:>12} {:>14} {:>14}\n", "layer", "kind", "detail", "output", "params", "MACs");
    for (const auto& r : rows)
      fmt::print("{:<24} {:<8} {:<20} {:>12} {:>14} {:>14}\n", r.name, r.kind, r.detail, shape_text(r.output),
                 grouped(r.parameters), grouped(r.macs));
    fmt::print("{} parameters, {} MACs ({:.2f}M) per image\n", grouped(params), grouped(macs), macs / 1e6);
  });
}

}  // namespace

void register_models(CLI::App& app) {
  auto* models_cmd = app.add_subcommand("models", "Model zoo: architectures, presets, parameters and MACs");
  models_cmd->require_subcommand(1);
  register_list(models_cmd);
  register_info(models_cmd);
}

}  // namespace nemokd::cli
