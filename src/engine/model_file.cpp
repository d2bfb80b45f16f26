#include "engine/model_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"

namespace nemokd::engine {
namespace {

constexpr char kMagic[8] = {'N', 'E', 'M', 'O', 'K', 'D', 'Q', 'E'};
constexpr size_t kHeaderBytes = 32;
// Header field offsets (see the layout in model_file.h).
constexpr size_t kVersionAt = 8, kHeaderSizeAt = 12, kTotalAt = 16, kCrcAt = 24, kLayerCountAt = 28;

uint32_t crc_of(const uint8_t* data, size_t n) { return crc32_of(data, n); }

uint64_t load_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

// The same rule validate() applies, needed here before validate() runs: the weight operand decides how many
// bits each packed code has, and the output layer's (otherwise unused) output operand must fit the file too.
bool operand_ok(const Operand& o) {
  switch (o.encoding) {
    case Encoding::bipolar: return o.bits == 1;
    case Encoding::unsigned_int: return o.bits >= 1 && o.bits <= 8;
    case Encoding::signed_int: return o.bits >= 2 && o.bits <= 8;
  }
  return false;
}

int code_bits(const Operand& o) { return o.encoding == Encoding::bipolar ? 1 : o.bits; }

// Code of a (validated) weight value: bipolar 1 = +1; unsigned the value; signed b-bit two's complement.
uint32_t code_of(int8_t value, const Operand& o) {
  if (o.encoding == Encoding::bipolar) return value > 0 ? 1u : 0u;
  return uint32_t(uint8_t(value)) & ((uint32_t(1) << o.bits) - 1);
}

// Inverse of code_of, as int32 so that no code is lost before the range check (u8 codes >= 128 do not fit
// int8_t; the signed code -2^(b-1) is outside the narrow range).
int32_t value_of(uint32_t code, const Operand& o) {
  switch (o.encoding) {
    case Encoding::bipolar: return code ? 1 : -1;
    case Encoding::unsigned_int: return int32_t(code);
    case Encoding::signed_int:
      return code >= (uint32_t(1) << (o.bits - 1)) ? int32_t(code) - (int32_t(1) << o.bits) : int32_t(code);
  }
  return 0;
}

uint64_t packed_bytes(uint64_t count, int bits) { return (count * uint64_t(bits) + 7) / 8; }

// ---- writing ----------------------------------------------------------------------------------------------

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(char(v)); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void i32(int32_t v) { le(uint32_t(v), 4); }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    u64(bits);
  }
  void operand(const Operand& o) {
    u8(uint8_t(o.encoding));
    u8(uint8_t(o.bits));
  }
  // A section's body follows a u64 size, patched in by end_section.
  size_t begin_section() {
    u64(0);
    return out_.size();
  }
  void end_section(size_t body_at) { patch(body_at - 8, out_.size() - body_at, 8); }
  void patch(size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_[at + i] = char(uint8_t(v >> (8 * i)));
  }
  std::string& bytes() { return out_; }

 private:
  void le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) u8(uint8_t(v >> (8 * i)));
  }
  std::string out_;
};

void write_weights(Writer& w, const Layer& l) {
  const int bits = code_bits(l.weight);
  uint64_t acc = 0;  // pending bits, least significant first
  int pending = 0;
  for (const int8_t v : l.weights) {
    acc |= uint64_t(code_of(v, l.weight)) << pending;
    pending += bits;
    for (; pending >= 8; pending -= 8, acc >>= 8) w.u8(uint8_t(acc));
  }
  if (pending > 0) w.u8(uint8_t(acc));
}

// ---- reading ----------------------------------------------------------------------------------------------

// Bounds-checked cursor over the file bytes. Two limits matter: the bytes actually present (`size_`) and
// the section being read. A read past the bytes present is "truncated"; a read past a section's declared
// end while the bytes are there means a corrupt size or count.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, uint64_t total, const std::string& file)
      : data_(data), size_(size), total_(total), file_(file) {}

  [[noreturn]] void fail(const std::string& what) const { throw DataError(file_ + ": " + what); }

  size_t pos() const { return pos_; }

  void open_section(std::string where) {
    where_ = std::move(where);
    in_section_ = false;
    limit_ = size_;
    cut_ = size_ < total_;
    const uint64_t body = u64("section size");
    // Compare against what is left rather than adding: `body` is untrusted and could overflow pos_ + body.
    if (body > total_ - pos_)
      fail(fmt::format("{}: section of {} bytes, but the file declares only {} more (corrupt)", where_, body,
                       total_ - pos_));
    section_end_ = pos_ + body;
    limit_ = std::min<uint64_t>(section_end_, size_);
    cut_ = section_end_ > size_;
    in_section_ = true;
  }

  void close_section() {
    if (pos_ != section_end_) {
      if (cut_)
        fail(fmt::format("truncated: {} needs {} more bytes, {} left", where_, section_end_ - pos_, size_ - pos_));
      fail(fmt::format("{}: {} unused bytes at the end of its section (corrupt)", where_, section_end_ - pos_));
    }
    in_section_ = false;
    limit_ = size_;
    cut_ = size_ < total_;
  }

  // Checks that `n` bytes are there for `what`, returns them and moves past.
  const uint8_t* take(uint64_t n, const char* what) {
    const uint64_t left = limit_ - pos_;
    if (n > left) {
      const char* verb = what[std::strlen(what) - 1] == 's' ? "need" : "needs";
      if (cut_)
        fail(fmt::format("truncated: {} {} {} {} byte{}, {} left", where_, what, verb, n, n == 1 ? "" : "s", left));
      fail(fmt::format("{}: {} {} {} byte{}, but its {} has {} left (corrupt)", where_, what, verb, n,
                       n == 1 ? "" : "s", in_section_ ? "section" : "file", left));
    }
    const uint8_t* p = data_ + pos_;
    pos_ += size_t(n);
    return p;
  }

  uint8_t u8(const char* what) { return *take(1, what); }
  uint16_t u16(const char* what) { return uint16_t(load_le(take(2, what), 2)); }
  uint32_t u32(const char* what) { return uint32_t(load_le(take(4, what), 4)); }
  uint64_t u64(const char* what) { return load_le(take(8, what), 8); }

  bool flag(const char* what) {
    const uint8_t v = u8(what);
    if (v > 1) fail(fmt::format("{}: {} is {}, must be 0 or 1", where_, what, v));
    return v == 1;
  }
  void reserved() {
    const uint8_t v = u8("reserved byte");
    if (v != 0) fail(fmt::format("{}: reserved byte is {}, must be 0", where_, v));
  }
  Operand operand(const char* what) {
    const uint8_t encoding = u8(what), bits = u8(what);
    const Operand o{Encoding(encoding), bits};
    if (!operand_ok(o)) fail(fmt::format("{}: invalid {} (encoding {}, {} bits)", where_, what, encoding, bits));
    return o;
  }
  // The rest of the current section (the source text): its bytes, checked to be there.
  std::string rest(const char* what) {
    const uint64_t n = section_end_ - pos_;
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), size_t(n));
  }

 private:
  const uint8_t* data_;
  size_t size_;
  uint64_t total_;
  const std::string& file_;
  size_t pos_ = kHeaderBytes;
  uint64_t limit_ = 0, section_end_ = 0;
  bool in_section_ = false;
  bool cut_ = false;  // the current limit is where the bytes run out, before the declared end: truncation
  std::string where_ = "payload";
};

void read_input_stage(Reader& r, InputStage& in, uint32_t version) {
  r.open_section("input stage");
  in.passthrough = r.flag("pass-through flag");
  in.output = r.operand("output operand");
  r.reserved();
  in.channels = r.u32("channels");
  in.pixels_per_channel = r.u32("pixels per channel");
  // Every count is checked against the bytes there (take) before anything is allocated for it.
  const uint32_t n = r.u32("threshold count");
  const uint8_t* p = r.take(uint64_t(n) * 2, "thresholds");
  in.thresholds.resize(n);
  for (uint32_t k = 0; k < n; ++k) in.thresholds[k] = uint16_t(load_le(p + 2 * k, 2));
  if (version >= 2) {
    in.height = r.u32("image height");
    in.width = r.u32("image width");
  }
  r.close_section();
}

void read_weights(Reader& r, Layer& l, const std::string& where) {
  const uint64_t count = uint64_t(l.inputs) * uint64_t(l.outputs);  // both < 2^32: no overflow
  const int bits = code_bits(l.weight);
  // Even bipolar codes take count / 8 bytes: a count beyond 8x the file limit cannot be there, and capping it
  // keeps count * bits from overflowing.
  if (count > kMaxModelFileBytes * 8)
    r.fail(fmt::format("{}: {} x {} weights cannot fit in a model file", where, l.outputs, l.inputs));
  const uint64_t nbytes = packed_bytes(count, bits);
  const uint8_t* p = r.take(nbytes, "weights");  // checked before the allocation below
  l.weights.resize(size_t(count));
  const uint32_t mask = (uint32_t(1) << bits) - 1;
  uint64_t acc = 0;
  int pending = 0;
  size_t next = 0;
  for (uint64_t k = 0; k < count; ++k) {
    if (pending < bits) {
      acc |= uint64_t(p[next++]) << pending;
      pending += 8;
    }
    const int32_t v = value_of(uint32_t(acc) & mask, l.weight);
    acc >>= bits;
    pending -= bits;
    if (v < -128 || v > 127) r.fail(fmt::format("{}: weight {} = {} does not fit int8", where, k, v));
    l.weights[k] = int8_t(v);
  }
  if (acc != 0) r.fail(fmt::format("{}: padding bits after the last weight are not 0 (corrupt)", where));
}

void read_layer(Reader& r, Layer& l, size_t index, uint32_t version) {
  const std::string where = fmt::format("layer {}", index);
  r.open_section(where);
  l.is_output = r.flag("output-layer flag");
  l.input = r.operand("input operand");
  l.weight = r.operand("weight operand");
  l.output = r.operand("output operand");
  r.reserved();
  l.inputs = r.u32("inputs");
  l.outputs = r.u32("outputs");
  read_weights(r, l, where);

  const uint32_t nt = r.u32("threshold count");
  const uint8_t* p = r.take(uint64_t(nt) * 4, "thresholds");
  l.thresholds.resize(nt);
  for (uint32_t k = 0; k < nt; ++k) l.thresholds[k] = int32_t(uint32_t(load_le(p + 4 * k, 4)));

  const uint32_t nl = r.u32("logit count");
  p = r.take(uint64_t(nl) * 16, "logit scales and biases");
  auto f64_at = [](const uint8_t* q) {
    const uint64_t bits = load_le(q, 8);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  };
  l.logit_scale.resize(nl);
  l.logit_bias.resize(nl);
  for (uint32_t k = 0; k < nl; ++k) {
    l.logit_scale[k] = f64_at(p + 8 * k);
    l.logit_bias[k] = f64_at(p + 8 * (uint64_t(nl) + k));
  }
  if (version >= 2) {
    const uint8_t kind = r.u8("layer kind");
    if (kind > uint8_t(LayerKind::flatten)) r.fail(fmt::format("{}: unknown layer kind {}", where, kind));
    l.kind = LayerKind(kind);
    for (int k = 0; k < 3; ++k) r.reserved();
    l.in_map.channels = r.u32("map channels");
    l.in_map.height = r.u32("map height");
    l.in_map.width = r.u32("map width");
    l.kernel = r.u32("kernel");
    l.stride = r.u32("stride");
    l.padding = r.u32("padding");
    l.pad_value = int32_t(r.u32("pad value"));
  }
  r.close_section();
}

}  // namespace

std::string serialize(const IntegerModel& m) {
  validate(m);
  for (size_t i = 0; i < m.layers.size(); ++i)
    if (!operand_ok(m.layers[i].output))  // unused by the output layer (validate skips it), but stored
      throw DataError(fmt::format("layer {}: invalid output operand ({} with {} bits) cannot be stored", i,
                                  int(m.layers[i].output.encoding), m.layers[i].output.bits));
  if (m.layers.size() > kMaxLayers)
    throw DataError(
        fmt::format("integer model: {} layers, a model file holds at most {}", m.layers.size(), kMaxLayers));

  Writer w;
  for (const char c : kMagic) w.u8(uint8_t(c));
  w.u32(kModelFileVersion);
  w.u32(uint32_t(kHeaderBytes));
  w.u64(0);  // total size, patched below
  w.u32(0);  // CRC, patched below
  w.u32(uint32_t(m.layers.size()));

  const InputStage& in = m.input;
  size_t body = w.begin_section();
  w.u8(in.passthrough ? 1 : 0);
  w.operand(in.output);
  w.u8(0);
  w.u32(uint32_t(in.channels));
  w.u32(uint32_t(in.pixels_per_channel));
  w.u32(uint32_t(in.thresholds.size()));
  for (const uint16_t t : in.thresholds) w.u16(t);
  w.u32(uint32_t(in.height));
  w.u32(uint32_t(in.width));
  w.end_section(body);

  for (const Layer& l : m.layers) {
    body = w.begin_section();
    w.u8(l.is_output ? 1 : 0);
    w.operand(l.input);
    w.operand(l.weight);
    w.operand(l.output);
    w.u8(0);
    w.u32(uint32_t(l.inputs));
    w.u32(uint32_t(l.outputs));
    write_weights(w, l);
    w.u32(uint32_t(l.thresholds.size()));
    for (const int32_t t : l.thresholds) w.i32(t);
    w.u32(uint32_t(l.logit_scale.size()));
    for (const double s : l.logit_scale) w.f64(s);
    for (const double b : l.logit_bias) w.f64(b);
    w.u8(uint8_t(l.kind));
    for (int k = 0; k < 3; ++k) w.u8(0);
    w.u32(uint32_t(l.in_map.channels));
    w.u32(uint32_t(l.in_map.height));
    w.u32(uint32_t(l.in_map.width));
    w.u32(uint32_t(l.kernel));
    w.u32(uint32_t(l.stride));
    w.u32(uint32_t(l.padding));
    w.i32(l.pad_value);
    w.end_section(body);
  }

  body = w.begin_section();
  for (const char c : m.source) w.u8(uint8_t(c));
  w.end_section(body);

  std::string& out = w.bytes();
  if (out.size() > kMaxModelFileBytes)
    throw DataError(fmt::format("integer model: {} bytes, more than the {} a model file may have", out.size(),
                                kMaxModelFileBytes));
  w.patch(kTotalAt, out.size(), 8);
  const auto* bytes = reinterpret_cast<const uint8_t*>(out.data());
  w.patch(kCrcAt, crc_of(bytes + kHeaderBytes, out.size() - kHeaderBytes), 4);
  return std::move(out);
}

IntegerModel deserialize(const uint8_t* data, size_t size, const std::string& name_for_errors) {
  return deserialize(data, size, name_for_errors, DeserializeOptions{});
}

IntegerModel deserialize(const uint8_t* data, size_t size, const std::string& name,
                         const DeserializeOptions& options) {
  auto fail = [&](const std::string& what) { throw DataError(name + ": " + what); };
  if (size == 0) fail("empty file (not a nemokd integer model)");
  if (std::memcmp(data, kMagic, std::min(size, sizeof kMagic)) != 0)
    fail("not a nemokd integer model (bad magic)");
  if (size < kHeaderBytes) fail(fmt::format("truncated: the header needs {} bytes, {} left", kHeaderBytes, size));
  // The version first: a later version may change everything after it.
  const auto version = uint32_t(load_le(data + kVersionAt, 4));
  if (version < kOldestModelFileVersion || version > kModelFileVersion)
    fail(fmt::format("format version {}, this build reads versions {} to {}{}", version, kOldestModelFileVersion,
                     kModelFileVersion, version > kModelFileVersion ? " (written by a newer nemokd?)" : ""));
  const auto header_bytes = uint32_t(load_le(data + kHeaderSizeAt, 4));
  if (header_bytes != kHeaderBytes)
    fail(fmt::format("header size {}, format version {} has {} (corrupt)", header_bytes, version, kHeaderBytes));
  const uint64_t total = load_le(data + kTotalAt, 8);
  if (total > kMaxModelFileBytes)
    fail(fmt::format("header declares {} bytes, more than the {} a model file may have (corrupt)", total,
                     kMaxModelFileBytes));
  if (total < kHeaderBytes) fail(fmt::format("header declares {} bytes, less than the header (corrupt)", total));
  if (size > total)
    fail(fmt::format("the file has {} bytes, {} more than the header declares (corrupt)", size, size - total));
  const auto layer_count = uint32_t(load_le(data + kLayerCountAt, 4));
  if (layer_count < 1 || layer_count > kMaxLayers)
    fail(fmt::format("header declares {} layers, must be 1 to {} (corrupt)", layer_count, kMaxLayers));
  // A complete file: the checksum says "corrupt" more plainly than whatever structural defect a flipped bit
  // produces. A truncated one cannot be checksummed; the structural parse below names the missing part.
  if (size == total && options.verify_checksum) {
    const auto stored = uint32_t(load_le(data + kCrcAt, 4));
    if (crc_of(data + kHeaderBytes, size - kHeaderBytes) != stored) fail("checksum mismatch (file corrupt)");
  }

  IntegerModel m;
  Reader r(data, size, total, name);
  read_input_stage(r, m.input, version);
  // No reserve(layer_count): each layer is parsed (and its bytes checked) before the vector grows.
  for (uint32_t i = 0; i < layer_count; ++i) read_layer(r, m.layers.emplace_back(), i, version);
  r.open_section("source");
  m.source = r.rest("text");
  r.close_section();
  if (r.pos() != total) {
    if (size < total) fail(fmt::format("truncated: the header declares {} bytes, {} in the file", total, size));
    fail(fmt::format("{} unused bytes after the source section (corrupt)", total - r.pos()));
  }
  try {
    validate(m);
  } catch (const DataError& e) {
    fail(e.what());
  }
  return m;
}

void save_model(const IntegerModel& m, const std::string& path) {
  std::string bytes;
  try {
    bytes = serialize(m);  // an invalid model fails here, before anything touches the disk
  } catch (const DataError& e) {
    throw DataError(fmt::format("{}: not saved: {}", path, e.what()));
  }
  try {
    write_file_atomically(path, bytes, AtomicFile::Temp::per_process);  // on disk before the rename shows it
  } catch (const Error& e) {
    throw DataError(e.what());  // this file's errors are DataErrors
  }
}

IntegerModel load_model(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (fs::is_directory(status)) throw DataError(fmt::format("{}: is a directory, not a model file", path));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw DataError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  if (fs::is_regular_file(status)) {
    const auto on_disk = fs::file_size(path, ec);
    if (!ec && on_disk > kMaxModelFileBytes)
      throw DataError(fmt::format("{}: {} bytes, too large for a model file (at most {})", path, on_disk,
                                  kMaxModelFileBytes));
  }
  // Read at most one byte past the limit: enough to tell an oversized file (or endless device) from a model.
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  size_t got;
  while ((got = std::fread(chunk.data(), 1, chunk.size(), f.get())) > 0) {
    bytes.insert(bytes.end(), chunk.data(), chunk.data() + got);
    if (bytes.size() > kMaxModelFileBytes)
      throw DataError(fmt::format("{}: more than {} bytes, too large for a model file", path, kMaxModelFileBytes));
  }
  if (std::ferror(f.get())) throw DataError(fmt::format("{}: read error after {} bytes", path, bytes.size()));
  return deserialize(bytes.data(), bytes.size(), path);
}

}  // namespace nemokd::engine
