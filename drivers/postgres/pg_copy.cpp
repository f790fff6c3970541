// PgConnection::copy_in: COPY ... FROM STDIN for bulk loads (bulk_create of many rows).
//
// Two exchanges, both nonblocking and waited for under the statement deadline in either mode
// (orm::wait_io in async mode, poll(2) in sync mode), as round_trip_async does:
//  1. SELECT <columns> FROM <table> LIMIT 0: the columns' type OIDs;
//  2. COPY <table> (<columns>) FROM STDIN in binary format when every value has a binary form we
//     write for its column's type (bool, int2/4/8, float4/8, text/varchar/char, bytea, date,
//     timestamp[tz], json/jsonb), else in text format (each value's text form, escaped). The
//     rows are encoded into a buffer handed to PQputCopyData every 256 KB, so the server parses
//     while we encode; when libpq's buffer is full we wait for the socket (reading what the
//     server says meanwhile: an early error stops the load). In async mode the fiber yields to
//     the loop after each buffer, so a large load does not hold the other fibers up.
// A refused row: the server's error (its SQLSTATE family, as for an INSERT) carries a CONTEXT
// "COPY t, line N"; the message names row N-1 through CopyIn::describe_row. A lost server gives
// orm::ConnectionError; a deadline that passes cancels the COPY on the server (TimeoutError),
// exactly as for a statement. The deadline covers the whole COPY, not each buffer.
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "drivers/bridge/wait.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/postgres/pg_connection.hpp"
#include "drivers/postgres/pg_errors.hpp"
#include "drivers/utf8.hpp"

namespace orm::db::postgres {

namespace {

using Status = PgHandle::Result::Status;
using Field = PgHandle::Result::Field;

// Type OIDs (pg_type.dat).
enum : Oid {
    oid_bool = 16, oid_bytea = 17, oid_int8 = 20, oid_int2 = 21, oid_int4 = 23, oid_text = 25, oid_json = 114,
    oid_float4 = 700, oid_float8 = 701, oid_bpchar = 1042, oid_varchar = 1043, oid_date = 1082,
    oid_timestamp = 1114, oid_timestamptz = 1184, oid_jsonb = 3802,
};

constexpr std::size_t flush_bytes = 256 * 1024;
// 2000-01-01 (PostgreSQL's epoch) in days / microseconds since 1970-01-01.
constexpr std::int64_t pg_epoch_days = 10957;
constexpr std::int64_t pg_epoch_us = pg_epoch_days * 86400LL * 1000000LL;

// Whether value v has a binary form for a column of type t that we write.
bool binary_fits(Oid t, const Value& v) {
    switch (v.kind()) {
        case ValueKind::null: return true;
        case ValueKind::boolean: return t == oid_bool;
        case ValueKind::int32:
        case ValueKind::int64: return t == oid_int2 || t == oid_int4 || t == oid_int8 || t == oid_float8;
        case ValueKind::float64: return t == oid_float8 || t == oid_float4;
        case ValueKind::text:
            return t == oid_text || t == oid_varchar || t == oid_bpchar || t == oid_json || t == oid_jsonb;
        case ValueKind::bytes: return t == oid_bytea;
        case ValueKind::timestamp: return t == oid_timestamptz || t == oid_timestamp;
        case ValueKind::date: return t == oid_date;
    }
    return false;
}

template <class T>
void put_be(std::string& out, T x) {
    using U = std::make_unsigned_t<T>;
    U u = static_cast<U>(x);
    char b[sizeof(T)];
    for (std::size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<char>((u >> (8 * (sizeof(T) - 1 - i))) & 0xff);
    out.append(b, sizeof(T));
}

[[noreturn]] void out_of_range(std::string_view column, std::int64_t v, std::string_view type) {
    throw DataError(fmt::format("COPY: {} is out of range for column {} ({})", v, column, type), "22003");
}

void check_text(const std::string& s, std::string_view column) {
    if (auto pos = s.find('\0'); pos != std::string::npos)
        throw DataError(fmt::format("COPY: the text for column {} contains a NUL byte at offset {}; PostgreSQL text "
                                    "cannot store NUL (Features::text_allows_nul is false)",
                                    column, pos),
                        "22021");
    check_utf8_param(s, column);
}

void put_binary(std::string& out, Oid t, const Value& v, std::string_view column) {
    if (v.is_null()) {
        put_be<std::int32_t>(out, -1);
        return;
    }
    switch (v.kind()) {
        case ValueKind::boolean:
            put_be<std::int32_t>(out, 1);
            out.push_back(v.as_bool() ? 1 : 0);
            return;
        case ValueKind::int32:
        case ValueKind::int64: {
            std::int64_t x = v.as_int64();
            if (t == oid_int8) {
                put_be<std::int32_t>(out, 8);
                put_be<std::int64_t>(out, x);
            } else if (t == oid_int4) {
                if (x < std::numeric_limits<std::int32_t>::min() || x > std::numeric_limits<std::int32_t>::max())
                    out_of_range(column, x, "integer");
                put_be<std::int32_t>(out, 4);
                put_be<std::int32_t>(out, static_cast<std::int32_t>(x));
            } else if (t == oid_int2) {
                if (x < std::numeric_limits<std::int16_t>::min() || x > std::numeric_limits<std::int16_t>::max())
                    out_of_range(column, x, "smallint");
                put_be<std::int32_t>(out, 2);
                put_be<std::int16_t>(out, static_cast<std::int16_t>(x));
            } else {  // float8
                put_be<std::int32_t>(out, 8);
                put_be<std::uint64_t>(out, std::bit_cast<std::uint64_t>(static_cast<double>(x)));
            }
            return;
        }
        case ValueKind::float64: {
            double d = v.as_double();
            if (t == oid_float4) {
                put_be<std::int32_t>(out, 4);
                put_be<std::uint32_t>(out, std::bit_cast<std::uint32_t>(static_cast<float>(d)));
            } else {
                put_be<std::int32_t>(out, 8);
                put_be<std::uint64_t>(out, std::bit_cast<std::uint64_t>(d));
            }
            return;
        }
        case ValueKind::text: {
            const std::string& s = v.as_text();
            check_text(s, column);
            const bool jsonb = t == oid_jsonb;
            put_be<std::int32_t>(out, static_cast<std::int32_t>(s.size() + (jsonb ? 1 : 0)));
            if (jsonb) out.push_back(1);  // jsonb's binary format version
            out.append(s);
            return;
        }
        case ValueKind::bytes: {
            const Bytes& b = v.as_bytes();
            put_be<std::int32_t>(out, static_cast<std::int32_t>(b.size()));
            out.append(reinterpret_cast<const char*>(b.data()), b.size());
            return;
        }
        case ValueKind::timestamp: {
            put_be<std::int32_t>(out, 8);
            put_be<std::int64_t>(out, v.as_timestamp().time_since_epoch().count() - pg_epoch_us);
            return;
        }
        case ValueKind::date: {
            put_be<std::int32_t>(out, 4);
            put_be<std::int32_t>(out, static_cast<std::int32_t>(v.as_date().time_since_epoch().count() - pg_epoch_days));
            return;
        }
        case ValueKind::null: return;
    }
}

// COPY's text format: the value's text form with backslash, newline, carriage return and tab
// escaped; NULL is \N.
void put_text_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: out.push_back(c);
        }
    }
}

void put_text(std::string& out, const Value& v, std::string_view column) {
    switch (v.kind()) {
        case ValueKind::null: out += "\\N"; return;
        case ValueKind::boolean: out += v.as_bool() ? "t" : "f"; return;
        case ValueKind::int32:
        case ValueKind::int64: {
            char buf[24];
            auto end = std::to_chars(buf, buf + sizeof buf, v.as_int64()).ptr;
            out.append(buf, end);
            return;
        }
        case ValueKind::float64: out += format_double(v.as_double()); return;
        case ValueKind::text:
            check_text(v.as_text(), column);
            put_text_escaped(out, v.as_text());
            return;
        case ValueKind::bytes: {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\\\x";  // bytea's hex input, its backslash escaped for COPY
            for (auto b : v.as_bytes()) {
                out.push_back(hex[static_cast<unsigned char>(b) >> 4]);
                out.push_back(hex[static_cast<unsigned char>(b) & 15]);
            }
            return;
        }
        case ValueKind::timestamp: out += format_timestamp(v.as_timestamp()) + "+00"; return;
        case ValueKind::date: out += format_date(v.as_date()); return;
    }
}

bool copy_succeeded(const PgHandle::Result& r) {
    return r.has_value() && (r.status() == Status::command_ok || r.status() == Status::tuples_ok);
}

// The line number in a COPY error's CONTEXT ("COPY t, line 12, column x: ..."), 0 if none.
std::size_t copy_line(std::string_view context) {
    auto p = context.find(", line ");
    if (p == std::string_view::npos) return 0;
    p += 7;
    std::size_t n = 0;
    auto r = std::from_chars(context.data() + p, context.data() + context.size(), n);
    return r.ec == std::errc() ? n : 0;
}

}  // namespace

std::uint64_t PgConnection::copy_in(const CopyIn& load) {
    ensure_usable();
    Operation op(*this);
    const std::size_t ncols = load.columns.size();
    if (ncols == 0 || ncols > 1600)
        throw ProgrammingError(fmt::format("COPY into {}: {} columns given (1 to 1600 can be loaded)", load.table, ncols));
    if (load.values.size() % ncols != 0)
        throw ProgrammingError(fmt::format("COPY into {}: {} values do not fill rows of {} columns", load.table,
                                           load.values.size(), ncols));
    const std::size_t nrows = load.values.size() / ncols;
    const Dialect& d = dialect();
    std::string table = d.quote_name(load.table), cols;
    for (std::size_t c = 0; c < ncols; ++c) {
        if (c) cols += ", ";
        cols += d.quote_name(load.columns[c]);
    }
    flush_deallocations();

    // Runs one simple-query exchange nonblockingly and returns its result (PQexec's), with
    // the COPY data written by `feed` once the server is in COPY IN state.
    auto exchange = [&](const std::string& sql, auto&& feed) -> PgHandle::Result {
        Exchange x = new_exchange(sql);
        PgRequest req;
        req.kind = PgRequest::Kind::simple_query;
        req.sql = sql.c_str();
        if (!handle_.set_nonblocking(true) || !handle_.send(req)) return check(PgHandle::Result(), sql);
        PgHandle::Result last;
        bool lost_now = false;
        try {
            if (!flush_output(x)) lost_now = true;
            while (!lost_now) {
                PgHandle::Result r;
                if (!handle_.next_result(r)) {
                    wait_socket(Io::readable, x);
                    if (!handle_.consume_input()) {
                        lost_now = true;
                        break;
                    }
                    continue;
                }
                if (!r.has_value()) break;  // the exchange is over
                if (r.status() == Status::copy_in) {
                    feed(x);
                    continue;  // next: the COPY's own result
                }
                if (last.status() != Status::fatal_error || !last.has_value()) last = std::move(r);
            }
        } catch (...) {
            mark_broken();
            throw;
        }
        if (lost_now && last.status() != Status::fatal_error) last = {};
        idle_mark_ = orm::io_poll_mark();
        settle_cancel(x);
        if (x.cancelled && last.has_value() && last.error_field(Field::sqlstate) == "57014") throw_cancelled(x, last);
        return last;
    };

    // 1. The columns' types.
    std::vector<Oid> types(ncols, 0);
    {
        std::string sql = fmt::format("SELECT {} FROM {} LIMIT 0", cols, table);
        auto r = check(exchange(sql, [](Exchange&) {}), sql);
        for (std::size_t c = 0; c < ncols && c < static_cast<std::size_t>(r.columns()); ++c)
            types[c] = r.column_type(static_cast<int>(c));
    }
    bool binary = true;
    for (std::size_t i = 0; i < load.values.size() && binary; ++i)
        binary = binary_fits(types[i % ncols], load.values[i]);

    // 2. The COPY.
    std::string sql = fmt::format("COPY {} ({}) FROM STDIN{}", table, cols, binary ? " (FORMAT binary)" : "");
    std::string failed_encoding;  // a value we could not encode: the COPY is ended with this error
    std::exception_ptr encode_error;
    auto feed = [&](Exchange& x) {
        std::string buf;
        buf.reserve(flush_bytes + 4096);
        bool stopped = false;  // the server ended the COPY early (an error), or the connection failed
        auto put = [&]() {
            if (buf.empty() || stopped) return;
            for (;;) {
                int r = handle_.put_copy_data(buf.data(), static_cast<int>(buf.size()));
                if (r == 1) break;
                if (r < 0) {
                    stopped = true;
                    break;
                }
                if (!flush_output(x)) {
                    stopped = true;
                    break;
                }
            }
            buf.clear();
        };
        try {
            if (binary) {
                buf.append("PGCOPY\n\377\r\n\0", 11);
                put_be<std::int32_t>(buf, 0);  // flags
                put_be<std::int32_t>(buf, 0);  // header extension length
            }
            const Value* v = load.values.data();
            for (std::size_t row = 0; row < nrows && !stopped; ++row) {
                if (binary) {
                    put_be<std::int16_t>(buf, static_cast<std::int16_t>(ncols));
                    for (std::size_t c = 0; c < ncols; ++c, ++v) put_binary(buf, types[c], *v, load.columns[c]);
                } else {
                    for (std::size_t c = 0; c < ncols; ++c, ++v) {
                        if (c) buf.push_back('\t');
                        put_text(buf, *v, load.columns[c]);
                    }
                    buf.push_back('\n');
                }
                if (buf.size() >= flush_bytes) {
                    put();
                    // Encoding a large load takes a while: let the loop's other fibers run.
                    if (async_) orm::yield_now();
                }
            }
            if (binary) put_be<std::int16_t>(buf, -1);
            put();
        } catch (const DataError& e) {
            // A value that cannot be sent (bad UTF-8, out of range): abort the COPY, report it.
            encode_error = std::current_exception();
            failed_encoding = e.what();
        }
        if (stopped && !handle_.connection_ok()) return;
        for (;;) {
            int r = handle_.put_copy_end(encode_error ? "weft: a value could not be encoded" : nullptr);
            if (r == 1) break;
            if (r < 0) return;  // no COPY in progress any more (the server's error is waiting) or lost
            wait_socket(Io::writable, x);
        }
        flush_output(x);
    };
    PgHandle::Result r = exchange(sql, feed);
    if (encode_error) std::rethrow_exception(encode_error);
    if (copy_succeeded(r)) {
        auto tuples = r.command_tuples();
        std::uint64_t n = 0;
        std::from_chars(tuples.data(), tuples.data() + tuples.size(), n);
        return n;
    }
    if (!r.has_value() || r.status() != Status::fatal_error) {
        check(std::move(r), sql);  // throws (lost connection, libpq error)
        throw InternalError("COPY ended without a result");
    }
    PgFailure f = describe_failure(r, handle_.error_message(), sql);
    auto context = r.error_field(Field::context);
    if (std::size_t line = copy_line(context); line > 0 && line <= nrows) {
        f.message += fmt::format("\nCONTEXT: {}", context);
        if (load.describe_row) f.message += fmt::format("\nrow: {}", load.describe_row(load.context, line - 1));
        else f.message += fmt::format("\nrow: {} of {}", line - 1, nrows);
    }
    bool was_lost = lost(r);
    if (was_lost) mark_broken();
    throw_failure(f, was_lost);
}

}  // namespace orm::db::postgres
