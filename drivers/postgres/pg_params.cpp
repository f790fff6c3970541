// PgParams: the text (and bytea binary) forms of bound parameters.
#include "drivers/postgres/pg_params.hpp"
#include "drivers/utf8.hpp"

#include <charconv>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db::postgres {

PgParams::PgParams(std::span<const Value> params) : n_(params.size()) {
    const std::size_t n = n_;
    if (n <= inline_count) {
        values_ = values_inline_;
        lengths_ = lengths_inline_;
        formats_ = formats_inline_;
    } else {
        values_heap_.resize(n);
        lengths_heap_.resize(n);
        formats_heap_.resize(n);
        values_ = values_heap_.data();
        lengths_ = lengths_heap_.data();
        formats_ = formats_heap_.data();
    }
    // owned_ never grows past n, so the c_str() pointers taken into it stay valid.
    auto own = [&](std::size_t i, std::string s) {
        if (owned_.capacity() == 0) owned_.reserve(n);
        owned_.push_back(std::move(s));
        values_[i] = owned_.back().c_str();
    };
    for (std::size_t i = 0; i < n; ++i) {
        const Value& v = params[i];
        values_[i] = nullptr;
        lengths_[i] = 0;
        formats_[i] = 0;
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::monostate>) {
                    values_[i] = nullptr;
                } else if constexpr (std::is_same_v<T, bool>) {
                    values_[i] = x ? "t" : "f";
                } else if constexpr (std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>) {
                    if (i < inline_count) {
                        char* buf = numbers_[i];
                        auto end = std::to_chars(buf, buf + number_chars - 1, x).ptr;
                        *end = '\0';
                        values_[i] = buf;
                    } else {
                        own(i, std::to_string(x));
                    }
                } else if constexpr (std::is_same_v<T, double>) {
                    own(i, format_double(x));
                } else if constexpr (std::is_same_v<T, std::string>) {
                    // libpq sends text parameters as C strings: a NUL would silently cut the value.
                    if (auto pos = x.find('\0'); pos != std::string::npos)
                        throw DataError(fmt::format(
                            "parameter ${}: text contains a NUL byte at offset {}; PostgreSQL text cannot store NUL "
                            "(Features::text_allows_nul is false) - send it as bytes (bytea) instead",
                            i + 1, pos));
                    check_utf8_param(x, fmt::format("${}", i + 1));
                    values_[i] = x.c_str();  // borrowed: the caller's Value outlives the call
                } else if constexpr (std::is_same_v<T, Bytes>) {
                    static const char empty = 0;
                    values_[i] = x.empty() ? &empty : reinterpret_cast<const char*>(x.data());
                    lengths_[i] = static_cast<int>(x.size());
                    formats_[i] = 1;
                    if (x.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
                        throw DataError(fmt::format("parameter ${}: {} bytes exceed libpq's 2 GB parameter limit",
                                                    i + 1, x.size()));
                } else if constexpr (std::is_same_v<T, Timestamp>) {
                    own(i, format_timestamp(x) + "+00");
                } else {
                    own(i, format_date(x));
                }
            },
            v.storage());
    }
}

std::size_t PgParams::wire_bytes() const {
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < n_; ++i)
        bytes += 8 + (values_[i] == nullptr ? 0
                      : formats_[i] == 1   ? static_cast<std::size_t>(lengths_[i])
                                           : std::char_traits<char>::length(values_[i]));
    return bytes;
}

void PgParams::apply(PgRequest& req) const {
    req.n_params = size();
    req.values = n_ == 0 ? nullptr : values_;
    req.lengths = n_ == 0 ? nullptr : lengths_;
    req.formats = n_ == 0 ? nullptr : formats_;
}

}  // namespace orm::db::postgres
