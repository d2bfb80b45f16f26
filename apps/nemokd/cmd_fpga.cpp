// nemokd fpga devices | estimate | fold | grid | check | table — Route Q's FINN-compatible FPGA cost model.
// Flags become the library's structs; everything else lives in src/hw/fpga.
#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "data/dataset.h"
#include "hw/fpga/calibration.h"
#include "hw/fpga/cnn.h"
#include "hw/fpga/grid.h"
#include "hw/fpga/model_design.h"
#include "hw/fpga/reference.h"
#include "hw/fpga/search.h"
#include "hw/fpga/sweep_table.h"
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
                      "Usable share per resource for the planning verdict and the searches, over FINN's "
                      "(lut=0.7,ff=0.5,bram=0.8,uram=0.8,dsp=0.8), e.g. lut=0.8,bram=0.9; `device` = every share 1");
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
  std::string model_dir, cnn_file, topology = "tfc", wbits = "2", abits = "2", input = "signed", activation = "tanh";
  int input_bits = 8, classes = 10, pad_output = 0;
  int64_t inputs = 784;
  std::string pe = "16", simd = "16";
  std::string formulas = "legacy", weight_mode = "decoupled", ram_style = "auto", multipliers = "lut",
              threshold_ram = "distributed", window_ram = "distributed";
  double fclk_mhz = 100;
  std::vector<std::string> topologies{"tfc"};  // grid: one or more
  CLI::Option *topology_opt = nullptr, *wbits_opt = nullptr, *abits_opt = nullptr;

  void add(CLI::App* cmd, bool grid, bool folding) {
    if (!grid) {
      cmd->add_option("--model", model_dir, "Run folder of `nemokd quant train` (reads its run.json; MLPs, cnv, qflexstudent)");
      cmd->add_option("--cnn", cnn_file, "A CNN described layer by layer (JSON file or inline; docs/FPGA.md)");
    }
    const std::string topo_help = "tfc, sfc, lfc, hidden widths such as 512,256 (MLPs), or cnv (FINN's CNV)";
    if (grid)
      topology_opt = cmd->add_option("--topology,-t", topologies, topo_help + "; repeat for several (one table)")
                         ->capture_default_str();
    else
      topology_opt = cmd->add_option("--topology,-t", topology, topo_help)->capture_default_str();
    if (grid) {
      wbits = abits = "1-8";
      wbits_opt = cmd->add_option("--wbits,-w", wbits, "Weight bits to cover, e.g. 1-8")->capture_default_str();
      abits_opt = cmd->add_option("--abits,-a", abits, "Activation bits to cover, e.g. 1-8")->capture_default_str();
    } else {
      wbits_opt = cmd->add_option("--wbits,-w", wbits, "Weight bits 1..8, one value or one per layer")
                      ->capture_default_str();
      abits_opt = cmd->add_option("--abits,-a", abits, "Activation bits 1..8, one value or one per hidden layer "
                                                       "(CNN: per conv/fc layer)")
                      ->capture_default_str();
    }
    cmd->add_option("--input", input, "Input: signed (pixels -> [-1,1] -> --input-bits, a thresholding unit) or u8 "
                                      "(8-bit pixels straight in)")
        ->capture_default_str();
    cmd->add_option("--input-bits", input_bits, "Bits of the signed input quantizer")->capture_default_str();
    cmd->add_option("--activation", activation, "tanh/hardtanh (2^B-2 thresholds), relu (2^B-1) or bnn-pynq (B)")
        ->capture_default_str();
    cmd->add_option("--inputs", inputs, "Input features of an MLP topology")->capture_default_str();
    cmd->add_option("--classes", classes, "Output classes (with --topology)")->capture_default_str();
    if (folding) {
      cmd->add_option("--pe", pe, "PE: one value for every MVAU (adjusted down to a divisor of MH where needed) "
                                  "or one per MVAU, e.g. 16,8,8,10")
          ->capture_default_str();
      cmd->add_option("--simd", simd, "SIMD: one value or one per MVAU, e.g. 49,8,8,8")->capture_default_str();
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
    cmd->add_option("--threshold-ram", threshold_ram, "current formulas: MVAU thresholds in distributed or block RAM")
        ->capture_default_str();
    cmd->add_option("--window-ram", window_ram, "Sliding-window line buffers: distributed (FINN's default), block, "
                                                "auto or ultra")
        ->capture_default_str();
  }

  fpga::CostOptions options() const {
    if (!(fclk_mhz > 0 && fclk_mhz <= 2000))
      throw ConfigError(fmt::format("--fclk-mhz: {} is out of range (0, 2000]", fclk_mhz));
    fpga::CostOptions o;
    o.formulas = fpga::parse_formulas("--formulas", formulas);
    o.weight_mode = fpga::parse_weight_mode("--weight-mode", weight_mode);
    o.ram_style = fpga::parse_ram_style("--ram-style", ram_style);
    o.multipliers = fpga::parse_multipliers("--multipliers", multipliers);
    o.threshold_ram = fpga::parse_threshold_ram("--threshold-ram", threshold_ram);
    o.window_ram = fpga::parse_ram_style("--window-ram", window_ram);
    o.fclk_mhz = fclk_mhz;
    o.validate();
    return o;
  }

  fpga::Folding folding() const { return fpga::Folding{parse_int_list("--pe", pe), parse_int_list("--simd", simd)}; }

  fpga::TopologyModel topology_model(const std::string& topo) const {
    return fpga::TopologyModel{topo, input, input_bits, activation, inputs, classes, pad_output};
  }

  // The design to cost, from --model, --cnn or the topology flags; `source` says which.
  fpga::Design design(std::string* source) const {
    if (int(!model_dir.empty()) + int(!cnn_file.empty()) > 1)
      throw ConfigError("--model, --cnn: give one model");
    if ((!model_dir.empty() || !cnn_file.empty()) && topology_opt->count())
      throw ConfigError("--topology: the model is given by --model/--cnn; drop --topology");
    if (!cnn_file.empty()) {
      auto spec = fpga::cnn_spec_from_json(json_flag("--cnn", cnn_file), "cnn");
      if (wbits_opt->count() || abits_opt->count())
        spec.set_bits(parse_int_list("--wbits", wbits), parse_int_list("--abits", abits));
      *source = "cnn " + spec.name;
      return fpga::cnn_design(spec);
    }
    if (!model_dir.empty()) {
      if (wbits_opt->count() || abits_opt->count())
        throw ConfigError("--model: the run's config gives the bits; drop --wbits/--abits");
      const std::string path = (std::filesystem::path(model_dir) / "run.json").string();
      const auto rec = RunRecord::from_json(read_json_file(path));
      if (!rec.config.contains("model") || !rec.config.contains("dataset"))
        throw ConfigError(fmt::format("{}: config has no model/dataset (not a training run)", path));
      const auto mc = models::model_config_from_json(rec.config["model"], "model");
      const auto& spec = data::dataset_spec(rec.config["dataset"].value("name", std::string()));
      *source = path;
      try {
        return fpga::model_design(mc, models::InputShape{spec.channels, spec.height, spec.width}, spec.classes,
                                  pad_output);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", path, e.what()));
      }
    }
    *source = "topology " + topology;
    return topology_model(topology).design(parse_int_list("--wbits", wbits), parse_int_list("--abits", abits));
  }
};

std::string eff_text(double e) { return std::isfinite(e) ? fmt::format("{:.5f}", e) : "-"; }

std::string fps_line(const fpga::Estimate& e) {
  const auto& eff = fpga::board_efficiency();
  return fmt::format("{:.0f} FPS estimated (f_clk {:g} MHz / {} cycles, bottleneck {}); {:.0f} ± {:.0f} FPS expected "
                     "on the board (x {:.2f} ± {:.2f}, {} published board measurements)",
                     e.fps.estimated, e.fclk_mhz, e.max_cycles, e.bottleneck, e.fps.expected, e.fps.expected_sd,
                     eff.mean, eff.sd, eff.used);
}

void print_estimate(const fpga::Estimate& e, const fpga::FitReport& fit) {
  const auto row = "{:<11} {:<12} {:>5} {:>5} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>9}  {}\n";
  fmt::print(row, "unit", "kind", "PE", "SIMD", "cycles", "LUT", "FF", "BRAM18", "URAM", "DSP", "BRAM eff", "note");
  for (const auto& l : e.layers)
    fmt::print(row, l.name, l.kind, l.kind == "mvau" || l.kind == "thresholding" ? std::to_string(l.pe) : "-",
               l.kind == "thresholding" || l.kind == "maxpool" ? "-" : std::to_string(l.simd), l.cycles, l.res.lut,
               l.res.ff, l.res.bram18, l.res.uram, l.res.dsp, eff_text(l.bram_efficiency), l.note);
  fmt::print(row, "total", "", "", "", e.max_cycles, e.total.lut, e.total.ff, e.total.bram18, e.total.uram,
             e.total.dsp, "", "");
  fmt::print("{}; latency {:.2f} us (critical path {} cycles)\n", fps_line(e), e.latency_us, e.critical_path);
  std::vector<std::string> use;
  for (const auto& r : fit.resources)
    if (r.available > 0 || r.used > 0)
      use.push_back(fmt::format("{} {}/{} ({:.0f} %)", r.resource, r.used, r.available,
                                r.available > 0 ? 100.0 * double(r.used) / double(r.available) : 100.0));
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
    fmt::print("fit is reported twice: at FINN's planning shares (LUT {:g}, FF {:g}, BRAM {:g}, URAM {:g}, DSP {:g}; "
               "--usable) and against the whole device\n",
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
  auto* cmd = fpga_cmd->add_subcommand("estimate", "FINN-style per-unit estimate (cycles, LUT, FF, BRAM18, URAM, DSP) "
                                                   "of a quantized MLP or CNN, and whether it fits a device");
  cmd->footer("Examples: nemokd fpga estimate --topology tfc --wbits 2 --abits 2 --pe 16 --simd 16\n"
              "          nemokd fpga estimate --topology tfc --wbits 1 --abits 1 --pe 16,8,8,10 --simd 49,8,8,8\n"
              "          nemokd fpga estimate --topology cnv --wbits 1 --abits 1 --pe 16,32,16,16,4,1,1,1,5 \\\n"
              "                               --simd 3,32,32,32,32,32,4,8,1\n"
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
  auto* cmd = fpga_cmd->add_subcommand("fold", "Choose PE/SIMD per MVAU: FINN's SetFolding for a target FPS, the "
                                               "fastest folding that fits a device, or the Pareto set");
  cmd->footer("Examples: nemokd fpga fold --topology tfc --wbits 2 --abits 2 --target-fps 1000000\n"
              "          nemokd fpga fold --topology lfc --wbits 1 --abits 2 --fastest-fit --device xc7z020\n"
              "          nemokd fpga fold --topology cnv --wbits 2 --abits 2 --fastest-fit --usable device\n"
              "          nemokd fpga fold --topology sfc --wbits 2 --abits 2 --pareto --json\n"
              "\"Fits\" in the searches means within --usable (FINN's planning shares unless given).");
  f->model.add(cmd, false, false);
  f->dev.add(cmd, true);
  cmd->add_option("--target-fps", f->target_fps, "FINN SetFolding: reach this many frames per second (estimated)");
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
    nlohmann::json j = {{"model", source}, {"device", device.name}, {"options", o.to_json()},
                        {"usable", usable.to_json()}};
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
                 f->include_unfit ? "" : " within the usable shares", device.name, secs);
      const auto row = "{:>8} {:>13} {:>12} {:>8} {:>7} {:>8} {:>9} {:>7}  {}\n";
      fmt::print(row, "cycles", "FPS estimated", "FPS expected", "LUT", "BRAM18", "FF", "planning", "device",
                 "folding (PE,SIMD)");
      for (const auto& p : front)
        fmt::print("{:>8} {:>13.0f} {:>12.0f} {:>8} {:>7} {:>8} {:>9} {:>7}  {}\n", p.estimate.max_cycles,
                   p.estimate.fps.estimated, p.estimate.fps.expected, p.estimate.total.lut, p.estimate.total.bram18,
                   p.estimate.total.ff, p.fit.fits_planning ? "fits" : "no", p.fit.fits_device ? "fits" : "no",
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
      const auto d = fpga::set_folding(base, o, fpga::SetFoldingOptions{f->target_fps, f->width_cap, !f->no_rerun});
      result = fpga::evaluate(d, o, device, usable);
    }
    j["found"] = result.has_value();
    if (result) j["result"] = result->to_json();
    if (f->out.json) return print_json(j);
    if (!result) {
      fmt::print("{}: no folding fits {} within the usable shares, not even PE = SIMD = 1\n", source, device.name);
      return;
    }
    fmt::print("{} ({}): folding {}\n", source, j["mode"].get<std::string>(), folding_text(result->design));
    if (f->target_fps != 0 && result->estimate.fps.estimated < f->target_fps)
      fmt::print("target {:.0f} FPS (estimated) not reached: the slowest unit is at its limit\n", f->target_fps);
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
  auto* cmd = fpga_cmd->add_subcommand("grid", "Estimate every W x A combination of one or more topologies at one "
                                               "folding (the resource half of a Q1 sweep)");
  cmd->footer("Example: nemokd fpga grid -t tfc -t lfc --wbits 1-8 --abits 1-8 --pe 16 --simd 16 --csv grid.csv\n"
              "Every layer gets W weight bits and every hidden activation A bits; the input quantizer keeps\n"
              "--input/--input-bits (default: signed 8-bit, as the Q1 sweep trains).");
  f->model.add(cmd, true, true);
  f->dev.add(cmd, true);
  cmd->add_option("--csv", f->csv, "Write the table here");
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    const auto t0 = std::chrono::steady_clock::now();
    fpga::GridSpec spec;
    spec.model = f->model.topology_model(f->model.topologies.front());
    spec.topologies = f->model.topologies;
    spec.wbits = parse_int_ranges("--wbits", f->model.wbits);
    spec.abits = parse_int_ranges("--abits", f->model.abits);
    spec.folding = f->model.folding();
    spec.options = f->model.options();
    if (!f->csv.empty()) fpga::grid_csv(spec, {});  // a per-layer folding cannot go in the table: fail early
    const auto table = f->dev.table();
    const auto& device = table.find(f->dev.device);
    const auto rows = fpga::run_grid(spec, device, f->dev.fractions());
    if (!f->csv.empty()) fpga::write_grid_csv(f->csv, spec, rows);
    const double secs = seconds_since(t0);
    if (f->out.json) {
      auto j = fpga::grid_json(spec, rows);
      j["device"] = device.name;
      j["seconds"] = secs;
      j["fps_expected_basis"] = fpga::board_efficiency().basis();
      return print_json(j);
    }
    fmt::print("{} estimates in {:.3f} s{}\n", rows.size(), secs, f->csv.empty() ? "" : "; table: " + f->csv);
    for (const auto& topo : spec.topologies) {
      int planning = 0, on_device = 0, n = 0;
      for (const auto& r : rows)
        if (r.topology == topo) ++n, planning += r.hw.fit.fits_planning, on_device += r.hw.fit.fits_device;
      fmt::print("{} at PE {} SIMD {} on {}: {}/{} fit at FINN's planning shares, {}/{} fit the device "
                 "(Y both, d device only, . neither; rows W, columns A)\n     ",
                 topo, f->model.pe, f->model.simd, device.name, planning, n, on_device, n);
      for (int a : spec.abits) fmt::print(" A{:<2}", a);
      fmt::print("\n");
      for (int w : spec.wbits) {
        fmt::print("W{:<3}", w);
        for (int a : spec.abits)
          for (const auto& r : rows)
            if (r.topology == topo && r.wbits == w && r.abits == a)
              fmt::print("  {} ", r.hw.fit.fits_planning ? "Y" : r.hw.fit.fits_device ? "d" : ".");
        fmt::print("\n");
      }
    }
  });
}

void register_check(CLI::App* fpga_cmd) {
  auto out = std::make_shared<OutputFlags>();
  auto* cmd = fpga_cmd->add_subcommand("check", "The cost model against published FINN / BNN-PYNQ figures: resources "
                                                "(LUT, FF, BRAM18: estimate / published) and throughput (board "
                                                "measurements / estimate, the efficiency behind 'expected on board')");
  add_output_flags(cmd, *out);
  cmd->callback([out] {
    const auto checks = fpga::check_reference_designs();
    const auto& eff = fpga::board_efficiency();
    const auto variants = fpga::compare_lut_estimators();
    if (out->json) {
      nlohmann::json list = nlohmann::json::array(), vs = nlohmann::json::array();
      for (const auto& c : checks) list.push_back(c.to_json());
      for (const auto& v : variants) vs.push_back(v.to_json());
      return print_json({{"checks", list}, {"lut_estimators", vs}, {"throughput", eff.to_json()}});
    }
    auto ratio = [](const std::optional<double>& r) { return r ? fmt::format("{:.2f}", *r) : std::string("-"); };
    fmt::print("Resources (legacy formulas; ratio = estimate / published Vivado figure):\n");
    const auto row = "{:<22} {:>7} {:>13} {:>12} {:>8} {:>8} {:>6} {:>8} {:>8} {:>6} {:>7} {:>7} {:>6}\n";
    fmt::print(row, "design", "cycles", "FPS estimated", "FPS expected", "LUT est", "LUT pub", "ratio", "FF est",
               "FF pub", "ratio", "BRAM est", "BRAM pub", "ratio");
    for (const auto& c : checks) {
      auto pub = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
      fmt::print(row, c.name, c.estimate.max_cycles, fmt::format("{:.0f}", c.estimate.fps.estimated),
                 fmt::format("{:.0f}", c.estimate.fps.expected), c.estimate.total.lut, pub(c.synth_lut),
                 ratio(c.lut_ratio), c.estimate.total.ff, pub(c.synth_ff), ratio(c.ff_ratio), c.estimate.total.bram18,
                 pub(c.synth_bram18), ratio(c.bram_ratio));
    }
    fmt::print("\nLUT estimators over these designs (ratio = estimate / published; error = mean |ln ratio|):\n");
    for (const auto& v : variants) {
      std::vector<std::string> rs;
      for (double r : v.lut_ratio) rs.push_back(fmt::format("{:.2f}", r));
      fmt::print("{:<32} error {:.3f}  bias {:+.3f}  [{}]\n", v.name, v.lut_error, v.lut_bias, fmt::join(rs, " "));
    }
    fmt::print("default: {}\n", fpga::best_lut_estimator().name);
    fmt::print("\nThroughput (ratio = measured on the board / estimated at the measurement's clock):\n");
    const auto trow = "{:<30} {:<19} {:>8} {:>7} {:>13} {:>12} {:>6}  {}\n";
    fmt::print(trow, "measurement", "board", "MHz", "cycles", "FPS estimated", "FPS measured", "ratio", "");
    for (const auto& p : eff.pairs)
      fmt::print(trow, p.name, p.board, fmt::format("{:g}", p.fclk_mhz), p.max_cycles,
                 fmt::format("{:.0f}", p.estimated_fps), fmt::format("{:.0f}", p.measured_fps),
                 fmt::format("{:.3f}", p.ratio()), p.in_fit ? "" : "(not in the fit: " + p.note + ")");
    fmt::print("{}\n", eff.basis());
  });
}

void register_table(CLI::App* fpga_cmd) {
  struct Flags {
    std::string dir, float_run, pe = "16", simd = "16", device = "xc7z020", csv;
    double float_accuracy = NAN, fclk_mhz = 100;
    std::string formulas = "legacy", weight_mode = "decoupled";
    OutputFlags out;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = fpga_cmd->add_subcommand("table", "The paper's hardware table from a W x A sweep folder: accuracy loss vs "
                                                "a float reference, BRAM18/FF/LUT ranges and how many designs fit, by "
                                                "resource and by both verdicts");
  cmd->footer("Example (FINN's LFC folding, tests/end2end/test_end2end_bnn_pynq.py fold_lfc):\n"
              "  nemokd fpga table experiments/q1/lfc-runs --float-run experiments/q1/lfc-float/w32a32 \\\n"
              "      --pe 32,64,32,10 --simd 49,32,64,8\n"
              "Default folding: PE = SIMD = 16 on every layer (the sweeps' hardware columns).");
  cmd->add_option("dir", f->dir, "Sweep folder (results.csv, sweep.json)")->required();
  cmd->add_option("--float-run", f->float_run, "Run folder of the float reference (its final test accuracy)");
  cmd->add_option("--float-accuracy", f->float_accuracy, "Float reference test accuracy (0..1), instead of a run");
  cmd->add_option("--pe", f->pe, "PE per MVAU (or one for all)")->capture_default_str();
  cmd->add_option("--simd", f->simd, "SIMD per MVAU (or one for all)")->capture_default_str();
  cmd->add_option("--device", f->device, "FPGA part")->capture_default_str();
  cmd->add_option("--fclk-mhz", f->fclk_mhz, "Clock")->capture_default_str();
  cmd->add_option("--formulas", f->formulas, "legacy or current")->capture_default_str();
  cmd->add_option("--weight-mode", f->weight_mode, "embedded, decoupled or external")->capture_default_str();
  cmd->add_option("--csv", f->csv, "Write the per-cell table here");
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    fpga::SweepTableSpec spec;
    spec.folding = fpga::Folding{parse_int_list("--pe", f->pe), parse_int_list("--simd", f->simd)};
    spec.options.formulas = fpga::parse_formulas("--formulas", f->formulas);
    spec.options.weight_mode = fpga::parse_weight_mode("--weight-mode", f->weight_mode);
    spec.options.fclk_mhz = f->fclk_mhz;
    spec.options.validate();
    auto sweep = fpga::read_sweep_folder(f->dir);
    const auto& ds = data::dataset_spec(sweep.dataset);
    spec.input = models::InputShape{ds.channels, ds.height, ds.width};
    spec.classes = ds.classes;
    if (!f->float_run.empty() && !std::isnan(f->float_accuracy))
      throw ConfigError("--float-run, --float-accuracy: give one float reference");
    if (!f->float_run.empty()) {
      spec.float_accuracy = fpga::float_run_accuracy(f->float_run);
      spec.float_source = f->float_run;
    } else if (!std::isnan(f->float_accuracy)) {
      check_range("--float-accuracy", f->float_accuracy, 0, 1);
      spec.float_accuracy = f->float_accuracy;
      spec.float_source = "--float-accuracy";
    }
    const auto devices = fpga::load_device_table(fpga::default_device_table_path());
    const auto table = fpga::sweep_hw_table(sweep, spec, devices.find(f->device));
    if (!f->csv.empty()) fpga::write_sweep_table_csv(f->csv, table);
    if (f->out.json) return print_json(table.to_json());
    fmt::print("{}", table.markdown());
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
  register_table(fpga_cmd);
}

}  // namespace nemokd::cli
