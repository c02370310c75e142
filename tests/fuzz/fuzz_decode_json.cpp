// libFuzzer entry point for the json decoder (see fuzz_decode_common.h for the invariants).
#include "fuzz_decode_common.h"

using namespace outpost::decode;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  StreamSpec spec;
  spec.name = "fuzz";
  spec.format = Format::kJson;
  spec.json_max_depth = 1 + data[0] % 32;
  spec.max_payload_bytes = 1 << 16;
  if (data[1] & 1) spec.time = TimeSpec{"ts", fuzz::time_format_of(data[1] >> 1), (data[1] & 0x80) != 0};
  if (data[1] & 0x40) spec.key_field = "k";
  spec.fields = {FieldSpec{"a", "", fuzz::field_type_of(data[0] >> 5), (data[1] & 2) != 0, TimeFormat::kAuto},
                 FieldSpec{"b", "m.b", fuzz::field_type_of(data[1] >> 2), false, fuzz::time_format_of(data[0])},
                 FieldSpec{"c", "v.0", fuzz::field_type_of(data[1] >> 4), false, TimeFormat::kAuto}};
  if (data[0] & 0x10) spec.fields.clear();
  fuzz::run(std::move(spec), std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2));
  return 0;
}
