// Scalar function ids shared by the compiler (name lookup, arity, types) and the evaluator.
#pragma once

#include <cstdint>

namespace outpost::query::internal {

enum class Fn : std::int8_t {
  kLower, kUpper, kLength, kConcat, kSubstr, kTrim, kLtrim, kRtrim, kStartsWith, kEndsWith,
  kContains, kReplace, kAbs, kRound, kFloor, kCeil, kSqrt, kPow, kLn, kLog10, kLog2, kExp,
  kLeast, kGreatest, kCoalesce, kIf, kNullIf, kToInt, kToFloat, kToString, kToBool, kToUnixMs,
  kIntDiv, kMod, kSign, kMultiIf,
};

}  // namespace outpost::query::internal
