#include "drivers/utf8.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db {

std::size_t invalid_utf8_offset(std::string_view text) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        // ASCII runs, eight bytes at a time.
        while (i + 8 <= n) {
            std::uint64_t word;
            std::memcpy(&word, p + i, 8);
            if (word & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;       // overlong
            else if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;       // overlong
            else if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
        } else {
            return i;  // a continuation byte without a lead, 0xC0/0xC1, or 0xF5..0xFF
        }
        if (i + len > n) return i;  // cut short
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (std::size_t k = 2; k < len; ++k)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
        i += len;
    }
    return std::string_view::npos;
}

void check_utf8_param(std::string_view text, std::string_view name) {
    const std::size_t at = invalid_utf8_offset(text);
    if (at == std::string_view::npos) return;
    std::string bytes;
    for (std::size_t k = at; k < text.size() && k < at + 4; ++k)
        bytes += fmt::format("{}0x{:02x}", bytes.empty() ? "" : " ", static_cast<unsigned char>(text[k]));
    throw DataError(fmt::format(
        "parameter {}: text is not valid UTF-8 at byte offset {} (bytes {}); text values must be "
        "UTF-8 on every backend - convert it, or send raw bytes as orm::Bytes (a binary field)",
        name, at, bytes));
}

}  // namespace orm::db
