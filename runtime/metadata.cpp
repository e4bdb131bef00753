#include "runtime/metadata.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace gt::meta {

using nlohmann::json;

bool Type::operator==(const Type &o) const {
  return kind == o.kind && size == o.size && is_signed == o.is_signed && elems == o.elems &&
         offsets == o.offsets && format == o.format && stack_frames == o.stack_frames &&
         stack_mode == o.stack_mode;
}

static const char *kTypeKinds[] = {"none", "int", "str", "tuple", "ksym", "usym",
                                   "kstack", "ustack", "inet", "timestamp", "buf"};

std::string Type::str() const {
  switch (kind) {
  case Kind::None:
    return "none";
  case Kind::Int:
    return (is_signed ? "int" : "uint") + std::to_string(size * 8);
  case Kind::Str:
    return "string[" + std::to_string(size) + "]";
  case Kind::Tuple: {
    std::string s = "(";
    for (size_t i = 0; i < elems.size(); i++)
      s += (i ? "," : "") + elems[i].str();
    return s + ")";
  }
  default:
    return kTypeKinds[static_cast<int>(kind)];
  }
}

static const char *kProbeKinds[] = {"BEGIN",   "END",       "uprobe", "uretprobe",
                                    "tracepoint", "profile", "interval", "kprobe",
                                    "kretprobe", "fentry",  "fexit",    "rawtracepoint",
                                    "software",   "usdt"};
static const char *kMapKinds[] = {"value", "count", "sum", "min", "max",
                                  "avg", "stats", "hist", "lhist"};

const char *to_string(ProbeKind k) { return kProbeKinds[static_cast<int>(k)]; }
const char *to_string(MapKind k) { return kMapKinds[static_cast<int>(k)]; }

template <typename E, size_t N>
static E enum_from(const std::string &s, const char *(&names)[N], const char *what) {
  for (size_t i = 0; i < N; i++)
    if (s == names[i])
      return static_cast<E>(i);
  throw std::runtime_error(std::string("unknown ") + what + " '" + s + "'");
}

static json type_to_json(const Type &t) {
  json j;
  j["kind"] = kTypeKinds[static_cast<int>(t.kind)];
  switch (t.kind) {
  case Type::Kind::None:
    break;
  case Type::Kind::Int:
    j["size"] = t.size;
    j["signed"] = t.is_signed;
    break;
  case Type::Kind::Tuple: {
    j["size"] = t.size;
    json elems = json::array();
    for (size_t i = 0; i < t.elems.size(); i++)
      elems.push_back({{"type", type_to_json(t.elems[i])}, {"offset", t.offsets[i]}});
    j["elems"] = elems;
    break;
  }
  default:
    j["size"] = t.size;
    if (t.kind == Type::Kind::Timestamp)
      j["format"] = t.format;
    if (t.kind == Type::Kind::Kstack || t.kind == Type::Kind::Ustack) {
      j["frames"] = t.stack_frames;
      if (t.stack_mode != Type::StackMode::Bpftrace)
        j["stack_mode"] = t.stack_mode == Type::StackMode::Perf ? "perf" : "raw";
    }
    break;
  }
  return j;
}

static Type type_from_json(const json &j) {
  Type t;
  t.kind = enum_from<Type::Kind>(j.at("kind").get<std::string>(), kTypeKinds, "type kind");
  if (t.kind == Type::Kind::None)
    return t;
  t.size = j.at("size").get<uint32_t>();
  if (t.kind == Type::Kind::Int)
    t.is_signed = j.at("signed").get<bool>();
  if (t.kind == Type::Kind::Tuple)
    for (const auto &e : j.at("elems")) {
      t.elems.push_back(type_from_json(e.at("type")));
      t.offsets.push_back(e.at("offset").get<uint32_t>());
    }
  t.format = j.value("format", "");
  t.stack_frames = j.value("frames", 0u);
  std::string mode = j.value("stack_mode", "bpftrace");
  t.stack_mode = mode == "perf" ? Type::StackMode::Perf
                 : mode == "raw" ? Type::StackMode::Raw : Type::StackMode::Bpftrace;
  return t;
}

std::string serialize(const Program &p) {
  json j;
  j["version"] = p.version;
  j["source"] = p.source_name;
  j["ringbuf_size"] = p.ringbuf_size;
  json probes = json::array();
  for (const auto &pr : p.probes) {
    json q;
    q["index"] = pr.index;
    q["prog"] = pr.prog_name;
    q["kind"] = to_string(pr.kind);
    q["spec"] = pr.spec;
    // Every field is written; readers default the missing ones, so adding a
    // field stays compatible within a format version.
    q["binary"] = pr.binary;
    q["symbol"] = pr.symbol;
    q["offset"] = pr.offset;
    q["address"] = pr.address;
    q["category"] = pr.category;
    q["event"] = pr.event;
    q["frequency"] = pr.frequency;
    q["period_ns"] = pr.period_ns;
    q["sample_period"] = pr.sample_period;
    q["provider"] = pr.provider;
    q["semaphore"] = pr.semaphore;
    if (pr.internal)
      q["internal"] = true;
    probes.push_back(q);
  }
  j["probes"] = probes;
  json maps = json::array();
  for (const auto &m : p.maps) {
    json q;
    q["name"] = m.name;
    q["bpf_name"] = m.bpf_name;
    q["kind"] = to_string(m.kind);
    q["key"] = type_to_json(m.key);
    q["key_size"] = m.key_size;
    q["value"] = type_to_json(m.value);
    q["value_size"] = m.value_size;
    q["max_entries"] = m.max_entries;
    q["per_cpu"] = m.per_cpu;
    if (m.kind == MapKind::Lhist) {
      q["lhist_min"] = m.lhist_min;
      q["lhist_max"] = m.lhist_max;
      q["lhist_step"] = m.lhist_step;
    }
    maps.push_back(q);
  }
  j["maps"] = maps;
  json printfs = json::array();
  for (const auto &f : p.printfs) {
    json q;
    q["format"] = f.format;
    json args = json::array();
    for (size_t i = 0; i < f.args.size(); i++)
      args.push_back({{"type", type_to_json(f.args[i])}, {"offset", f.offsets[i]}});
    q["args"] = args;
    q["payload_size"] = f.payload_size;
    if (f.error_mask)
      q["error_mask"] = true;
    printfs.push_back(q);
  }
  j["printfs"] = printfs;
  j["time_formats"] = p.time_formats;
  json pvs = json::array();
  for (const auto &v : p.print_values)
    pvs.push_back({{"type", type_to_json(v.type)}});
  j["print_values"] = pvs;
  json joins = json::array();
  for (const auto &v : p.joins)
    joins.push_back({{"separator", v.separator}, {"count", v.count}, {"size", v.size}});
  j["joins"] = joins;
  if (!p.map_prints.empty()) {
    auto &mp = j["map_prints"] = json::array();
    for (const auto &m : p.map_prints)
      mp.push_back({{"map", m.map}, {"top", m.top}, {"div", m.div}});
  }
  j["needs_stacks"] = p.needs_stacks;
  if (p.bpf_unwinder)
    j["bpf_unwinder"] = true;
  if (!p.tail_calls.empty()) {
    auto &tc = j["tail_calls"] = json::array();
    for (const auto &t : p.tail_calls)
      tc.push_back({{"map", t.map}, {"index", t.index}, {"prog", t.prog}});
  }
  j["uses_system"] = p.uses_system;
  json bins = json::array();
  for (const auto &b : p.binaries)
    bins.push_back({{"path", b.path}, {"build_id", b.build_id}});
  j["binaries"] = bins;
  return j.dump();
}

Program deserialize(const std::string &text) {
  Program p;
  try {
    json j = json::parse(text);
    p.version = j.at("version").get<int>();
    if (p.version != kFormatVersion)
      throw std::runtime_error("metadata format version " + std::to_string(p.version) +
                               " is not supported (this runtime reads version " +
                               std::to_string(kFormatVersion) + ")");
    p.source_name = j.at("source").get<std::string>();
    p.ringbuf_size = j.at("ringbuf_size").get<uint32_t>();
    for (const auto &q : j.at("probes")) {
      Probe pr;
      pr.index = q.at("index").get<uint32_t>();
      pr.prog_name = q.at("prog").get<std::string>();
      pr.kind = enum_from<ProbeKind>(q.at("kind").get<std::string>(), kProbeKinds, "probe kind");
      pr.spec = q.at("spec").get<std::string>();
      pr.binary = q.value("binary", "");
      pr.symbol = q.value("symbol", "");
      pr.offset = q.value("offset", uint64_t(0));
      pr.address = q.value("address", uint64_t(0));
      pr.category = q.value("category", "");
      pr.event = q.value("event", "");
      pr.frequency = q.value("frequency", uint64_t(0));
      pr.period_ns = q.value("period_ns", uint64_t(0));
      pr.sample_period = q.value("sample_period", uint64_t(0));
      pr.provider = q.value("provider", "");
      pr.semaphore = q.value("semaphore", uint64_t(0));
      pr.internal = q.value("internal", false);
      p.probes.push_back(pr);
    }
    for (const auto &q : j.at("maps")) {
      Map m;
      m.name = q.at("name").get<std::string>();
      m.bpf_name = q.at("bpf_name").get<std::string>();
      m.kind = enum_from<MapKind>(q.at("kind").get<std::string>(), kMapKinds, "map kind");
      m.key = type_from_json(q.at("key"));
      m.key_size = q.at("key_size").get<uint32_t>();
      m.value = type_from_json(q.at("value"));
      m.value_size = q.at("value_size").get<uint32_t>();
      m.max_entries = q.at("max_entries").get<uint32_t>();
      m.per_cpu = q.at("per_cpu").get<bool>();
      m.lhist_min = q.value("lhist_min", int64_t(0));
      m.lhist_max = q.value("lhist_max", int64_t(0));
      m.lhist_step = q.value("lhist_step", int64_t(0));
      p.maps.push_back(m);
    }
    for (const auto &q : j.at("printfs")) {
      Printf f;
      f.format = q.at("format").get<std::string>();
      for (const auto &a : q.at("args")) {
        f.args.push_back(type_from_json(a.at("type")));
        f.offsets.push_back(a.at("offset").get<uint32_t>());
      }
      f.payload_size = q.at("payload_size").get<uint32_t>();
      f.error_mask = q.value("error_mask", false);
      p.printfs.push_back(f);
    }
    p.time_formats = j.value("time_formats", std::vector<std::string>{});
    if (j.contains("print_values"))
      for (const auto &v : j.at("print_values"))
        p.print_values.push_back({type_from_json(v.at("type"))});
    if (j.contains("joins"))
      for (const auto &v : j.at("joins"))
        p.joins.push_back({v.at("separator").get<std::string>(), v.at("count").get<uint32_t>(),
                           v.at("size").get<uint32_t>()});
    if (j.contains("map_prints"))
      for (const auto &m : j.at("map_prints"))
        p.map_prints.push_back({m.at("map").get<uint32_t>(), m.at("top").get<uint32_t>(),
                                m.at("div").get<uint32_t>()});
    p.needs_stacks = j.value("needs_stacks", false);
    p.bpf_unwinder = j.value("bpf_unwinder", false);
    if (j.contains("tail_calls"))
      for (const auto &t : j.at("tail_calls"))
        p.tail_calls.push_back({t.at("map").get<std::string>(), t.at("index").get<uint32_t>(),
                                t.at("prog").get<std::string>()});
    p.uses_system = j.value("uses_system", false);
    for (const auto &b : j.at("binaries"))
      p.binaries.push_back({b.at("path").get<std::string>(), b.at("build_id").get<std::string>()});
  } catch (const json::exception &e) {
    throw std::runtime_error(std::string("malformed program metadata: ") + e.what());
  }
  return p;
}

}  // namespace gt::meta
