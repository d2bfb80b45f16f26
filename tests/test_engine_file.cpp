// The .nqe file format (engine/model_file.h): exact round trips, packed size, and a clear DataError for every
// truncated, corrupt, foreign or invalid file — never a crash or an out-of-bounds read.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <gtest/gtest.h>
#include <zlib.h>

#include "core/error.h"
#include "engine/model_file.h"
#include "test_support.h"

namespace nemokd::engine {
namespace {

namespace fs = std::filesystem;

const Operand kBipolar{Encoding::bipolar, 1};
Operand u(int bits) { return {Encoding::unsigned_int, bits}; }
Operand s(int bits) { return {Encoding::signed_int, bits}; }

// What a model looks like: layer widths (sizes[0] = input pixels), the input stage and the operands.
struct ModelSpec {
  std::vector<int64_t> sizes;
  int64_t channels = 1;
  bool passthrough = true;
  Operand input = u(8);       // the input stage's output (u8 when pass-through)
  Operand weight = s(2);      // every layer's weights
  Operand activation = u(2);  // every hidden layer's output
  uint64_t seed = 1;
};

// A valid random model for `spec`: values over the whole operand range, ascending thresholds inside the
// accumulator range, and logit doubles that only survive a bit-exact format (-0, NaN payload, denormal, inf).
IntegerModel make_model(const ModelSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  IntegerModel m;
  m.source = "test model seed " + std::to_string(spec.seed) + " \xc3\xa9\n";
  m.input.channels = spec.channels;
  m.input.pixels_per_channel = spec.sizes[0] / spec.channels;
  m.input.passthrough = spec.passthrough;
  m.input.output = spec.passthrough ? u(8) : spec.input;
  if (!spec.passthrough)
    for (int64_t c = 0; c < spec.channels; ++c) {
      std::vector<uint16_t> t;
      for (int j = 0; j < m.input.output.levels() - 1; ++j) t.push_back(uint16_t(uniform(0, 256)));
      std::sort(t.begin(), t.end());
      m.input.thresholds.insert(m.input.thresholds.end(), t.begin(), t.end());
    }
  Operand prev = m.input.output;
  for (size_t i = 1; i < spec.sizes.size(); ++i) {
    Layer l;
    l.inputs = spec.sizes[i - 1];
    l.outputs = spec.sizes[i];
    l.input = prev;
    l.weight = spec.weight;
    l.is_output = i + 1 == spec.sizes.size();
    for (int64_t k = 0; k < l.inputs * l.outputs; ++k) {
      // u8 weights above 127 do not fit the model's int8 weights (a model cannot hold them at all).
      const int64_t v = uniform(l.weight.min_value(), std::min(l.weight.max_value(), 127));
      l.weights.push_back(int8_t(l.weight.encoding == Encoding::bipolar && v == 0 ? 1 : v));
    }
    const int64_t bound = l.accumulator_bound();
    if (l.is_output) {
      const double specials[] = {-0.0, std::numeric_limits<double>::denorm_min(),
                                 std::numeric_limits<double>::infinity(), std::nan("0x5a5a")};
      for (int64_t o = 0; o < l.outputs; ++o) {
        l.logit_scale.push_back(o < 4 ? specials[o] : std::ldexp(double(uniform(1, 1 << 30)), -37));
        l.logit_bias.push_back(std::ldexp(double(uniform(-(1 << 30), 1 << 30)), -31) + 1e-17);
      }
    } else {
      l.output = spec.activation;
      for (int64_t o = 0; o < l.outputs; ++o) {
        std::vector<int32_t> t;
        for (int j = 0; j < l.output.levels() - 1; ++j) t.push_back(int32_t(uniform(-bound, bound + 1)));
        std::sort(t.begin(), t.end());
        l.thresholds.insert(l.thresholds.end(), t.begin(), t.end());
      }
      prev = l.output;
    }
    m.layers.push_back(std::move(l));
  }
  validate(m);
  return m;
}

std::vector<uint64_t> bits_of(const std::vector<double>& v) {
  std::vector<uint64_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(double));
  return out;
}

void expect_same(const IntegerModel& a, const IntegerModel& b) {
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.input.channels, b.input.channels);
  EXPECT_EQ(a.input.pixels_per_channel, b.input.pixels_per_channel);
  EXPECT_EQ(a.input.height, b.input.height);
  EXPECT_EQ(a.input.width, b.input.width);
  EXPECT_EQ(a.input.passthrough, b.input.passthrough);
  EXPECT_EQ(a.input.output, b.input.output);
  EXPECT_EQ(a.input.thresholds, b.input.thresholds);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const Layer &x = a.layers[i], &y = b.layers[i];
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.in_map, y.in_map);
    EXPECT_EQ(x.kernel, y.kernel);
    EXPECT_EQ(x.stride, y.stride);
    EXPECT_EQ(x.padding, y.padding);
    EXPECT_EQ(x.pad_value, y.pad_value);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.outputs, y.outputs);
    EXPECT_EQ(x.input, y.input);
    EXPECT_EQ(x.weight, y.weight);
    EXPECT_EQ(x.output, y.output);
    EXPECT_EQ(x.is_output, y.is_output);
    EXPECT_EQ(x.weights, y.weights);
    EXPECT_EQ(x.thresholds, y.thresholds);
    EXPECT_EQ(bits_of(x.logit_scale), bits_of(y.logit_scale));  // bit-exact, NaN payloads and -0 included
    EXPECT_EQ(bits_of(x.logit_bias), bits_of(y.logit_bias));
  }
}

IntegerModel parse(const std::string& bytes, bool verify_checksum = true) {
  return deserialize(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "model.nqe",
                     DeserializeOptions{verify_checksum});
}

// The DataError message of parsing `bytes` ("" when it parses).
std::string parse_error(const std::string& bytes, bool verify_checksum = true) {
  try {
    parse(bytes, verify_checksum);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

// After a deliberate edit: a consistent CRC, so that the structural checks behind it are what is tested.
void fix_crc(std::string& bytes) {
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  const uint32_t crc = uint32_t(crc32(crc32(0L, Z_NULL, 0), p + 32, uInt(bytes.size() - 32)));
  for (int i = 0; i < 4; ++i) bytes[24 + i] = char(uint8_t(crc >> (8 * i)));
}

// A small CNN: input C x H x W -> conv (kernel, padding, pad value) -> 2x2 max-pool -> flatten -> output layer.
struct CnnSpec {
  int64_t channels, height, width, conv_channels, kernel, padding;
  int32_t pad_value;
  Operand input, weight, activation;
  uint64_t seed;
};

IntegerModel make_cnn(const CnnSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  IntegerModel m;
  m.source = "test cnn seed " + std::to_string(spec.seed);
  m.input.channels = spec.channels;
  m.input.height = spec.height;
  m.input.width = spec.width;
  m.input.pixels_per_channel = spec.height * spec.width;
  m.input.passthrough = false;
  m.input.output = spec.input;
  for (int64_t c = 0; c < spec.channels; ++c)
    for (int j = 0; j < spec.input.levels() - 1; ++j) m.input.thresholds.push_back(uint16_t(1 + j));
  Layer conv;
  conv.kind = LayerKind::conv;
  conv.in_map = m.input.map();
  conv.kernel = spec.kernel;
  conv.padding = spec.padding;
  conv.pad_value = spec.pad_value;
  conv.inputs = spec.channels * spec.kernel * spec.kernel;
  conv.outputs = spec.conv_channels;
  conv.input = spec.input;
  conv.weight = spec.weight;
  conv.output = spec.activation;
  for (int64_t k = 0; k < conv.inputs * conv.outputs; ++k) {
    const int64_t v = uniform(spec.weight.min_value(), spec.weight.max_value());
    conv.weights.push_back(int8_t(spec.weight.encoding == Encoding::bipolar && v == 0 ? 1 : v));
  }
  for (int64_t o = 0; o < conv.outputs; ++o)
    for (int j = 0; j < spec.activation.levels() - 1; ++j) conv.thresholds.push_back(int32_t(j));
  const MapShape after_conv = conv.output_map(conv.in_map);
  Layer pool;
  pool.kind = LayerKind::maxpool;
  pool.in_map = after_conv;
  pool.kernel = 2;
  pool.stride = 2;
  pool.input = pool.weight = pool.output = spec.activation;
  Layer flat = pool;
  flat.kind = LayerKind::flatten;
  flat.in_map = pool.output_map(after_conv);
  flat.kernel = 0;
  flat.stride = 1;
  Layer out;
  out.inputs = flat.in_map.size();
  out.outputs = 3;
  out.input = spec.activation;
  out.weight = spec.weight;
  out.output = spec.activation;
  out.is_output = true;
  for (int64_t k = 0; k < out.inputs * out.outputs; ++k) out.weights.push_back(int8_t(spec.weight.max_value()));
  out.logit_scale = {0.5, -0.25, 1.0};
  out.logit_bias = {0.0, 1.0, -1.0};
  m.layers = {conv, pool, flat, out};
  validate(m);
  return m;
}

ModelSpec small_spec() { return {{12, 5, 3}, 1, false, u(2), s(3), u(2), 7}; }

TEST(EngineFile, RoundTripsEveryOperandKind) {
  std::vector<ModelSpec> specs = {
      {{784, 64, 10}, 1, true, u(8), s(2), u(2), 1},
      {{13, 7, 5, 3}, 1, false, u(1), kBipolar, kBipolar, 2},     // sizes not multiples of 8
      {{3 * 5, 9, 2}, 3, false, s(4), u(3), s(5), 3},              // three channels
      {{11}, 1, true, u(8), s(8), u(8), 4},                        // only an output layer (no weights row)
  };
  specs.back().sizes.push_back(4);
  for (int bits = 1; bits <= 8; ++bits) {
    specs.push_back({{17, 6, 3}, 1, false, u(bits), u(bits), u(bits), uint64_t(10 + bits)});
    if (bits >= 2) specs.push_back({{9, 11, 5}, 1, false, s(bits), s(bits), s(bits), uint64_t(20 + bits)});
  }
  for (const ModelSpec& spec : specs) {
    SCOPED_TRACE("seed " + std::to_string(spec.seed));
    const IntegerModel m = make_model(spec);
    const std::string bytes = serialize(m);
    const IntegerModel back = parse(bytes);
    expect_same(m, back);
    EXPECT_EQ(serialize(back), bytes);  // one model, one file
  }
}

TEST(EngineFile, FileIsAboutThePackedSize) {
  // 784-64-64-64-10, 2-bit weights and activations: 59008 weights x 2 bits = 14752 bytes, plus 3 x 64 x 3
  // int32 thresholds (2304 bytes) and 10 scale/bias pairs.
  const IntegerModel m = make_model({{784, 64, 64, 64, 10}, 1, false, u(2), s(2), u(2), 5});
  const std::string bytes = serialize(m);
  EXPECT_LT(bytes.size(), 20000u);
  EXPECT_GT(bytes.size(), 14752u + 2304u + 160u);
  // Fixed fields: header 32, input section 8 + 24 + its 3 thresholds, per layer 8 + 16 + 8 (counts) + 32 (map,
  // kernel, padding), the source section 8.
  EXPECT_LT(bytes.size(), 14752u + 2304u + 160u + 32u + 38u + 4u * 64u + 8u + m.source.size() + 8u);
  // 1-bit weights: an eighth of a byte each.
  const IntegerModel b = make_model({{784, 256, 10}, 1, false, kBipolar, kBipolar, kBipolar, 6});
  EXPECT_LT(serialize(b).size(), (784 * 256 + 256 * 10) / 8 + 256 * 4 + 400);
}

TEST(EngineFile, EveryTruncationIsADataError) {
  const std::string bytes = serialize(make_model(small_spec()));
  for (size_t n = 0; n < bytes.size(); ++n) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
    const std::string message = parse_error(bytes.substr(0, n));
    EXPECT_EQ(message.rfind("model.nqe: ", 0), 0u) << message;
    if (n > 0) {
      EXPECT_NE(message.find("truncated"), std::string::npos) << message;
    }
  }
  // The message names the part that is missing.
  const IntegerModel m = make_model({{64, 64, 10}, 1, true, u(8), u(8), u(8), 8});
  const std::string big = serialize(m);
  // Header 32, input section 8 + 24, layer 0 section size 8 + 16 fixed bytes: cut 17 bytes into the weights.
  const size_t weights_at = 32 + 8 + 24 + 8 + 16;
  EXPECT_EQ(parse_error(big.substr(0, weights_at + 17)),
            "model.nqe: truncated: layer 0 weights need 4096 bytes, 17 left");
}

TEST(EngineFile, FlippedBitsAreDataErrorsNeverCrashes) {
  const std::string bytes = serialize(make_model(small_spec()));
  for (size_t at = 0; at < bytes.size(); ++at)
    for (const uint8_t mask : {0x01, 0x10, 0x80, 0xff}) {
      std::string bad = bytes;
      bad[at] = char(uint8_t(bad[at]) ^ mask);
      SCOPED_TRACE("byte " + std::to_string(at) + " ^ " + std::to_string(mask));
      // With the checksum every change is caught (the header's fields are each checked, the CRC covers the rest).
      EXPECT_NE(parse_error(bad), "");
      // Without it (the fuzzer's mode), the structural checks and validate() still see every change that
      // does not happen to describe another valid model; neither may crash or read out of bounds.
      const std::string unchecked = parse_error(bad, false);
      const bool in_crc = at >= 24 && at < 28;
      if (unchecked.empty()) {
        EXPECT_TRUE(at >= 32 || in_crc) << "a changed header must not parse";
      }
    }
  std::string bad = bytes;
  bad[bytes.size() - 1] ^= 0x01;  // inside the source text: only the checksum notices
  EXPECT_EQ(parse_error(bad), "model.nqe: checksum mismatch (file corrupt)");
  EXPECT_EQ(parse_error(bad, false), "");
}

TEST(EngineFile, ForeignFilesAndOtherVersions) {
  std::string bytes = serialize(make_model(small_spec()));
  EXPECT_EQ(parse_error(""), "model.nqe: empty file (not a nemokd integer model)");
  EXPECT_EQ(parse_error("P5\n28 28\n255\n"), "model.nqe: not a nemokd integer model (bad magic)");
  EXPECT_EQ(parse_error("NEMO"), "model.nqe: truncated: the header needs 32 bytes, 4 left");
  std::string v7 = bytes;
  v7[8] = 7;
  EXPECT_EQ(parse_error(v7), "model.nqe: format version 7, this build reads versions 1 to 2 (written by a newer "
                             "nemokd?)");
  std::string v0 = bytes;
  v0[8] = 0;
  EXPECT_EQ(parse_error(v0), "model.nqe: format version 0, this build reads versions 1 to 2");
  EXPECT_EQ(parse_error(bytes + "x"), "model.nqe: the file has " + std::to_string(bytes.size() + 1) +
                                          " bytes, 1 more than the header declares (corrupt)");
  std::string huge = bytes;
  huge[16 + 5] = 0x7f;  // total size ~ 2^46
  EXPECT_NE(parse_error(huge).find("more than the"), std::string::npos) << parse_error(huge);
}

TEST(EngineFile, StructuralDefectsBehindAValidChecksum) {
  const std::string bytes = serialize(make_model(small_spec()));
  auto with = [&](size_t at, uint8_t value) {
    std::string b = bytes;
    b[at] = char(value);
    fix_crc(b);
    return parse_error(b);
  };
  // Input section: flag at 40, operand at 41/42, reserved at 43, channels at 44.
  EXPECT_EQ(with(40, 2), "model.nqe: input stage: pass-through flag is 2, must be 0 or 1");
  EXPECT_EQ(with(41, 9), "model.nqe: input stage: invalid output operand (encoding 9, 2 bits)");
  EXPECT_EQ(with(43, 1), "model.nqe: input stage: reserved byte is 1, must be 0");
  EXPECT_EQ(with(48, 13), "model.nqe: layer 0: 12 inputs, but the previous stage produces 13");
  // Layer 0's threshold count after its section size (8), fixed fields (16), 60 weights x 3 bits (23 bytes);
  // behind the 15 thresholds only the logit count (4 bytes) and the map fields (32) are left.
  const size_t layer0 = 32 + 8 + 16 + 3 * 2 + 8;  // the input stage holds 3 u16 thresholds, then height, width
  EXPECT_EQ(with(layer0 + 8 + 16 + 23, 0xff),
            "model.nqe: layer 0: thresholds need 1020 bytes, but its section has 96 left (corrupt)");
  // The map fields at the end of layer 0's section: kind (after 60 threshold and 4 count bytes), reserved.
  const size_t kind_at = layer0 + 8 + 16 + 23 + 4 + 60 + 4;
  EXPECT_EQ(with(kind_at, 9), "model.nqe: layer 0: unknown layer kind 9");
  EXPECT_EQ(with(kind_at + 1, 1), "model.nqe: layer 0: reserved byte is 1, must be 0");
  EXPECT_EQ(with(kind_at, 1).rfind("model.nqe: layer 0: reads a 0x1x1 map", 0), 0u) << with(kind_at, 1);
  // A declared layer count larger than the layers there: the source section is read as layer 2.
  EXPECT_EQ(with(28, 3).rfind("model.nqe: layer 2: ", 0), 0u) << with(28, 3);
}

TEST(EngineFile, ValuesOutsideTheOperandRangeAreRejected) {
  IntegerModel m = make_model(small_spec());  // s3 weights: -3..3
  m.layers[0].weights[5] = 4;
  EXPECT_THROW(validate(m), DataError);
  EXPECT_THROW(serialize(m), DataError);  // never written
  m.layers[0].weights[5] = 3;
  m.layers[1].weights[0] = 2;
  m.layers[1].weight = kBipolar;
  EXPECT_THROW(serialize(m), DataError);

  // In a file: the s3 code 0b100 (-4) exists in two's complement, but is outside the narrow range.
  const std::string good = serialize(make_model(small_spec()));
  const size_t weights_at = 32 + 8 + 16 + 3 * 2 + 8 + 8 + 16;
  std::string bad = good;
  bad[weights_at] = char((uint8_t(bad[weights_at]) & ~0x07) | 0x04);
  fix_crc(bad);
  EXPECT_EQ(parse_error(bad), "model.nqe: layer 0: weight 0 = -4 is outside s3");
  // Input thresholds must be <= 256, hidden thresholds ascending.
  bad = good;
  bad[32 + 8 + 16 + 1] = 0x02;  // first input threshold += 512
  fix_crc(bad);
  EXPECT_NE(parse_error(bad).find("(> 256)"), std::string::npos) << parse_error(bad);
}

TEST(EngineFile, SaveIsAtomicAndLoadNamesThePath) {
  testing::TempDir dir;
  const std::string path = dir.file("model.nqe");
  const IntegerModel m = make_model(small_spec());
  save_model(m, path);
  expect_same(m, load_model(path));

  // A failed save (invalid model) leaves the previous file as it was and no temp file behind.
  const auto before = fs::file_size(path);
  IntegerModel invalid = m;
  invalid.layers.back().logit_bias.pop_back();
  EXPECT_THROW(save_model(invalid, path), DataError);
  EXPECT_EQ(fs::file_size(path), before);
  expect_same(m, load_model(path));
  // A folder that does not exist: the error names the path, nothing is created.
  const std::string nowhere = dir.file("missing/model.nqe");
  try {
    save_model(m, nowhere);
    FAIL() << "saved into a missing folder";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(nowhere), std::string::npos) << e.what();
  }
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) entries += e.path().filename() == "model.nqe" ? 0 : 1;
  EXPECT_EQ(entries, 0u) << "temp files left behind";

  try {
    load_model(dir.file("absent.nqe"));
    FAIL() << "loaded a missing file";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("absent.nqe")), std::string::npos) << e.what();
  }
  // A corrupt file on disk: the message starts with its path.
  std::string bytes = serialize(m);
  bytes[bytes.size() / 2] ^= 0x40;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    load_model(path);
    FAIL() << "loaded a corrupt file";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": checksum mismatch (file corrupt)");
  }
  EXPECT_THROW(load_model(dir.path()), DataError);  // a folder
}

// Version 2 carries the layer kinds: conv (kernel, padding, pad value), max-pool (window, stride), flatten, and
// the image shape.
TEST(EngineFile, ConvolutionalModelsRoundTrip) {
  const std::vector<CnnSpec> specs = {
      {3, 8, 8, 20, 3, 1, 0, kBipolar, kBipolar, kBipolar, 41},  // zero padding of bipolar values
      {1, 9, 7, 5, 3, 2, -7, s(4), s(2), u(2), 42},              // a padded input (pad value = lowest code)
      {2, 6, 6, 33, 1, 0, 0, u(3), u(5), s(3), 43},
  };
  for (const auto& spec : specs) {
    SCOPED_TRACE("seed " + std::to_string(spec.seed));
    const IntegerModel m = make_cnn(spec);
    const std::string bytes = serialize(m);
    const IntegerModel back = parse(bytes);
    expect_same(m, back);
    EXPECT_EQ(serialize(back), bytes);
  }
}

// Files written by the first release (format version 1: dense layers only, no image shape; the fuzzer's seeds
// of that time, kept in tests/data/nqe-v1) still load, as the models they were written from.
TEST(EngineFile, Version1FilesStillLoad) {
  const std::vector<std::pair<std::string, ModelSpec>> v1 = {
      {"passthrough_u8_s2.nqe", {{6, 3, 2}, 1, true, u(8), s(2), u(2), 31}},
      {"bipolar.nqe", {{9, 5, 4, 2}, 1, false, kBipolar, kBipolar, kBipolar, 32}},
      {"channels_u3_s5.nqe", {{2 * 3, 4, 3}, 2, false, u(3), s(5), s(4), 33}},
      {"output_only_u1.nqe", {{7, 3}, 1, false, u(1), u(1), u(1), 34}},
      {"s8_u3.nqe", {{5, 3, 2}, 1, false, s(3), s(8), u(3), 35}},
  };
  for (const auto& [name, spec] : v1) {
    SCOPED_TRACE(name);
    const std::string path = std::string(NEMOKD_TEST_DATA) + "/nqe-v1/" + name;
    std::ifstream f(path, std::ios::binary);
    ASSERT_TRUE(f) << path;
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_EQ(bytes[8], 1) << "not a version-1 file";
    const IntegerModel m = load_model(path);
    expect_same(make_model(spec), m);
    EXPECT_EQ(m.input.height, 0);  // a row of pixels
    for (const auto& l : m.layers) EXPECT_EQ(l.kind, LayerKind::dense);
    EXPECT_EQ(serialize(m)[8], 2) << "written again as version 2";
  }
}

TEST(EngineFile, ConvolutionalDefectsAreNamed) {
  const IntegerModel good = make_cnn({1, 6, 6, 4, 3, 0, 0, u(2), s(2), u(2), 44});
  auto message = [](const IntegerModel& m) {
    try {
      validate(m);
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  IntegerModel m = good;
  m.layers.erase(m.layers.begin() + 2);  // no flatten
  EXPECT_EQ(message(m), "layer 2: a dense layer after a conv/max-pool layer needs a flatten layer first");
  m = good;
  m.layers[0].pad_value = 9;
  EXPECT_EQ(message(m), "layer 0: pad value 9 is neither 0 nor a u2 value");
  m = good;
  m.layers[0].padding = 3;
  EXPECT_NE(message(m).find("bad convolution"), std::string::npos) << message(m);
  m = good;
  m.layers[1].in_map.height = 5;
  EXPECT_EQ(message(m), "layer 1: reads a 4x5x4 map, but the previous stage produces 4x4x4");
  m = good;
  m.layers[1].output = u(3);
  EXPECT_NE(message(m).find("passes u2 codes on"), std::string::npos) << message(m);
  m = good;
  std::swap(m.layers[1], m.layers[2]);  // flatten, then a max-pool on a vector
  EXPECT_NE(message(m), "");
  m = good;
  m.layers.back().kind = LayerKind::conv;
  EXPECT_NE(message(m).find("the output layer must be dense"), std::string::npos) << message(m);
}

// Writes the fuzzer's seed corpus (fuzz/corpus/) when NEMOKD_WRITE_FUZZ_CORPUS names a folder:
//   NEMOKD_WRITE_FUZZ_CORPUS=fuzz/corpus build/tests/test_engine_file --gtest_filter='*Seed*'
// Small models (the fuzzer mutates bytes; big seeds only slow it down) covering every operand kind.
TEST(EngineFile, SeedCorpus) {
  const std::vector<std::pair<std::string, ModelSpec>> seeds = {
      {"passthrough_u8_s2.nqe", {{6, 3, 2}, 1, true, u(8), s(2), u(2), 31}},
      {"bipolar.nqe", {{9, 5, 4, 2}, 1, false, kBipolar, kBipolar, kBipolar, 32}},
      {"channels_u3_s5.nqe", {{2 * 3, 4, 3}, 2, false, u(3), s(5), s(4), 33}},
      {"output_only_u1.nqe", {{7, 3}, 1, false, u(1), u(1), u(1), 34}},
      {"s8_u3.nqe", {{5, 3, 2}, 1, false, s(3), s(8), u(3), 35}},
  };
  const std::vector<std::pair<std::string, CnnSpec>> cnn_seeds = {
      {"v2_cnn_bipolar_pad.nqe", {2, 5, 5, 3, 3, 1, 0, kBipolar, kBipolar, kBipolar, 36}},
      {"v2_cnn_s3_padded_input.nqe", {1, 4, 4, 2, 3, 2, -3, s(3), s(2), u(2), 37}},
  };
  const char* out = std::getenv("NEMOKD_WRITE_FUZZ_CORPUS");
  for (const auto& [name, spec] : cnn_seeds) {
    const std::string bytes = serialize(make_cnn(spec));
    EXPECT_LT(bytes.size(), 768u) << name;
    expect_same(make_cnn(spec), parse(bytes));
    if (out) {
      fs::create_directories(out);
      std::ofstream(fs::path(out) / name, std::ios::binary) << bytes;
    }
  }
  for (const auto& [name, spec] : seeds) {
    const std::string bytes = serialize(make_model(spec));
    EXPECT_LT(bytes.size(), 640u) << name;
    expect_same(make_model(spec), parse(bytes));
    if (out) {
      fs::create_directories(out);
      std::ofstream(fs::path(out) / name, std::ios::binary) << bytes;
    }
  }
}

}  // namespace
}  // namespace nemokd::engine
