// PgParams: the text (and bytea binary) forms of bound parameters.
#include "drivers/postgres/pg_params.hpp"

#include <limits>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db::postgres {

PgParams::PgParams(std::span<const Value> params) {
    const std::size_t n = params.size();
    values_.assign(n, nullptr);
    lengths_.assign(n, 0);
    formats_.assign(n, 0);
    // Text we format ourselves lives in owned_; pointers are taken once it stops growing.
    std::vector<std::ptrdiff_t> owned_index(n, -1);
    owned_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const Value& v = params[i];
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                auto own = [&](std::string s) {
                    owned_index[i] = static_cast<std::ptrdiff_t>(owned_.size());
                    owned_.push_back(std::move(s));
                };
                if constexpr (std::is_same_v<T, std::monostate>) {
                    values_[i] = nullptr;
                } else if constexpr (std::is_same_v<T, bool>) {
                    values_[i] = x ? "t" : "f";
                } else if constexpr (std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>) {
                    own(fmt::format("{}", x));
                } else if constexpr (std::is_same_v<T, double>) {
                    own(format_double(x));
                } else if constexpr (std::is_same_v<T, std::string>) {
                    // libpq sends text parameters as C strings: a NUL would silently cut the value.
                    if (auto pos = x.find('\0'); pos != std::string::npos)
                        throw DataError(fmt::format(
                            "parameter ${}: text contains a NUL byte at offset {}; PostgreSQL text cannot store NUL "
                            "(Features::text_allows_nul is false) - send it as bytes (bytea) instead",
                            i + 1, pos));
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
                    own(format_timestamp(x) + "+00");
                } else {
                    own(format_date(x));
                }
            },
            v.storage());
    }
    for (std::size_t i = 0; i < n; ++i)
        if (owned_index[i] >= 0) values_[i] = owned_[static_cast<std::size_t>(owned_index[i])].c_str();
}

void PgParams::apply(PgRequest& req) const {
    req.n_params = size();
    req.values = values_.empty() ? nullptr : values_.data();
    req.lengths = lengths_.empty() ? nullptr : lengths_.data();
    req.formats = formats_.empty() ? nullptr : formats_.data();
}

}  // namespace orm::db::postgres
