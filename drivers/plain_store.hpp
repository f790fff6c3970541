// Storing one column value into a member a PlainSlot describes (Cursor::read_plain). Each
// returns false, storing nothing, when the value is not the member's own kind as it stands;
// the caller then leaves that column to the strict per-type read.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "drivers/hints.hpp"
#include "drivers/result.hpp"

namespace orm::db::plain {

template <class M>
M& member(void* object, const PlainSlot& s) noexcept {
    return *reinterpret_cast<M*>(static_cast<char*>(object) + s.offset);
}

template <class M>
void put(void* object, const PlainSlot& s, bool optional, M v) {
    if (optional) member<std::optional<M>>(object, s) = std::move(v);
    else member<M>(object, s) = std::move(v);
}

// SQL NULL: only an optional member takes it.
inline bool store_null(void* object, const PlainSlot& s) noexcept {
    switch (s.kind) {
        case PlainKind::opt_boolean: member<std::optional<bool>>(object, s).reset(); return true;
        case PlainKind::opt_int32: member<std::optional<std::int32_t>>(object, s).reset(); return true;
        case PlainKind::opt_int64: member<std::optional<std::int64_t>>(object, s).reset(); return true;
        case PlainKind::opt_float64: member<std::optional<double>>(object, s).reset(); return true;
        case PlainKind::opt_text: member<std::optional<std::string>>(object, s).reset(); return true;
        default: return false;
    }
}

// An integer column: into bool (0 or 1 only), int32 (in range only) and int64 members.
inline bool store_int(void* object, const PlainSlot& s, std::int64_t v) noexcept {
    switch (s.kind) {
        case PlainKind::boolean:
        case PlainKind::opt_boolean:
            if (v != 0 && v != 1) return false;
            put<bool>(object, s, s.kind == PlainKind::opt_boolean, v == 1);
            return true;
        case PlainKind::int32:
        case PlainKind::opt_int32:
            if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
                return false;
            put<std::int32_t>(object, s, s.kind == PlainKind::opt_int32, static_cast<std::int32_t>(v));
            return true;
        case PlainKind::int64:
        case PlainKind::opt_int64: put<std::int64_t>(object, s, s.kind == PlainKind::opt_int64, v); return true;
        case PlainKind::float64:
        case PlainKind::opt_float64:
            put<double>(object, s, s.kind == PlainKind::opt_float64, static_cast<double>(v));
            return true;
        default: return false;
    }
}

// A real column: into double members only.
inline bool store_double(void* object, const PlainSlot& s, double v) noexcept {
    if (s.kind != PlainKind::float64 && s.kind != PlainKind::opt_float64) return false;
    put<double>(object, s, s.kind == PlainKind::opt_float64, v);
    return true;
}

// The copies into a string member, out of line: std::string's assign expands to a lot of code,
// which would spread the reading loop over more cache lines (see drivers/hints.hpp).
WEFT_NOINLINE inline void assign(std::string& m, std::string_view v) { m.assign(v); }
WEFT_NOINLINE inline void assign(std::optional<std::string>& m, std::string_view v) {
    if (m) m->assign(v);
    else m.emplace(v);
}

// A text column: into std::string members only (reusing the member's buffer).
inline bool store_text(void* object, const PlainSlot& s, std::string_view v) {
    if (s.kind == PlainKind::text) {
        assign(member<std::string>(object, s), v);
        return true;
    }
    if (s.kind == PlainKind::opt_text) {
        assign(member<std::optional<std::string>>(object, s), v);
        return true;
    }
    return false;
}

}  // namespace orm::db::plain
