#include "hw/fpga/calibration.h"

#include <cmath>

#include <fmt/format.h>

#include "hw/fpga/reference.h"

namespace nemokd::hw::fpga {

namespace {

BoardMeasurement pair(const std::string& name, const ReferenceDesign& r, const std::string& board,
                      const std::string& source, double fclk_mhz, double measured_fps, int batch, bool in_fit = true,
                      const std::string& note = "") {
  BoardMeasurement m;
  m.name = name;
  m.design = r.name;
  m.board = board;
  m.source = source;
  m.fclk_mhz = fclk_mhz;
  m.measured_fps = measured_fps;
  m.batch = batch;
  m.in_fit = in_fit;
  m.note = note;
  CostOptions o = r.options;
  o.fclk_mhz = fclk_mhz;
  m.max_cycles = max_cycles(r.design, o);
  m.estimated_fps = fclk_mhz * 1e6 / double(m.max_cycles);
  return m;
}

BoardEfficiency compute() {
  const std::string finn = "Xilinx/finn@", fx = "Xilinx/finn-examples@", bp = "Xilinx/BNN-PYNQ@d39c1c75 ";
  const auto tfc = finn_tfc_w1a1(), mlp = finn_validation_mlp(), cnv = finn_examples_cnv_w1a1(false),
             gtsrb = finn_examples_cnv_w1a1(true);
  BoardEfficiency e;
  e.pairs = {
      pair("finn-v0.3b-tfc-w1a1", tfc, "PYNQ-Z1",
           finn + "v0.3b notebooks/end2end_example/tfc_end2end_example.ipynb (throughput test)", 100, 676937.378954164,
           0, true, "FINN v0.3b build flow; batch size not printed"),
      pair("finn-v0.7-tfc-w1a1", tfc, "PYNQ-Z1",
           finn + "v0.7 notebooks/end2end_example/bnn-pynq/tfc_end2end_example.ipynb (throughput_test_remote, N 10000; "
                  "same figure v0.4b-v0.7)",
           100, 958413.2714850444, 10000),
      pair("finn-v0.7-cybsec-mlp-w2a2", mlp, "PYNQ-Z1",
           finn + "v0.7 notebooks/end2end_example/cybersecurity/3-build-accelerator-with-finn.ipynb (driver "
                  "throughput_test, batch 1000)",
           100, 943176.0737575893, 1000),
      pair("finn-examples-tfc-w1a1", tfc, "PYNQ-Z1",
           fx + "2cf16436 finn_examples/notebooks/0_mnist_with_fc_networks.ipynb (throughput_test, batch 1000)", 99.999,
           837019.3574136898, 1000),
      pair("finn-examples-cnv-w1a1", cnv, "PYNQ-Z1",
           fx + "2cf16436 finn_examples/notebooks/1_cifar10_with_cnv_networks.ipynb (throughput_test, batch 1000)",
           99.999, 3020.496696706212, 1000),
      pair("finn-examples-cybsec-mlp-w2a2", mlp, "PYNQ-Z1",
           fx + "2cf16436 finn_examples/notebooks/6_cybersecurity_with_mlp.ipynb (throughput_test, batch 1000); "
                "built with target_fps 1e6 (build/cybersecurity-mlp/build.py), whose SetFolding gives the v0.7 "
                "folding",
           100, 926918.0110497237, 1000),
      pair("finn-examples-cnv-w1a1-gtsrb", gtsrb, "PYNQ-Z1",
           fx + "0d685df8 finn_examples/notebooks/7_traffic_sign_recognition_gtsrb.ipynb (throughput_test, batch 100)",
           100, 2886.7106684928112, 100),
      pair("bnn-pynq-cnv-w1a1-testset", bnn_pynq_cnv(1, 1), "Ultra96 (inferred)",
           bp + "notebooks/CNV-QNN_Cifar10_Testset.ipynb (10,000 images)", 299, 9149.98, 10000, false,
           "board/clock not stated; the rate is 3x what 100 MHz allows, so the Ultra96 bitstream's 299 MHz is "
           "assumed (bnn/src/library/script/ultra96/make-vivado-proj.tcl)"),
      pair("bnn-pynq-cnv-w2a2-testset", bnn_pynq_cnv(2, 2), "Ultra96 (inferred)",
           bp + "notebooks/CNV-QNN_Cifar10_Testset.ipynb (10,000 images)", 299, 2580.30, 10000, false,
           "as above"),
      pair("bnn-pynq-lfc-w1a1-mnist", bnn_pynq_lfc(1), "Ultra96 (inferred)",
           bp + "notebooks/LFC-QNN_MNIST.ipynb (10,000 images)", 299, 356633.39, 10000, false, "as above"),
  };
  double sum = 0, sq = 0;
  e.min = 1e300;
  e.max = -1e300;
  for (const auto& p : e.pairs) {
    if (!p.in_fit) continue;
    ++e.used;
    sum += p.ratio();
    e.min = std::min(e.min, p.ratio());
    e.max = std::max(e.max, p.ratio());
  }
  e.mean = sum / e.used;
  for (const auto& p : e.pairs)
    if (p.in_fit) sq += (p.ratio() - e.mean) * (p.ratio() - e.mean);
  e.sd = e.used > 1 ? std::sqrt(sq / (e.used - 1)) : 0;
  return e;
}

}  // namespace

nlohmann::json BoardMeasurement::to_json() const {
  return {{"name", name},       {"design", design},         {"board", board},     {"source", source},
          {"fclk_mhz", fclk_mhz}, {"measured_fps", measured_fps}, {"batch", batch}, {"in_fit", in_fit},
          {"note", note},       {"max_cycles", max_cycles}, {"fps_estimated", estimated_fps}, {"ratio", ratio()}};
}

std::string BoardEfficiency::basis() const {
  return fmt::format("expected on board = estimated x {:.2f} (sd {:.2f}, range {:.2f}-{:.2f}, {} published board "
                     "measurements of FINN designs; docs/FPGA.md)",
                     mean, sd, min, max, used);
}

nlohmann::json BoardEfficiency::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : pairs) list.push_back(p.to_json());
  return {{"mean", mean}, {"sd", sd}, {"min", min}, {"max", max}, {"pairs_in_fit", used}, {"pairs", list},
          {"basis", basis()}};
}

const BoardEfficiency& board_efficiency() {
  static const BoardEfficiency e = compute();
  return e;
}

}  // namespace nemokd::hw::fpga
