// A strict JSON scanner (RFC 8259) for the ingest hot path. It builds no DOM: a value is
// validated and handed back as its kind plus its raw text, a span of the input, so a
// batch's values stay in the request body until they are written as COPY text. Strings
// are checked (escapes, \uXXXX surrogate pairs, UTF-8, no raw control characters) but
// unescaped only when someone needs the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::sync {

enum class jkind : uint8_t { null, boolean, integer, number, string, object, array };

struct jvalue {
  jkind kind = jkind::null;
  bool escaped = false;  // a string with backslash escapes
  bool int64 = false;    // an integer that fits int64_t
  // Strings: the text between the quotes, still escaped. Everything else: its JSON text.
  std::string_view text;
  bool is_true() const { return kind == jkind::boolean && text == "true"; }
};

// Deeper nesting is refused rather than risking the stack on hostile input.
inline constexpr int kMaxJsonDepth = 128;

// Thrown by the scanner; `pos` is the offset in the input where it went wrong.
struct scan_error {
  size_t pos = 0;
  std::string what;
};

class json_scanner {
 public:
  // Scans in[pos, end).
  json_scanner(std::string_view in, size_t pos, size_t end)
      : p_(in.data() + pos), begin_(in.data()), end_(in.data() + end) {}

  size_t pos() const { return static_cast<size_t>(p_ - begin_); }
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }
  // The next byte after whitespace, 0 at the end.
  char peek() {
    skip_ws();
    return p_ < end_ ? *p_ : '\0';
  }
  // Whitespace up to the end?
  bool at_end() { return peek() == '\0' && p_ == end_; }

  // One value of any kind; `depth` counts the containers it is nested in.
  jvalue value(int depth);

  // An object's members: `member(raw_key, key_escaped)` is called at each value and must
  // consume exactly that value (with value() or object()/array()).
  template <class F>
  void object(int depth, F&& member) {
    enter(depth, '{');
    if (peek() == '}') {
      ++p_;
      return;
    }
    while (true) {
      if (peek() != '"')
        fail(p_, "expected a string as object key" + got());
      ++p_;
      bool esc = false;
      std::string_view key = string_body(esc);
      if (peek() != ':')
        fail(p_, "expected ':' after an object key" + got());
      ++p_;
      skip_ws();
      member(key, esc);
      char c = peek();
      ++p_;
      if (c == ',')
        continue;
      if (c == '}')
        return;
      --p_;
      fail(p_, "expected ',' or '}' after an object member" + got());
    }
  }

  template <class F>
  void array(int depth, F&& element) {
    enter(depth, '[');
    if (peek() == ']') {
      ++p_;
      return;
    }
    while (true) {
      skip_ws();
      element();
      char c = peek();
      ++p_;
      if (c == ',')
        continue;
      if (c == ']')
        return;
      --p_;
      fail(p_, "expected ',' or ']' after an array element" + got());
    }
  }

  [[noreturn]] void fail(const char* at, std::string what) const {
    throw scan_error{static_cast<size_t>(at - begin_), std::move(what)};
  }
  // ", got 'x'" or ", got the end of the input", for error messages.
  std::string got() const;

 private:
  void enter(int depth, char open);
  std::string_view string_body(bool& escaped);  // after the opening quote
  jvalue number();
  void literal(std::string_view word);

  const char* p_;
  const char* begin_;
  const char* end_;
};

// The bytes a JSON string stands for (`raw` as in jvalue::text; it was validated).
std::string json_unescape(std::string_view raw);
// Appends the bytes `raw` stands for in COPY text format (\\, \t, \n, \r escaped; NUL
// characters dropped: PostgreSQL's text cannot hold them).
void append_copy_json_string(std::string& out, std::string_view raw);

}  // namespace sluice::sync
