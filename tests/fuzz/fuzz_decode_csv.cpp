// libFuzzer entry point for the csv decoder (see fuzz_decode_common.h for the invariants).
#include "fuzz_decode_common.h"

using namespace outpost::decode;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  static constexpr char kDelimiters[] = {',', ';', '\t', ' ', '|', '"'};
  StreamSpec spec;
  spec.name = "fuzz";
  spec.format = Format::kCsv;
  spec.max_payload_bytes = 1 << 16;
  spec.csv.columns = {"ts", "id", "temp", "note"};
  spec.csv.delimiter = kDelimiters[data[0] % sizeof kDelimiters];
  spec.csv.header = static_cast<CsvHeader>((data[0] >> 3) % 3);
  spec.csv.trim_spaces = (data[0] & 0x20) != 0;
  spec.undeclared = static_cast<Undeclared>((data[0] >> 6) % 3);
  if (data[1] & 1) spec.time = TimeSpec{"ts", fuzz::time_format_of(data[1] >> 1), (data[1] & 0x80) != 0};
  if (data[1] & 0x40) spec.key_field = "id";
  spec.fields = {FieldSpec{"temp", "", fuzz::field_type_of(data[2]), (data[2] & 0x10) != 0, TimeFormat::kAuto},
                 FieldSpec{"note", "", fuzz::field_type_of(data[2] >> 5), false, fuzz::time_format_of(data[1] >> 3)}};
  fuzz::run(std::move(spec), std::string_view(reinterpret_cast<const char*>(data) + 3, size - 3));
  return 0;
}
