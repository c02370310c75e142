#include "base/suggest.h"

#include <algorithm>

namespace outpost::base {
namespace {

char fold(char ch, Case c) {
  if (c == Case::kFolded && ch >= 'A' && ch <= 'Z') return static_cast<char>(ch - 'A' + 'a');
  return ch;
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b, Case c) {
  const std::size_t n = a.size(), m = b.size();
  // Three rows: the transposition looks two rows back.
  std::vector<std::size_t> back2(m + 1), back1(m + 1), cur(m + 1);
  for (std::size_t j = 0; j <= m; ++j) back1[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = fold(a[i - 1], c) == fold(b[j - 1], c) ? 0 : 1;
      cur[j] = std::min({back1[j] + 1, cur[j - 1] + 1, back1[j - 1] + cost});
      if (i > 1 && j > 1 && fold(a[i - 1], c) == fold(b[j - 2], c) && fold(a[i - 2], c) == fold(b[j - 1], c)) {
        cur[j] = std::min(cur[j], back2[j - 2] + 1);
      }
    }
    std::swap(back2, back1);
    std::swap(back1, cur);
  }
  return back1[m];
}

std::string closest_name(std::string_view word, const std::vector<std::string>& candidates, Case c) {
  if (word.size() > 64) return {};
  const std::string* best = nullptr;
  std::size_t best_d = 0;
  for (const auto& cand : candidates) {
    if (cand == word) continue;
    const std::size_t d = edit_distance(word, cand, c);
    if (best == nullptr || d < best_d) {
      best = &cand;
      best_d = d;
    }
  }
  if (best == nullptr) return {};
  const std::size_t limit = word.size() <= 3 ? 1 : 2;
  const std::size_t shorter = std::min(word.size(), best->size());
  if (best_d > limit || (best_d > 0 && best_d >= shorter)) return {};
  if (best_d == 0 && c == Case::kSensitive) return {};
  return *best;
}

}  // namespace outpost::base
