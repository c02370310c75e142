// Lexer and recursive-descent parser of Outpost's SQL subset (grammar in README.md).
// Errors are values: the first problem found stops the parse with a message and an offset.
// Size: a recursive-descent parser is one grammar; the lexer could move out, the rest reads
// best in one place.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "agent/query/query_internal.h"

namespace outpost::query::internal {
namespace {

enum class Tok : std::uint8_t {
  kEnd, kIdent, kQuotedIdent, kInt, kFloat, kString, kInterval, kLParen, kRParen, kComma, kDot,
  kStar, kPlus, kMinus, kSlash, kPercent, kEq, kNe, kLt, kLe, kGt, kGe, kConcat, kSemicolon,
  kCast,  // ::
};

struct Token {
  Tok type = Tok::kEnd;
  std::size_t offset = 0;
  std::size_t end = 0;
  std::string text;        // identifier (as written), string literal (unescaped)
  std::int64_t ival = 0;   // kInt; kInterval (ms)
  double dval = 0;         // kFloat
};

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// Interval unit in milliseconds; 0 if unknown. Accepts the short suffixes (10s, 5m, 500ms)
// and the words of `INTERVAL 1 MINUTE`.
std::int64_t unit_ms(std::string_view u) {
  const std::string l = lower(u);
  if (l == "ms" || l == "millisecond" || l == "milliseconds") return 1;
  if (l == "s" || l == "second" || l == "seconds") return 1000;
  if (l == "m" || l == "minute" || l == "minutes") return 60'000;
  if (l == "h" || l == "hour" || l == "hours") return 3'600'000;
  if (l == "d" || l == "day" || l == "days") return 86'400'000;
  return 0;
}

class Lexer {
 public:
  explicit Lexer(std::string_view sql) : s_(sql) {}

  bool run(std::vector<Token>* out, SqlError* err) {
    for (;;) {
      skip_space_and_comments();
      if (!error_.message.empty()) break;
      Token t;
      t.offset = pos_;
      if (pos_ >= s_.size()) {
        t.type = Tok::kEnd;
        t.end = pos_;
        out->push_back(std::move(t));
        return true;
      }
      if (!next(&t)) break;
      t.end = pos_;
      out->push_back(std::move(t));
    }
    *err = error_;
    return false;
  }

 private:
  void fail(std::size_t at, std::string msg) {
    if (error_.message.empty()) {
      error_.message = std::move(msg);
      error_.offset = at;
    }
  }

  void skip_space_and_comments() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '-' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '-') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
        const std::size_t start = pos_;
        const std::size_t close = s_.find("*/", pos_ + 2);
        if (close == std::string_view::npos) {
          fail(start, "unterminated comment");
          pos_ = s_.size();
          return;
        }
        pos_ = close + 2;
      } else {
        return;
      }
    }
  }

  bool next(Token* t) {
    const char c = s_[pos_];
    const char n = pos_ + 1 < s_.size() ? s_[pos_ + 1] : '\0';
    if (ident_start(c)) {
      const std::size_t b = pos_;
      while (pos_ < s_.size() && ident_char(s_[pos_])) ++pos_;
      t->type = Tok::kIdent;
      t->text = std::string(s_.substr(b, pos_ - b));
      return true;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && std::isdigit(static_cast<unsigned char>(n)))) {
      return number(t);
    }
    if (c == '\'') return string_literal(t);
    if (c == '`' || c == '"') return quoted_ident(t, c);
    ++pos_;
    switch (c) {
      case '(': t->type = Tok::kLParen; return true;
      case ')': t->type = Tok::kRParen; return true;
      case ',': t->type = Tok::kComma; return true;
      case '.': t->type = Tok::kDot; return true;
      case '*': t->type = Tok::kStar; return true;
      case '+': t->type = Tok::kPlus; return true;
      case '-': t->type = Tok::kMinus; return true;
      case '/': t->type = Tok::kSlash; return true;
      case '%': t->type = Tok::kPercent; return true;
      case ';': t->type = Tok::kSemicolon; return true;
      case '=':
        if (n == '=') ++pos_;
        t->type = Tok::kEq;
        return true;
      case '!':
        if (n == '=') {
          ++pos_;
          t->type = Tok::kNe;
          return true;
        }
        break;
      case '<':
        if (n == '=') { ++pos_; t->type = Tok::kLe; return true; }
        if (n == '>') { ++pos_; t->type = Tok::kNe; return true; }
        t->type = Tok::kLt;
        return true;
      case '>':
        if (n == '=') { ++pos_; t->type = Tok::kGe; return true; }
        t->type = Tok::kGt;
        return true;
      case '|':
        if (n == '|') { ++pos_; t->type = Tok::kConcat; return true; }
        break;
      case ':':
        if (n == ':') { ++pos_; t->type = Tok::kCast; return true; }
        break;
      default: break;
    }
    const unsigned char uc = static_cast<unsigned char>(c);
    if (uc >= 0x20 && uc < 0x7f) {
      fail(pos_ - 1, std::string("unexpected character '") + c + "'");
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02X", uc);
      fail(pos_ - 1, std::string("unexpected byte ") + buf);
    }
    return false;
  }

  bool number(Token* t) {
    const std::size_t b = pos_;
    bool is_float = false;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '.' &&
        !(pos_ + 1 < s_.size() && s_[pos_ + 1] == '.')) {
      is_float = true;
      ++pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      std::size_t p = pos_ + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p]))) {
        is_float = true;
        pos_ = p;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      }
    }
    const std::string_view num = s_.substr(b, pos_ - b);
    if (pos_ < s_.size() && ident_start(s_[pos_])) {
      // An interval literal such as 10s, 1m, 500ms, 2h, 1d.
      const std::size_t ub = pos_;
      while (pos_ < s_.size() && ident_char(s_[pos_])) ++pos_;
      const std::string_view unit = s_.substr(ub, pos_ - ub);
      const std::int64_t ms = unit_ms(unit);
      const std::string whole(s_.substr(b, pos_ - b));
      if (ms == 0 || unit.size() > 2) {
        fail(b, "bad interval '" + whole + "' (use a number and one of ms, s, m, h, d, e.g. 10s)");
        return false;
      }
      if (is_float) {
        fail(b, "bad interval '" + whole + "': the number must be a whole number (use 1500ms, not 1.5s)");
        return false;
      }
      std::int64_t v = 0;
      auto r = std::from_chars(num.data(), num.data() + num.size(), v);
      if (r.ec != std::errc() || v > std::numeric_limits<std::int64_t>::max() / ms) {
        fail(b, "bad interval '" + whole + "': too large");
        return false;
      }
      t->type = Tok::kInterval;
      t->ival = v * ms;
      t->text = whole;
      return true;
    }
    t->text = std::string(num);
    if (!is_float) {
      std::int64_t v = 0;
      auto r = std::from_chars(num.data(), num.data() + num.size(), v);
      if (r.ec == std::errc() && r.ptr == num.data() + num.size()) {
        t->type = Tok::kInt;
        t->ival = v;
        return true;
      }
    }
    double d = 0;
    auto r = std::from_chars(num.data(), num.data() + num.size(), d);
    if (r.ec != std::errc() && r.ec != std::errc::result_out_of_range) {
      fail(b, "bad number '" + std::string(num) + "'");
      return false;
    }
    if (r.ec == std::errc::result_out_of_range) d = std::numeric_limits<double>::infinity();
    t->type = Tok::kFloat;
    t->dval = d;
    return true;
  }

  bool string_literal(Token* t) {
    const std::size_t b = pos_;
    ++pos_;
    std::string v;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\'') {
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '\'') {
          v.push_back('\'');
          pos_ += 2;
          continue;
        }
        ++pos_;
        t->type = Tok::kString;
        t->text = std::move(v);
        return true;
      }
      if (c == '\\' && pos_ + 1 < s_.size()) {
        const char e = s_[pos_ + 1];
        switch (e) {
          case 'n': v.push_back('\n'); break;
          case 't': v.push_back('\t'); break;
          case 'r': v.push_back('\r'); break;
          case '0': v.push_back('\0'); break;
          default: v.push_back(e); break;
        }
        pos_ += 2;
        continue;
      }
      v.push_back(c);
      ++pos_;
    }
    fail(b, "unterminated string literal");
    return false;
  }

  bool quoted_ident(Token* t, char q) {
    const std::size_t b = pos_;
    const std::size_t close = s_.find(q, pos_ + 1);
    if (close == std::string_view::npos) {
      fail(b, std::string("unterminated quoted identifier (missing closing ") + q + ")");
      return false;
    }
    t->type = Tok::kQuotedIdent;
    t->text = std::string(s_.substr(pos_ + 1, close - pos_ - 1));
    pos_ = close + 1;
    if (t->text.empty()) {
      fail(b, "empty quoted identifier");
      return false;
    }
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  SqlError error_;
};

const char* const kReserved[] = {
    "select", "from", "where", "group", "by", "having", "emit", "and", "or", "not", "as",
    "in", "between", "is", "null", "like", "case", "when", "then", "else", "end", "cast",
    "order", "limit", "union", "join", "on", "true", "false", "interval", "distinct", "settings",
};

bool is_reserved(const std::string& lower_word) {
  for (const char* r : kReserved)
    if (lower_word == r) return true;
  return false;
}

class Parser {
 public:
  Parser(std::string_view sql, std::vector<Token> toks) : sql_(sql), t_(std::move(toks)) {}

  bool parse(Ast* ast, SqlError* err) {
    ast_ = ast;
    parse_query();
    if (!error_.message.empty()) {
      *err = error_;
      return false;
    }
    return true;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return t_[i_]; }
  const Token& peek(std::size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool failed() const { return !error_.message.empty(); }
  void advance() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool is_kw(const Token& t, const char* kw) const {
    return t.type == Tok::kIdent && t.text.size() == std::strlen(kw) && lower(t.text) == kw;
  }
  bool at_kw(const char* kw) const { return is_kw(cur(), kw); }
  bool accept_kw(const char* kw) {
    if (!at_kw(kw)) return false;
    advance();
    return true;
  }
  bool accept(Tok k) {
    if (cur().type != k) return false;
    advance();
    return true;
  }
  std::string describe(const Token& t) const {
    switch (t.type) {
      case Tok::kEnd: return "the end of the query";
      case Tok::kString: return "string '" + t.text + "'";
      default: return "'" + std::string(sql_.substr(t.offset, t.end - t.offset)) + "'";
    }
  }
  void fail(std::size_t at, std::string msg) {
    if (!failed()) {
      error_.message = std::move(msg);
      error_.offset = at;
    }
  }
  void fail_here(const std::string& expected) {
    fail(cur().offset, "expected " + expected + ", got " + describe(cur()));
  }
  bool expect(Tok k, const char* what) {
    if (accept(k)) return true;
    fail_here(what);
    return false;
  }
  bool expect_kw(const char* kw) {
    if (accept_kw(kw)) return true;
    std::string up = kw;
    for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    fail_here(up);
    return false;
  }

  std::string text_of(std::size_t b, std::size_t e) const {
    return std::string(sql_.substr(b, e - b));
  }

  // ---- query ----
  void parse_query() {
    for (const Token& t : t_) {
      if (t.type == Tok::kEnd) break;
      if (!ast_->fingerprint.empty()) ast_->fingerprint.push_back(' ');
      ast_->fingerprint += t.type == Tok::kIdent ? lower(t.text) : text_of(t.offset, t.end);
    }
    if (cur().type == Tok::kEnd) {
      fail(cur().offset, "empty query (expected SELECT)");
      return;
    }
    if (!expect_kw("select")) return;
    if (at_kw("distinct")) {
      fail(cur().offset, "SELECT DISTINCT is not supported (use GROUP BY)");
      return;
    }
    parse_select_list();
    if (failed()) return;
    if (!expect_kw("from")) return;
    parse_from();
    if (failed()) return;
    if (accept_kw("where")) {
      ast_->where = parse_expr();
      if (failed()) return;
    }
    if (at_kw("group")) {
      ast_->group_by_offset = cur().offset;
      advance();
      if (!expect_kw("by")) return;
      do {
        ExprP e = parse_expr();
        if (failed()) return;
        ast_->group_by.push_back(std::move(e));
      } while (accept(Tok::kComma));
    }
    if (accept_kw("having")) {
      ast_->having = parse_expr();
      if (failed()) return;
    }
    if (at_kw("order")) {
      fail(cur().offset, "ORDER BY is not supported (stream results come in window order)");
      return;
    }
    if (at_kw("limit")) {
      fail(cur().offset, "LIMIT is not supported");
      return;
    }
    if (at_kw("emit")) {
      parse_emit();
      if (failed()) return;
    }
    if (at_kw("settings")) {
      fail(cur().offset, "SETTINGS is not supported (set delay and lateness in EMIT and the query config)");
      return;
    }
    accept(Tok::kSemicolon);
    if (cur().type != Tok::kEnd) {
      if (at_kw("join") || at_kw("inner") || at_kw("left") || at_kw("union")) {
        fail(cur().offset, "JOIN and UNION are not supported");
      } else {
        fail_here("the end of the query");
      }
    }
  }

  void parse_select_list() {
    do {
      SelectItem item;
      item.offset = cur().offset;
      if (cur().type == Tok::kStar) {
        advance();
        item.name = "*";
      } else {
        item.expr = parse_expr();
        if (failed()) return;
        item.name = text_of(item.expr->offset, item.expr->end);
        if (accept_kw("as")) {
          if (cur().type != Tok::kIdent && cur().type != Tok::kQuotedIdent) {
            fail_here("a column alias");
            return;
          }
          item.alias = cur().text;
          advance();
        } else if ((cur().type == Tok::kIdent && !is_reserved(lower(cur().text))) ||
                   cur().type == Tok::kQuotedIdent) {
          item.alias = cur().text;  // `expr alias` without AS
          advance();
        }
        if (!item.alias.empty()) item.name = item.alias;
      }
      ast_->items.push_back(std::move(item));
    } while (accept(Tok::kComma));
  }

  bool parse_name(std::string* out, std::size_t* at, const char* what) {
    if (cur().type != Tok::kIdent && cur().type != Tok::kQuotedIdent) {
      fail_here(what);
      return false;
    }
    if (cur().type == Tok::kIdent && is_reserved(lower(cur().text))) {
      fail_here(what);
      return false;
    }
    *at = cur().offset;
    *out = cur().text;
    advance();
    // Stream names may contain '.' and '-' in the config; allow dotted names here.
    while (cur().type == Tok::kDot && (peek().type == Tok::kIdent || peek().type == Tok::kQuotedIdent)) {
      advance();
      *out += "." + cur().text;
      advance();
    }
    return true;
  }

  // stream | table(stream)
  bool parse_source() {
    if (at_kw("table") && peek().type == Tok::kLParen) {
      advance();
      advance();
      ast_->historical = true;
      if (!parse_name(&ast_->stream, &ast_->stream_offset, "a stream name")) return false;
      return expect(Tok::kRParen, "')'");
    }
    return parse_name(&ast_->stream, &ast_->stream_offset, "a stream name");
  }

  bool parse_interval(std::int64_t* ms, const char* what) {
    if (cur().type == Tok::kInterval) {
      *ms = cur().ival;
      advance();
    } else if (at_kw("interval")) {
      const std::size_t b = cur().offset;
      advance();
      std::int64_t n = 0;
      if (cur().type == Tok::kInt) {
        n = cur().ival;
        advance();
      } else if (cur().type == Tok::kString) {
        // INTERVAL '5' MINUTE or INTERVAL '5 minutes'
        const std::string s = cur().text;
        advance();
        auto r = std::from_chars(s.data(), s.data() + s.size(), n);
        std::string rest(r.ptr, s.data() + s.size());
        rest.erase(0, rest.find_first_not_of(' '));
        if (r.ec != std::errc() || n < 0) {
          fail(b, "bad interval: INTERVAL needs a whole number, e.g. INTERVAL 5 MINUTE");
          return false;
        }
        if (!rest.empty()) {
          const std::int64_t u = unit_ms(rest);
          if (u == 0) {
            fail(b, "bad interval unit '" + rest + "' (use MILLISECOND, SECOND, MINUTE, HOUR or DAY)");
            return false;
          }
          *ms = n * u;
          return true;
        }
      } else {
        fail_here("a whole number after INTERVAL");
        return false;
      }
      if (cur().type != Tok::kIdent || unit_ms(cur().text) == 0 || cur().text.size() <= 2) {
        fail_here("an interval unit (MILLISECOND, SECOND, MINUTE, HOUR or DAY)");
        return false;
      }
      const std::int64_t u = unit_ms(cur().text);
      if (n > std::numeric_limits<std::int64_t>::max() / u) {
        fail(b, "bad interval: too large");
        return false;
      }
      *ms = n * u;
      advance();
    } else {
      if (cur().type == Tok::kInt) {
        fail(cur().offset, std::string("bad interval '") + cur().text + "' for " + what +
                               ": give a unit, e.g. " + cur().text + "s");
        return false;
      }
      fail_here(std::string("an interval for ") + what + " (e.g. 10s, 1m, INTERVAL 5 MINUTE)");
      return false;
    }
    return true;
  }

  bool positive(std::int64_t v, std::size_t at, const char* what) {
    if (v > 0) return true;
    fail(at, std::string("bad interval: ") + what + " must be greater than zero");
    return false;
  }

  void parse_from() {
    if ((at_kw("tumble") || at_kw("hop") || at_kw("session")) && peek().type == Tok::kLParen) {
      const std::string fn = lower(cur().text);
      ast_->window_offset = cur().offset;
      ast_->window = fn == "tumble" ? WindowKind::kTumble : fn == "hop" ? WindowKind::kHop : WindowKind::kSession;
      advance();
      advance();
      if (!parse_source()) return;
      if (!expect(Tok::kComma, "',' and the time column")) return;
      if (cur().type == Tok::kInterval || at_kw("interval")) {
        // Proton: the time column is optional and defaults to _tp_time.
        ast_->ts_name = "_tp_time";
        ast_->ts_offset = cur().offset;
      } else {
        if (!parse_name(&ast_->ts_name, &ast_->ts_offset, "the time column")) return;
        if (!expect(Tok::kComma, "','")) return;
      }
      std::size_t at = cur().offset;
      if (ast_->window == WindowKind::kTumble) {
        if (!parse_interval(&ast_->size_ms, "the window size")) return;
        if (!positive(ast_->size_ms, at, "the window size")) return;
        ast_->slide_ms = ast_->size_ms;
      } else if (ast_->window == WindowKind::kHop) {
        if (!parse_interval(&ast_->slide_ms, "the hop slide")) return;
        if (!positive(ast_->slide_ms, at, "the hop slide")) return;
        if (!expect(Tok::kComma, "',' and the window size")) return;
        at = cur().offset;
        if (!parse_interval(&ast_->size_ms, "the window size")) return;
        if (!positive(ast_->size_ms, at, "the window size")) return;
        if (ast_->slide_ms > ast_->size_ms) {
          fail(at, "bad interval: the hop size must not be smaller than the slide");
          return;
        }
        if (ast_->size_ms / ast_->slide_ms > 1000) {
          fail(at, "bad interval: a hop window of this size and slide puts every event in more than 1000 windows");
          return;
        }
      }
      if (ast_->window != WindowKind::kSession) {
        // Optional offset: windows aligned to the epoch plus it (docs/SEMANTICS.md 1).
        if (cur().type == Tok::kComma && (peek().type == Tok::kInterval || is_kw(peek(), "interval"))) {
          advance();
          at = cur().offset;
          if (!parse_interval(&ast_->offset_ms, "the window offset")) return;
          if (ast_->offset_ms >= ast_->slide_ms) {
            fail(at, std::string("bad interval: the window offset must be smaller than the ") +
                         (ast_->window == WindowKind::kHop ? "slide" : "window size"));
            return;
          }
        }
      } else {
        if (!parse_interval(&ast_->gap_ms, "the session gap")) return;
        if (!positive(ast_->gap_ms, at, "the session gap")) return;
        if (accept(Tok::kComma)) {
          at = cur().offset;
          if (cur().type == Tok::kInterval || at_kw("interval")) {
            if (!parse_interval(&ast_->max_length_ms, "the session max length")) return;
            if (!positive(ast_->max_length_ms, at, "the session max length")) return;
            if (ast_->max_length_ms < ast_->gap_ms) {
              fail(at, "bad interval: the session max length must not be smaller than the gap");
              return;
            }
            if (accept(Tok::kComma)) {
              ast_->start_cond = parse_expr();
              if (failed()) return;
              if (!expect(Tok::kComma, "',' and the session end condition")) return;
              ast_->end_cond = parse_expr();
              if (failed()) return;
            }
          } else {
            ast_->start_cond = parse_expr();
            if (failed()) return;
            if (!expect(Tok::kComma, "',' and the session end condition")) return;
            ast_->end_cond = parse_expr();
            if (failed()) return;
          }
        }
      }
      expect(Tok::kRParen, "')'");
      return;
    }
    if (cur().type == Tok::kLParen) {
      fail(cur().offset, "subqueries are not supported");
      return;
    }
    parse_source();
  }

  void parse_emit() {
    ast_->has_emit = true;
    ast_->emit_offset = cur().offset;
    advance();  // EMIT
    accept_kw("stream");
    if (accept_kw("after")) {
      if (accept_kw("watermark")) {
        ast_->emit = EmitMode::kAfterClose;
      } else if (accept_kw("window")) {
        if (!expect_kw("close")) return;
        ast_->emit = EmitMode::kAfterClose;
      } else {
        fail_here("WATERMARK or WINDOW CLOSE after EMIT AFTER");
        return;
      }
    } else if (accept_kw("periodic")) {
      ast_->emit = EmitMode::kPeriodic;
      const std::size_t at = cur().offset;
      if (!parse_interval(&ast_->period_ms, "EMIT PERIODIC")) return;
      if (!positive(ast_->period_ms, at, "the EMIT PERIODIC interval")) return;
    } else if (accept_kw("on")) {
      if (!expect_kw("update")) return;
      ast_->emit = EmitMode::kOnUpdate;
    } else {
      fail_here("AFTER WATERMARK, AFTER WINDOW CLOSE, PERIODIC or ON UPDATE after EMIT");
      return;
    }
    if (at_kw("and") || at_kw("with") || at_kw("delay")) {
      if (!at_kw("delay")) advance();
      if (!expect_kw("delay")) return;
      const std::size_t at = cur().offset;
      if (!parse_interval(&ast_->delay_ms, "the watermark delay")) return;
      if (ast_->delay_ms < 0) fail(at, "bad interval: the delay must not be negative");
    }
  }

  // ---- expressions ----
  ExprP make(ExprKind k, std::size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->offset = offset;
    return e;
  }
  ExprP binary(Op op, ExprP a, ExprP b) {
    auto e = make(ExprKind::kBinary, a->offset);
    e->op = op;
    e->end = b->end;
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }
  std::size_t prev_end() const { return i_ > 0 ? t_[i_ - 1].end : 0; }

  ExprP parse_expr() {
    if (++depth_ > 200) {
      fail(cur().offset, "expression nested too deeply");
      --depth_;
      return make(ExprKind::kLiteral, cur().offset);
    }
    ExprP e = parse_or();
    --depth_;
    return e;
  }

  ExprP parse_or() {
    ExprP l = parse_and();
    while (!failed() && at_kw("or")) {
      advance();
      ExprP r = parse_and();
      if (failed()) break;
      l = binary(Op::kOr, std::move(l), std::move(r));
    }
    return l;
  }

  ExprP parse_and() {
    ExprP l = parse_not();
    while (!failed() && at_kw("and")) {
      advance();
      ExprP r = parse_not();
      if (failed()) break;
      l = binary(Op::kAnd, std::move(l), std::move(r));
    }
    return l;
  }

  ExprP parse_not() {
    if (at_kw("not")) {
      const std::size_t b = cur().offset;
      advance();
      if (++depth_ > 200) {
        fail(b, "expression nested too deeply");
        return make(ExprKind::kLiteral, b);
      }
      ExprP a = parse_not();
      --depth_;
      auto e = make(ExprKind::kUnary, b);
      e->op = Op::kNot;
      e->end = a->end;
      e->args.push_back(std::move(a));
      return e;
    }
    return parse_comparison();
  }

  ExprP parse_comparison() {
    ExprP l = parse_concat();
    if (failed()) return l;
    for (;;) {
      Op op = Op::kNone;
      switch (cur().type) {
        case Tok::kEq: op = Op::kEq; break;
        case Tok::kNe: op = Op::kNe; break;
        case Tok::kLt: op = Op::kLt; break;
        case Tok::kLe: op = Op::kLe; break;
        case Tok::kGt: op = Op::kGt; break;
        case Tok::kGe: op = Op::kGe; break;
        default: break;
      }
      if (op != Op::kNone) {
        advance();
        ExprP r = parse_concat();
        if (failed()) return l;
        l = binary(op, std::move(l), std::move(r));
        continue;
      }
      if (at_kw("is")) {
        advance();
        auto e = make(ExprKind::kIsNull, l->offset);
        e->negated = accept_kw("not");
        if (!expect_kw("null")) return l;
        e->end = prev_end();
        e->args.push_back(std::move(l));
        l = std::move(e);
        continue;
      }
      bool neg = false;
      if (at_kw("not") && (is_kw(peek(), "in") || is_kw(peek(), "between") || is_kw(peek(), "like") ||
                           is_kw(peek(), "ilike"))) {
        neg = true;
        advance();
      }
      if (at_kw("in")) {
        advance();
        auto e = make(ExprKind::kIn, l->offset);
        e->negated = neg;
        e->args.push_back(std::move(l));
        if (!expect(Tok::kLParen, "'(' after IN")) return e;
        if (at_kw("select")) {
          fail(cur().offset, "subqueries are not supported");
          return e;
        }
        do {
          ExprP v = parse_expr();
          if (failed()) return e;
          e->args.push_back(std::move(v));
        } while (accept(Tok::kComma));
        if (!expect(Tok::kRParen, "',' or ')' in the IN list")) return e;
        e->end = prev_end();
        l = std::move(e);
        continue;
      }
      if (at_kw("between")) {
        advance();
        auto e = make(ExprKind::kBetween, l->offset);
        e->negated = neg;
        e->args.push_back(std::move(l));
        ExprP lo = parse_concat();
        if (failed()) return e;
        if (!expect_kw("and")) return e;
        ExprP hi = parse_concat();
        if (failed()) return e;
        e->end = hi->end;
        e->args.push_back(std::move(lo));
        e->args.push_back(std::move(hi));
        l = std::move(e);
        continue;
      }
      if (at_kw("like") || at_kw("ilike")) {
        const bool ci = at_kw("ilike");
        advance();
        auto e = make(ExprKind::kLike, l->offset);
        e->negated = neg;
        e->name = ci ? "ilike" : "like";
        e->args.push_back(std::move(l));
        ExprP p = parse_concat();
        if (failed()) return e;
        e->end = p->end;
        e->args.push_back(std::move(p));
        l = std::move(e);
        continue;
      }
      return l;
    }
  }

  ExprP parse_concat() {
    ExprP l = parse_additive();
    while (!failed() && cur().type == Tok::kConcat) {
      advance();
      ExprP r = parse_additive();
      if (failed()) break;
      l = binary(Op::kConcat, std::move(l), std::move(r));
    }
    return l;
  }

  ExprP parse_additive() {
    ExprP l = parse_multiplicative();
    while (!failed() && (cur().type == Tok::kPlus || cur().type == Tok::kMinus)) {
      const Op op = cur().type == Tok::kPlus ? Op::kAdd : Op::kSub;
      advance();
      ExprP r = parse_multiplicative();
      if (failed()) break;
      l = binary(op, std::move(l), std::move(r));
    }
    return l;
  }

  ExprP parse_multiplicative() {
    ExprP l = parse_unary();
    while (!failed() && (cur().type == Tok::kStar || cur().type == Tok::kSlash || cur().type == Tok::kPercent)) {
      const Op op = cur().type == Tok::kStar ? Op::kMul : cur().type == Tok::kSlash ? Op::kDiv : Op::kMod;
      advance();
      ExprP r = parse_unary();
      if (failed()) break;
      l = binary(op, std::move(l), std::move(r));
    }
    return l;
  }

  ExprP parse_unary() {
    if (cur().type == Tok::kMinus || cur().type == Tok::kPlus) {
      const bool neg = cur().type == Tok::kMinus;
      const std::size_t b = cur().offset;
      advance();
      if (++depth_ > 200) {
        fail(b, "expression nested too deeply");
        return make(ExprKind::kLiteral, b);
      }
      ExprP a = parse_unary();
      --depth_;
      if (failed()) return a;
      if (!neg) {
        a->offset = b;
        return a;
      }
      // Fold -literal so that -9223372036854775808 and negative constants stay literals.
      if (a->kind == ExprKind::kLiteral && a->lit.type == VType::kInt &&
          a->lit.i != std::numeric_limits<std::int64_t>::min()) {
        a->lit.i = -a->lit.i;
        a->offset = b;
        return a;
      }
      if (a->kind == ExprKind::kLiteral && a->lit.type == VType::kDouble) {
        a->lit.d = -a->lit.d;
        a->offset = b;
        return a;
      }
      auto e = make(ExprKind::kUnary, b);
      e->op = Op::kNeg;
      e->end = a->end;
      e->args.push_back(std::move(a));
      return e;
    }
    return parse_postfix();
  }

  ExprP parse_postfix() {
    ExprP e = parse_primary();
    while (!failed() && cur().type == Tok::kCast) {
      advance();
      auto c = make(ExprKind::kCast, e->offset);
      if (cur().type != Tok::kIdent) {
        fail_here("a type name after '::'");
        return e;
      }
      c->name = lower(cur().text);
      advance();
      c->end = prev_end();
      c->args.push_back(std::move(e));
      e = std::move(c);
    }
    return e;
  }

  ExprP parse_primary() {
    const Token& t = cur();
    const std::size_t b = t.offset;
    switch (t.type) {
      case Tok::kInt: {
        auto e = make(ExprKind::kLiteral, b);
        e->lit = Value::of_int(t.ival);
        advance();
        e->end = prev_end();
        return e;
      }
      case Tok::kFloat: {
        auto e = make(ExprKind::kLiteral, b);
        e->lit = Value::of_double(t.dval);
        advance();
        e->end = prev_end();
        return e;
      }
      case Tok::kString: {
        auto e = make(ExprKind::kLiteral, b);
        e->lit = Value::of_string(t.text);
        advance();
        e->end = prev_end();
        return e;
      }
      case Tok::kInterval:
        fail(b, "an interval (" + t.text + ") is only allowed in the window function or EMIT clause");
        return make(ExprKind::kLiteral, b);
      case Tok::kLParen: {
        advance();
        if (at_kw("select")) {
          fail(cur().offset, "subqueries are not supported");
          return make(ExprKind::kLiteral, b);
        }
        ExprP e = parse_expr();
        if (failed()) return e;
        if (!expect(Tok::kRParen, "')'")) return e;
        e->offset = b;
        e->end = prev_end();
        return e;
      }
      case Tok::kQuotedIdent: return parse_column();
      case Tok::kIdent: break;
      case Tok::kStar:
        fail(b, "'*' is only allowed alone in the SELECT list or in count(*)");
        return make(ExprKind::kLiteral, b);
      default:
        fail_here("an expression");
        return make(ExprKind::kLiteral, b);
    }
    const std::string w = lower(t.text);
    if (w == "null" || w == "true" || w == "false") {
      auto e = make(ExprKind::kLiteral, b);
      if (w != "null") e->lit = Value::of_bool(w == "true");
      advance();
      e->end = prev_end();
      return e;
    }
    if (w == "case") return parse_case();
    if (w == "cast" && peek().type == Tok::kLParen) return parse_cast();
    if (w == "interval") {
      fail(b, "an interval is only allowed in the window function or EMIT clause");
      return make(ExprKind::kLiteral, b);
    }
    if (peek().type == Tok::kLParen) return parse_call();
    if (is_reserved(w)) {
      fail_here("an expression");
      return make(ExprKind::kLiteral, b);
    }
    return parse_column();
  }

  ExprP parse_column() {
    auto e = make(ExprKind::kColumn, cur().offset);
    e->path.push_back(cur().text);
    advance();
    while (cur().type == Tok::kDot) {
      advance();
      if (cur().type != Tok::kIdent && cur().type != Tok::kQuotedIdent) {
        fail_here("a member name after '.'");
        return e;
      }
      e->path.push_back(cur().text);
      advance();
    }
    for (std::size_t k = 0; k < e->path.size(); ++k) {
      if (k) e->name += '.';
      e->name += e->path[k];
    }
    e->end = prev_end();
    return e;
  }

  ExprP parse_call() {
    auto e = make(ExprKind::kFunc, cur().offset);
    e->name = lower(cur().text);
    advance();
    advance();  // '('
    if (cur().type == Tok::kStar) {
      e->star = true;
      advance();
      if (!expect(Tok::kRParen, "')' after '*'")) return e;
      e->end = prev_end();
      return e;
    }
    if (accept_kw("distinct")) e->distinct = true;
    if (cur().type != Tok::kRParen) {
      do {
        ExprP a = parse_expr();
        if (failed()) return e;
        e->args.push_back(std::move(a));
      } while (accept(Tok::kComma));
    }
    if (!expect(Tok::kRParen, "',' or ')' in the argument list of " + e->name)) return e;
    e->end = prev_end();
    return e;
  }

  bool expect(Tok k, const std::string& what) {
    if (accept(k)) return true;
    fail_here(what);
    return false;
  }

  ExprP parse_case() {
    auto e = make(ExprKind::kCase, cur().offset);
    advance();
    if (!at_kw("when")) {
      e->has_operand = true;
      ExprP op = parse_expr();
      if (failed()) return e;
      e->args.push_back(std::move(op));
    }
    bool any = false;
    while (accept_kw("when")) {
      any = true;
      ExprP w = parse_expr();
      if (failed()) return e;
      if (!expect_kw("then")) return e;
      ExprP th = parse_expr();
      if (failed()) return e;
      e->args.push_back(std::move(w));
      e->args.push_back(std::move(th));
    }
    if (!any) {
      fail_here("WHEN");
      return e;
    }
    if (accept_kw("else")) {
      e->has_else = true;
      ExprP el = parse_expr();
      if (failed()) return e;
      e->args.push_back(std::move(el));
    }
    if (!expect_kw("end")) return e;
    e->end = prev_end();
    return e;
  }

  ExprP parse_cast() {
    auto e = make(ExprKind::kCast, cur().offset);
    advance();
    advance();  // '('
    ExprP a = parse_expr();
    if (failed()) return e;
    if (!expect_kw("as")) return e;
    if (cur().type != Tok::kIdent) {
      fail_here("a type name (int, double, string, bool, timestamp)");
      return e;
    }
    e->name = lower(cur().text);
    advance();
    // Allow parameterised spellings such as DECIMAL(10, 2) or VARCHAR(20): ignore the numbers.
    if (accept(Tok::kLParen)) {
      while (cur().type == Tok::kInt || cur().type == Tok::kComma) advance();
      if (!expect(Tok::kRParen, "')'")) return e;
    }
    if (!expect(Tok::kRParen, "')' after the CAST type")) return e;
    e->end = prev_end();
    e->args.push_back(std::move(a));
    return e;
  }

  std::string_view sql_;
  std::vector<Token> t_;
  std::size_t i_ = 0;
  int depth_ = 0;
  Ast* ast_ = nullptr;
  SqlError error_;
};

}  // namespace

void set_line_column(std::string_view sql, SqlError* err) {
  err->offset = std::min(err->offset, sql.size());
  int line = 1;
  int col = 1;
  for (std::size_t k = 0; k < err->offset; ++k) {
    if (sql[k] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(sql[k]) & 0xC0) != 0x80) {
      ++col;  // columns count characters, not UTF-8 continuation bytes
    }
  }
  err->line = line;
  err->column = col;
}

bool parse_sql(std::string_view sql, Ast* ast, SqlError* err) {
  std::vector<Token> toks;
  Lexer lexer(sql);
  if (!lexer.run(&toks, err)) return false;
  Parser parser(sql, std::move(toks));
  return parser.parse(ast, err);
}

}  // namespace outpost::query::internal

namespace outpost::query {

std::string SqlError::to_string() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

}  // namespace outpost::query
