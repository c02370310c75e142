// How the runtime decodes a stream's payloads: a thin adapter over agent/decode.
// (The adapter lands with the decoders; until then a stream's codec spec is empty.)
#pragma once

namespace outpost::runtime {
struct StreamCodecSpec {};
}  // namespace outpost::runtime
