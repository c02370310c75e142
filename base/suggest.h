// Did-you-mean: the one rule for suggesting a known name for a mistyped one (config keys and
// choices, SQL columns and functions).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::base {

enum class Case : unsigned char { kSensitive, kFolded };

// Optimal-string-alignment distance (Damerau-Levenshtein: insert, delete, substitute, swap two
// neighbours, each 1). kFolded compares ASCII letters case-insensitively.
std::size_t edit_distance(std::string_view a, std::string_view b, Case c = Case::kSensitive);

// The candidate closest to `word` if it is a likely typo of it, else "": at most one edit for
// words of up to 3 characters and two for longer ones, fewer edits than the shorter of the two
// has characters (a one-letter word gets no suggestion), never `word` itself, and nothing for
// words over 64 bytes. Ties go to the earlier candidate.
std::string closest_name(std::string_view word, const std::vector<std::string>& candidates,
                         Case c = Case::kSensitive);

}  // namespace outpost::base
