// A stand-in for an accelerator's benchmark tool (OpenVINO's benchmark_app, trtexec): loads an ONNX file with
// OpenCV's DNN module — an ONNX consumer independent of nemokd — runs it on a zero input of the graph's shape, and
// prints "Latency: <median> ms" the way such tools do. Used by tests/cli/test_cli.sh as the command of
// `nemokd latency --probe command:...`.
//   onnx_latency MODEL.onnx [RUNS=20] [C H W]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <opencv2/dnn.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: onnx_latency MODEL.onnx [RUNS] [C H W]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 20;
  const int c = argc > 5 ? std::atoi(argv[3]) : 1, h = argc > 5 ? std::atoi(argv[4]) : 28,
            w = argc > 5 ? std::atoi(argv[5]) : 28;
  try {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(argv[1]);
    const int shape[4] = {1, c, h, w};
    cv::Mat input(4, shape, CV_32F, cv::Scalar(0));
    std::vector<double> ms;
    for (int i = 0; i < runs + 3; ++i) {
      net.setInput(input);
      const auto t0 = std::chrono::steady_clock::now();
      cv::Mat out = net.forward();
      const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (out.total() == 0) {
        std::fprintf(stderr, "onnx_latency: empty output\n");
        return 1;
      }
      if (i >= 3) ms.push_back(t);  // 3 warm-up runs
    }
    std::sort(ms.begin(), ms.end());
    std::printf("onnx_latency: %s, %d runs\nLatency: %.4f ms\n", argv[1], runs, ms[ms.size() / 2]);
  } catch (const cv::Exception& e) {
    std::fprintf(stderr, "onnx_latency: cannot run %s: %s\n", argv[1], e.what());
    return 1;
  }
  return 0;
}
