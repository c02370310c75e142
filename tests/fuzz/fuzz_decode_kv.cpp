// libFuzzer entry point for the kv decoder (see fuzz_decode_common.h for the invariants).
#include "fuzz_decode_common.h"

using namespace outpost::decode;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  static constexpr const char* kSeparators[] = {" ,;\t", " ", "&", ";,"};
  static constexpr char kAssign[] = {'=', ':', '=', ','};
  StreamSpec spec;
  spec.name = "fuzz";
  spec.format = Format::kKv;
  spec.max_payload_bytes = 1 << 16;
  spec.kv.separators = kSeparators[data[0] % 4];
  spec.kv.assign = kAssign[(data[0] >> 2) % 4];
  spec.kv.max_pairs = 1 + data[0] % 64;
  spec.undeclared = static_cast<Undeclared>((data[0] >> 6) % 3);
  if (data[1] & 1) spec.time = TimeSpec{"ts", fuzz::time_format_of(data[1] >> 1), (data[1] & 0x80) != 0};
  if (data[1] & 0x40) spec.key_field = "id";
  spec.fields = {FieldSpec{"temp", "", fuzz::field_type_of(data[2]), (data[2] & 0x10) != 0, TimeFormat::kAuto},
                 FieldSpec{"id", "", fuzz::field_type_of(data[2] >> 5), false, TimeFormat::kAuto}};
  fuzz::run(std::move(spec), std::string_view(reinterpret_cast<const char*>(data) + 3, size - 3));
  return 0;
}
