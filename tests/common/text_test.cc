#include "common/text.h"

#include <gtest/gtest.h>

namespace marquee {
namespace {

TEST(TextTest, ValidatesUtf8) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9"));
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // cut in the middle
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("ab\xFF"
                             "c"),
            2u);
}

TEST(TextTest, SanitizeReplacesEveryInvalidByte) {
  EXPECT_EQ(SanitizeUtf8("a\xC3z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(SanitizeUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_TRUE(IsValidUtf8(SanitizeUtf8("\xFF\xFE\xC3")));
}

TEST(TextTest, TruncateCutsOnCharacterBoundaries) {
  const std::string id = std::string(63, 'a') + "\xC3\xA9";
  EXPECT_EQ(TruncateUtf8(id, 64).size(), 63u);
  EXPECT_EQ(TruncateUtf8(id, 65).size(), 65u);
  EXPECT_EQ(TruncateUtf8("abc", 10), "abc");
  EXPECT_EQ(TruncateUtf8("\xFF\xFF", 1).size(), 1u);
}

TEST(TextTest, EscapeForTerminalNeutralisesControlCharacters) {
  EXPECT_EQ(EscapeForTerminal("a\nb\x1b[31m"), "a\\nb\\x1b[31m");
  EXPECT_EQ(EscapeForTerminal("\xC2\x9B"
                              "x"),
            "\\u{9b}x");
  EXPECT_EQ(EscapeForTerminal("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(EscapeForTerminal("\xFF"), "\\xff");
  EXPECT_EQ(EscapeForTerminal("a\\b", true), "a\\\\b");
}

TEST(TextTest, QuoteForMessageCutsAndMarks) {
  EXPECT_EQ(QuoteForMessage(std::string(10, 'x'), 4), "xxxx...");
  EXPECT_EQ(QuoteForMessage("ok"), "ok");
}

}  // namespace
}  // namespace marquee
