// nemokd fpga devices | estimate | fold | grid | check — Route Q's FINN-compatible FPGA cost model.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "data/dataset.h"
#include "hw/fpga/cost_model.h"
#include "hw/fpga/design.h"
#include "hw/fpga/devices.h"
#include "hw/fpga/reference.h"
#include "hw/fpga/search.h"
#include "models/registry.h"

namespace nemokd::cli {
namespace {
namespace fpga = hw::fpga;

// Device table and fit flags.
struct DeviceFlags {
  std::string device = "xc7z020", devices, usable;
  void add(CLI::App* cmd, bool with_device) {
    if (with_device)
      cmd->add_option("--device", device, "FPGA part from the device table (see `nemokd fpga devices`)")
          ->capture_default_str();
    cmd->add_option("--devices", devices,
                    "Device table (JSON); default $NEMOKD_FPGA_DEVICES or the table in the source tree");
    if (with_device)
      cmd->add_option("--usable", usable,
                      "Usable share per resource over FINN's defaults (lut=0.7,ff=0.5,bram=0.8,uram=0.8,dsp=0.8), "
                      "e.g. lut=0.8,bram=0.9");
  }
  fpga::DeviceTable table() const {
    return fpga::load_device_table(devices.empty() ? fpga::default_device_table_path() : devices);
  }
  fpga::UsableFractions fractions() const {
    return usable.empty() ? fpga::UsableFractions{} : fpga::parse_usable_fractions("--usable", usable);
  }
};

// Model, folding and cost flags shared by estimate, fold and grid. With grid = true the bits are ranges.
struct ModelFlags {
  std::string model_dir, topology = "tfc", wbits = "2", abits = "2", input = "signed", activation = "tanh";
  int input_bits = 8, inputs = 784, classes = 10, pad_output = 0;
  std::string pe = "16", simd = "16";
  std::string formulas = "legacy", weight_mode = "decoupled", ram_style = "auto", multipliers = "lut",
              threshold_ram = "distributed";
  double fclk_mhz = 100;
  std::vector<std::string> topologies{"tfc"};  // grid: one or more
  CLI::Option *topology_opt = nullptr, *wbits_opt = nullptr, *abits_opt = nullptr;

  void add(CLI::App* cmd, bool grid, bool folding) {
    if (!grid)
      cmd->add_option("--model", model_dir, "Run folder of `nemokd quant train` (reads its run.json)");
    if (grid)
      topology_opt = cmd->add_option("--topology,-t", topologies,
                                     "Hidden widths: tfc, sfc, lfc or a list such as 512,256; repeat the flag for "
                                     "several (one process, one table)")
                         ->capture_default_str();
    else
      topology_opt = cmd->add_option("--topology,-t", topology,
                                     "Hidden widths: tfc, sfc, lfc or a list such as 512,256")
                         ->capture_default_str();
    if (grid) {
      wbits = abits = "1-8";
      wbits_opt = cmd->add_option("--wbits,-w", wbits, "Weight bits to cover, e.g. 1-8")->capture_default_str();
      abits_opt = cmd->add_option("--abits,-a", abits, "Activation bits to cover, e.g. 1-8")->capture_default_str();
    } else {
      wbits_opt = cmd->add_option("--wbits,-w", wbits, "Weight bits 1..8, one value or one per layer")
                      ->capture_default_str();
      abits_opt = cmd->add_option("--abits,-a", abits, "Activation bits 1..8, one value or one per hidden layer")
                      ->capture_default_str();
    }
    cmd->add_option("--input", input, "Input: signed (pixels -> [-1,1] -> --input-bits, a thresholding unit) or u8 "
                                      "(8-bit pixels straight in)")
        ->capture_default_str();
    cmd->add_option("--input-bits", input_bits, "Bits of the signed input quantizer")->capture_default_str();
    cmd->add_option("--activation", activation, "tanh/hardtanh (2^B-2 thresholds) or relu (2^B-1)")
        ->capture_default_str();
    cmd->add_option("--inputs", inputs, "Input features (with --topology)")->capture_default_str();
    cmd->add_option("--classes", classes, "Output classes (with --topology)")->capture_default_str();
    if (folding) {
      cmd->add_option("--pe", pe, "PE: one value for every layer (adjusted down to a divisor of MH where needed) "
                                  "or one per layer, e.g. 16,8,8,10")
          ->capture_default_str();
      cmd->add_option("--simd", simd, "SIMD: one value or one per layer, e.g. 49,8,8,8")->capture_default_str();
    }
    cmd->add_option("--pad-output", pad_output, "Pad the output layer's MH to a multiple of this (BNN-PYNQ: 64)")
        ->capture_default_str();
    cmd->add_option("--fclk-mhz", fclk_mhz, "Clock")->capture_default_str();
    cmd->add_option("--formulas", formulas, "FINN estimator generation: legacy (v0.5b-v0.9) or current (v0.10+)")
        ->capture_default_str();
    cmd->add_option("--weight-mode", weight_mode, "Weights: embedded, decoupled (streamed) or external")
        ->capture_default_str();
    cmd->add_option("--ram-style", ram_style, "Weight memory: auto, block, distributed, ultra")->capture_default_str();
    cmd->add_option("--multipliers", multipliers, "lut or dsp")->capture_default_str();
    cmd->add_option("--threshold-ram", threshold_ram, "current formulas: thresholds in distributed or block RAM")
        ->capture_default_str();
  }

  fpga::CostOptions options() const {
    fpga::CostOptions o;
    o.formulas = fpga::parse_formulas("--formulas", formulas);
    o.weight_mode = fpga::parse_weight_mode("--weight-mode", weight_mode);
    o.ram_style = fpga::parse_ram_style("--ram-style", ram_style);
    o.multipliers = fpga::parse_multipliers("--multipliers", multipliers);
    o.threshold_ram = fpga::parse_threshold_ram("--threshold-ram", threshold_ram);
    o.fclk_mhz = fclk_mhz;
    if (!(fclk_mhz > 0 && fclk_mhz <= 2000)) throw ConfigError(fmt::format("--fclk-mhz: {} is out of range (0, 2000]", fclk_mhz));
    o.validate();
    return o;
  }

  fpga::Folding folding() const {
    return fpga::Folding{parse_int_list("--pe", pe), parse_int_list("--simd", simd)};
  }

  // The MLP (bits unset when grid) and its shape, from --model or the topology flags.
  std::pair<models::MlpConfig, fpga::MlpShape> mlp(std::string* source) const {
    if (!model_dir.empty()) {
      if (topology_opt->count() || wbits_opt->count() || abits_opt->count())
        throw ConfigError("--model: the run's config gives the model; drop --topology/--wbits/--abits");
      const std::string path = (std::filesystem::path(model_dir) / "run.json").string();
      const auto rec = RunRecord::from_json(read_json_file(path));
      if (!rec.config.contains("model") || !rec.config.contains("dataset"))
        throw ConfigError(fmt::format("{}: config has no model/dataset (not a training run)", path));
      const auto mc = models::model_config_from_json(rec.config["model"], "model");
      if (mc.arch != "mlp") throw ConfigError(fmt::format("{}: model.arch '{}': the FPGA cost model prices MLPs", path, mc.arch));
      const auto& spec = data::dataset_spec(rec.config["dataset"].value("name", std::string()));
      if (source) *source = path;
      return {mc.mlp, fpga::MlpShape{int64_t(spec.channels) * spec.height * spec.width, spec.classes, pad_output}};
    }
    models::MlpConfig m;
    if (topology == "tfc" || topology == "sfc" || topology == "lfc")
      m.hidden = models::mlp_preset_widths(topology);
    else
      m.hidden = parse_int_list("--topology", topology);
    m.activation = activation;
    m.quant.input = input;
    m.quant.input_bits = input_bits;
    m.quantized = true;
    if (source) *source = "topology " + topology;
    return {m, fpga::MlpShape{inputs, classes, pad_output}};
  }

  fpga::Design design(std::string* source) const {
    auto [m, shape] = mlp(source);
    if (model_dir.empty()) m.set_bits(parse_int_list("--wbits", wbits), parse_int_list("--abits", abits));
    return fpga::mlp_design(m, shape);
  }
};

std::string eff_text(double e) { return std::isfinite(e) ? fmt::format("{:.5f}", e) : "-"; }

void print_estimate(const fpga::Estimate& e, const fpga::FitReport& fit) {
  fmt::print("{:<7} {:<12} {:>5} {:>5} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>9}  {}\n", "layer", "kind", "PE",
             "SIMD", "cycles", "LUT", "FF", "BRAM18", "URAM", "DSP", "BRAM eff", "note");
  for (const auto& l : e.layers)
    fmt::print("{:<7} {:<12} {:>5} {:>5} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>9}  {}\n", l.name, l.kind, l.pe,
               l.kind == "mvau" ? std::to_string(l.simd) : "-", l.cycles, l.res.lut, l.res.ff, l.res.bram18,
               l.res.uram, l.res.dsp, eff_text(l.bram_efficiency), l.note);
  fmt::print("{:<7} {:<12} {:>5} {:>5} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5}\n", "total", "", "", "", e.max_cycles,
             e.total.lut, e.total.ff, e.total.bram18, e.total.uram, e.total.dsp);
  fmt::print("{:.0f} FPS at {:g} MHz (max {} cycles, bottleneck {}); latency {:.2f} us (critical path {} cycles)\n",
             e.fps, e.fclk_mhz, e.max_cycles, e.bottleneck, e.latency_us, e.critical_path);
  std::vector<std::string> use;
  for (const auto& r : fit.resources)
    if (r.available > 0 || r.used > 0)
      use.push_back(fmt::format("{} {}/{:.0f}{}", r.resource, r.used, r.budget, r.ok ? "" : " (over)"));
  fmt::print("{} [{}]\n", fit.summary(), fmt::join(use, ", "));
}

std::string folding_text(const fpga::Design& d) {
  std::vector<std::string> parts;
  for (const auto& l : d.layers) parts.push_back(fmt::format("({},{})", l.pe, l.simd));
  return fmt::format("{}", fmt::join(parts, " "));
}

void register_devices(CLI::App* fpga_cmd) {
  struct Flags {
    DeviceFlags dev;
    OutputFlags out;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = fpga_cmd->add_subcommand("devices", "List the FPGA parts of the device table");
  f->dev.add(cmd, false);
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    const auto table = f->dev.table();
    const fpga::UsableFractions usable;
    if (f->out.json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& d : table.devices) list.push_back(d.to_json());
      return print_json({{"path", table.path}, {"devices", list}, {"usable_default", usable.to_json()}});
    }
    fmt::print("{}\n", table.path);
    fmt::print("{:<9} {:<22} {:>9} {:>9} {:>7} {:>6} {:>7}  {}\n", "name", "part", "LUT", "FF", "BRAM18", "URAM", "DSP",
               "boards");
    for (const auto& d : table.devices)
      fmt::print("{:<9} {:<22} {:>9} {:>9} {:>7} {:>6} {:>7}  {}\n", d.name, d.part, d.total.lut, d.total.ff,
                 d.total.bram18, d.total.uram, d.total.dsp, d.boards);
    fmt::print("fit uses FINN's usable shares: LUT {:g}, FF {:g}, BRAM {:g}, URAM {:g}, DSP {:g} (--usable)\n",
               usable.lut, usable.ff, usable.bram18, usable.uram, usable.dsp);
  });
}

void register_estimate(CLI::App* fpga_cmd) {
  struct Flags {
    ModelFlags model;
    DeviceFlags dev;
    OutputFlags out;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = fpga_cmd->add_subcommand("estimate", "FINN-style per-layer estimate (cycles, LUT, FF, BRAM18, URAM, DSP) "
                                                   "of a quantized MLP, and whether it fits a device");
  cmd->footer("Examples: nemokd fpga estimate --topology tfc --wbits 2 --abits 2 --pe 16 --simd 16\n"
              "          nemokd fpga estimate --topology tfc --wbits 1 --abits 1 --pe 16,8,8,10 --simd 49,8,8,8\n"
              "          nemokd fpga estimate --model runs/quant-XXXX --device xczu3eg --json");
  f->model.add(cmd, false, true);
  f->dev.add(cmd, true);
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    std::string source;
    auto d = f->model.design(&source);
    fpga::apply_folding(d, f->model.folding());
    const auto o = f->model.options();
    const auto table = f->dev.table();
    const auto& device = table.find(f->dev.device);
    const auto folded = fpga::evaluate(d, o, device, f->dev.fractions());
    if (f->out.json) {
      auto j = folded.to_json();
      j["model"] = source;
      j["design"] = d.to_json();
      j["options"] = o.to_json();
      j["device"] = device.to_json();
      return print_json(j);
    }
    fmt::print("{}; {} formulas, {} weights, {} RAM, {} multipliers\n", source, fpga::to_string(o.formulas),
               fpga::to_string(o.weight_mode), fpga::to_string(o.ram_style), fpga::to_string(o.multipliers));
    print_estimate(folded.estimate, folded.fit);
  });
}

void register_fold(CLI::App* fpga_cmd) {
  struct Flags {
    ModelFlags model;
    DeviceFlags dev;
    OutputFlags out;
    double target_fps = 0;
    bool fastest = false, pareto = false, include_unfit = false, no_rerun = false;
    int64_t width_cap = 36;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = fpga_cmd->add_subcommand("fold", "Choose PE/SIMD per layer: FINN's SetFolding for a target FPS, the "
                                               "fastest folding that fits a device, or the Pareto set");
  cmd->footer("Examples: nemokd fpga fold --topology tfc --wbits 2 --abits 2 --target-fps 1000000\n"
              "          nemokd fpga fold --topology lfc --wbits 1 --abits 2 --fastest-fit --device xc7z020\n"
              "          nemokd fpga fold --topology sfc --wbits 2 --abits 2 --pareto --json");
  f->model.add(cmd, false, false);
  f->dev.add(cmd, true);
  cmd->add_option("--target-fps", f->target_fps, "FINN SetFolding: reach this many frames per second");
  cmd->add_flag("--fastest-fit", f->fastest, "The fastest folding whose estimate fits --device");
  cmd->add_flag("--pareto", f->pareto, "Non-dominated foldings over FPS, LUT and BRAM18 that fit --device");
  cmd->add_flag("--include-unfit", f->include_unfit, "--pareto: also designs that do not fit");
  cmd->add_option("--width-cap", f->width_cap, "SetFolding: widest weight stream (W x SIMD bits) before SIMD stops "
                                               "growing")
      ->capture_default_str();
  cmd->add_flag("--no-rerun", f->no_rerun, "SetFolding: skip the balancing rerun at the achieved cycles");
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    const int modes = (f->target_fps != 0) + f->fastest + f->pareto;
    if (modes != 1) throw ConfigError("fold: give exactly one of --target-fps N, --fastest-fit, --pareto");
    std::string source;
    const auto base = f->model.design(&source);
    const auto o = f->model.options();
    const auto table = f->dev.table();
    const auto& device = table.find(f->dev.device);
    const auto usable = f->dev.fractions();
    nlohmann::json j = {{"model", source}, {"device", device.name}, {"options", o.to_json()}};
    if (f->pareto) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto front = fpga::pareto_foldings(base, o, device, usable, !f->include_unfit);
      const double secs = seconds_since(t0);
      if (f->out.json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& p : front) list.push_back(p.to_json());
        j["mode"] = "pareto";
        j["points"] = list;
        j["search_seconds"] = secs;
        return print_json(j);
      }
      fmt::print("{}: {} non-dominated foldings (FPS, LUT, BRAM18){} on {} ({:.2f} s)\n", source, front.size(),
                 f->include_unfit ? "" : " that fit", device.name, secs);
      fmt::print("{:>8} {:>12} {:>8} {:>7} {:>8} {:>5}  {}\n", "cycles", "FPS", "LUT", "BRAM18", "FF", "fits",
                 "folding (PE,SIMD)");
      for (const auto& p : front)
        fmt::print("{:>8} {:>12.0f} {:>8} {:>7} {:>8} {:>5}  {}\n", p.estimate.max_cycles, p.estimate.fps,
                   p.estimate.total.lut, p.estimate.total.bram18, p.estimate.total.ff, p.fit.fits ? "yes" : "no",
                   folding_text(p.design));
      return;
    }
    std::optional<fpga::FoldedDesign> result;
    if (f->fastest) {
      j["mode"] = "fastest-fit";
      result = fpga::fastest_fit(base, o, device, usable);
    } else {
      j["mode"] = "target-fps";
      j["target_fps"] = f->target_fps;
      const auto d = fpga::set_folding(base, o.fclk_mhz,
                                       fpga::SetFoldingOptions{f->target_fps, f->width_cap, !f->no_rerun});
      result = fpga::evaluate(d, o, device, usable);
    }
    j["found"] = result.has_value();
    if (result) j["result"] = result->to_json();
    if (f->out.json) return print_json(j);
    if (!result) {
      fmt::print("{}: no folding fits {}, not even PE = SIMD = 1\n", source, device.name);
      return;
    }
    fmt::print("{} ({}): folding {}\n", source, j["mode"].get<std::string>(), folding_text(result->design));
    if (f->target_fps != 0 && result->estimate.fps < f->target_fps)
      fmt::print("target {:.0f} FPS not reached: the slowest layer is at its limit\n", f->target_fps);
    print_estimate(result->estimate, result->fit);
  });
}

void register_grid(CLI::App* fpga_cmd) {
  struct Flags {
    ModelFlags model;
    DeviceFlags dev;
    OutputFlags out;
    std::string csv;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = fpga_cmd->add_subcommand("grid", "Estimate every W x A combination of one topology at one folding "
                                               "(the resource half of a Q1 sweep)");
  cmd->footer("Example: nemokd fpga grid -t tfc -t lfc --wbits 1-8 --abits 1-8 --pe 16 --simd 16 --csv grid.csv\n"
              "Every layer gets W weight bits and every hidden activation A bits; the input quantizer keeps\n"
              "--input/--input-bits (default: signed 8-bit, as the Q1 sweep trains).");
  f->model.add(cmd, true, true);
  f->dev.add(cmd, true);
  cmd->add_option("--csv", f->csv, "Write the table here");
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    const auto t0 = std::chrono::steady_clock::now();
    const auto o = f->model.options();
    const auto table = f->dev.table();
    const auto& device = table.find(f->dev.device);
    const auto usable = f->dev.fractions();
    const auto folding = f->model.folding();
    // The table has one pe and one simd column (a per-layer list would break the CSV).
    if (!f->csv.empty() && (folding.pe.size() > 1 || folding.simd.size() > 1))
      throw ConfigError("--csv: a grid table takes one --pe and one --simd value");
    const auto ws = parse_int_ranges("--wbits", f->model.wbits, 1, 32);
    const auto as = parse_int_ranges("--abits", f->model.abits, 1, 32);
    nlohmann::json grids = nlohmann::json::array();
    std::string csv = "topology,wbits,abits,pe,simd,max_cycles,fps,lut,ff,bram18,uram,dsp,fits,failing\n";
    for (const auto& topo : f->model.topologies) {
      ModelFlags mf = f->model;
      mf.topology = topo;
      auto [m, shape] = mf.mlp(nullptr);
      nlohmann::json rows = nlohmann::json::array();
      for (int w : ws)
        for (int a : as) {
          m.set_bits({w}, {a});
          auto d = fpga::mlp_design(m, shape);
          fpga::apply_folding(d, folding);
          const auto r = fpga::evaluate(d, o, device, usable);
          const auto& t = r.estimate.total;
          rows.push_back({{"wbits", w}, {"abits", a}, {"max_cycles", r.estimate.max_cycles}, {"fps", r.estimate.fps},
                          {"lut", t.lut}, {"ff", t.ff}, {"bram18", t.bram18}, {"uram", t.uram}, {"dsp", t.dsp},
                          {"fits", r.fit.fits}, {"failing", r.fit.failing}});
          // Topology lists such as 512,256 are written as 512x256 to keep the CSV's columns.
          std::string topo_field = topo;
          std::replace(topo_field.begin(), topo_field.end(), ',', 'x');
          csv += fmt::format("{},{},{},{},{},{},{:.1f},{},{},{},{},{},{},{}\n", topo_field, w, a, f->model.pe,
                             f->model.simd, r.estimate.max_cycles, r.estimate.fps, t.lut, t.ff, t.bram18, t.uram,
                             t.dsp, r.fit.fits ? "yes" : "no", fmt::join(r.fit.failing, "; "));
        }
      grids.push_back({{"topology", topo}, {"rows", rows}});
    }
    if (!f->csv.empty()) write_text_file(f->csv, csv);  // checked: a full disk is an error, not 0 bytes
    const double secs = seconds_since(t0);
    if (f->out.json)
      return print_json({{"device", device.name}, {"folding", folding.to_json()}, {"options", o.to_json()},
                         {"grids", grids}, {"seconds", secs}});
    fmt::print("{} estimates in {:.3f} s{}\n", grids.size() * ws.size() * as.size(), secs,
               f->csv.empty() ? "" : "; table: " + f->csv);
    for (const auto& g : grids) {
      const auto& rows = g["rows"];
      int fits = 0;
      for (const auto& r : rows) fits += r["fits"].get<bool>();
      fmt::print("{} at PE {} SIMD {} on {}: {}/{} fit (rows W, columns A)\n     ", g["topology"].get<std::string>(),
                 f->model.pe, f->model.simd, device.name, fits, rows.size());
      for (int a : as) fmt::print(" A{:<2}", a);
      fmt::print("\n");
      size_t k = 0;
      for (int w : ws) {
        fmt::print("W{:<3}", w);
        for (size_t i = 0; i < as.size(); ++i) fmt::print("  {} ", rows[k++]["fits"].get<bool>() ? "Y" : ".");
        fmt::print("\n");
      }
    }
  });
}

void register_check(CLI::App* fpga_cmd) {
  auto out = std::make_shared<OutputFlags>();
  auto* cmd = fpga_cmd->add_subcommand("check", "The cost model against published FINN / BNN-PYNQ figures (LUT and "
                                                "the FF estimate's error)");
  add_output_flags(cmd, *out);
  cmd->callback([out] {
    const auto checks = fpga::check_reference_designs();
    if (out->json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& c : checks) list.push_back(c.to_json());
      return print_json({{"checks", list}});
    }
    fmt::print("{:<20} {:>7} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}\n", "design", "cycles", "LUT est", "LUT syn", "err",
               "FF est", "FF syn", "err");
    for (const auto& c : checks)
      fmt::print("{:<20} {:>7} {:>9} {:>9} {:>+6.0f}% {:>9} {:>9} {:>+6.0f}%\n", c.name, c.estimate.max_cycles,
                 c.estimate.total.lut, c.synth_lut.value_or(0), 100 * c.lut_error.value_or(NAN), c.estimate.total.ff,
                 c.synth_ff.value_or(0), 100 * c.ff_error.value_or(NAN));
  });
}

}  // namespace

void register_fpga(CLI::App& app) {
  auto* fpga_cmd = app.add_subcommand("fpga", "Route Q: FINN-compatible FPGA cost model, device fit, folding search");
  fpga_cmd->require_subcommand(1);
  register_devices(fpga_cmd);
  register_estimate(fpga_cmd);
  register_fold(fpga_cmd);
  register_grid(fpga_cmd);
  register_check(fpga_cmd);
}

}  // namespace nemokd::cli
