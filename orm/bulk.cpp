// Bulk writes: bulk_create (COPY, multi-row INSERTs, upserts) and bulk_update.
//
// bulk_create picks, for each group of objects (those whose key the database assigns, and those
// with explicit keys):
//  - ignore_conflicts / update_conflicts: multi-row INSERT ... ON CONFLICT (COPY cannot skip or
//    update conflicting rows);
//  - else, on a backend with Features::supports_copy_in and at least copy_min_rows objects: one
//    COPY (per batch_size rows when set). When keys must come back (auto keys, and the dialect
//    can reserve them: Dialect::reserve_keys_sql), one statement takes the keys from the
//    sequence first and the COPY carries them; the objects get their keys once the COPY is in;
//  - else multi-row INSERTs (... RETURNING pk where the backend returns rows).
// Everything runs in one transaction (atomic(): a savepoint inside an outer one), so an error
// leaves no rows behind and the outer transaction usable.
#include "orm/bulk.hpp"
#include "orm/bulk_sql.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "drivers/dialect.hpp"
#include "drivers/features.hpp"
#include "drivers/schema.hpp"
#include "orm/atomic.hpp"
#include "orm/compiler.hpp"
#include "orm/errors.hpp"
#include "orm/logger.hpp"
#include "orm/model_info.hpp"
#include "orm/queryset_base.hpp"
#include "orm/routers.hpp"
#include "orm/session.hpp"

namespace orm::detail {

namespace {

// Below this many rows, multi-row INSERTs beat COPY's extra round trips (the column types, the
// COPY start and its end; measured in bench/bulk_bench.cpp).
constexpr std::size_t copy_min_rows = 64;
// COPY rows held in memory at a time when batch_size is 0 (one COPY per this many rows).
constexpr std::size_t copy_chunk_rows = 100000;

std::string field_choices(const ModelInfo& m, bool allow_pk) {
    std::string out;
    for (const auto& f : m.fields()) {
        if (f.primary_key && !allow_pk) continue;
        if (!out.empty()) out += ", ";
        out += f.name;
    }
    return out;
}

// The fields `names` name, each a column of m; FieldError listing the choices otherwise.
std::vector<const FieldInfo*> resolve_fields(const ModelInfo& m, const FieldNames& names, std::string_view what,
                                             bool allow_pk) {
    std::vector<const FieldInfo*> out;
    for (const auto& n : names) {
        const FieldInfo* f = m.find(n.name);
        if (!f)
            throw FieldError(fmt::format("{}: {} has no field named '{}'. Choices are: {}", what, m.type_name(), n.name,
                                         field_choices(m, allow_pk)));
        if (f->primary_key && !allow_pk)
            throw FieldError(fmt::format("{}: the primary key '{}' of {} cannot be used here. Choices are: {}", what,
                                         f->name, m.type_name(), field_choices(m, false)));
        if (std::find(out.begin(), out.end(), f) != out.end())
            throw FieldError(fmt::format("{}: field '{}' of {} is named twice", what, f->name, m.type_name()));
        out.push_back(f);
    }
    return out;
}

// What unique_fields may name: the primary key, a unique field, or the fields of a unique index.
std::string unique_choices(const ModelInfo& m) {
    std::string out = fmt::format("[{}]", m.pk().name);
    for (const auto& f : m.fields())
        if (f.unique && !f.primary_key) out += fmt::format(", [{}]", f.name);
    for (const auto& ix : m.indexes()) {
        if (!ix.unique) continue;
        std::string names;
        for (const auto& c : ix.columns) {
            if (!names.empty()) names += ", ";
            const FieldInfo* f = nullptr;
            for (const auto& x : m.fields())
                if (x.column == c) f = &x;
            names += f ? f->name : c;
        }
        out += fmt::format(", [{}]", names);
    }
    return out;
}

bool is_unique_set(const ModelInfo& m, const std::vector<const FieldInfo*>& fields) {
    if (fields.size() == 1 && (fields[0]->primary_key || fields[0]->unique)) return true;
    std::set<std::string> cols;
    for (const FieldInfo* f : fields) cols.insert(f->column);
    for (const auto& ix : m.indexes())
        if (ix.unique && std::set<std::string>(ix.columns.begin(), ix.columns.end()) == cols) return true;
    return false;
}

ValueKind kind_of(db::ColumnType t) {
    switch (t) {
        case db::ColumnType::boolean: return ValueKind::boolean;
        case db::ColumnType::int32: return ValueKind::int32;
        case db::ColumnType::int64: return ValueKind::int64;
        case db::ColumnType::float64: return ValueKind::float64;
        case db::ColumnType::varchar:
        case db::ColumnType::text: return ValueKind::text;
        case db::ColumnType::bytes: return ValueKind::bytes;
        case db::ColumnType::timestamp: return ValueKind::timestamp;
        case db::ColumnType::date: return ValueKind::date;
    }
    return ValueKind::null;
}

void set_pk(const ModelInfo& m, void* obj, const Value& v) {
    const FieldInfo& pk = m.pk();
    pk.access->set(obj, m.normalize(pk, v));
}

struct RowNames {
    const ModelInfo* m;
    const std::vector<std::size_t>* idx;
    std::size_t start;
    std::size_t count;
};

std::string describe_row(void* context, std::size_t row) {
    const auto* r = static_cast<const RowNames*>(context);
    return fmt::format("objs[{}] of the {} given to bulk_create() for {}", (*r->idx)[r->start + row], r->count,
                       r->m->type_name());
}

}  // namespace

std::string bulk_insert_sql(const db::Dialect& d, const ModelInfo& m, std::span<const FieldInfo* const> cols,
                            std::size_t rows, std::string_view conflict, bool returning) {
    std::string s = SqlCompiler(d).insert(m, cols, rows, false);
    s += conflict;
    if (returning) s += " RETURNING " + d.quote_name(m.pk().column);
    return s;
}

std::string bulk_update_sql(const db::Dialect& d, const ModelInfo& m, std::span<const FieldInfo* const> fields,
                            std::size_t n) {
    const std::string pk_col = d.quote_name(m.pk().column);
    const ValueKind pk_kind = kind_of(m.pk().type);
    std::string s = "UPDATE " + d.quote_name(m.table()) + " SET ";
    std::size_t p = 0;
    for (std::size_t j = 0; j < fields.size(); ++j) {
        const std::string col = d.quote_name(fields[j]->column);
        const ValueKind kind = kind_of(fields[j]->type);
        if (j) s += ", ";
        s += col + " = CASE";
        for (std::size_t k = 0; k < n; ++k) {
            s += " WHEN " + pk_col + " = " + d.typed_placeholder(++p, pk_kind);
            s += " THEN " + d.typed_placeholder(++p, kind);
        }
        s += " ELSE " + col + " END";
    }
    s += " WHERE " + pk_col + " IN (";
    for (std::size_t k = 0; k < n; ++k) {
        if (k) s += ", ";
        s += d.placeholder(++p);
    }
    return s + ")";
}

std::string bulk_update_row_sql(const db::Dialect& d, const ModelInfo& m, std::span<const FieldInfo* const> fields) {
    std::string s = "UPDATE " + d.quote_name(m.table()) + " SET ";
    std::size_t p = 0;
    for (std::size_t j = 0; j < fields.size(); ++j) {
        if (j) s += ", ";
        s += d.quote_name(fields[j]->column) + " = " + d.placeholder(++p);
    }
    return s + " WHERE " + d.quote_name(m.pk().column) + " = " + d.placeholder(++p);
}

void bulk_create_objects(const ModelInfo& m, void* first, std::size_t count, std::size_t stride,
                         std::string_view alias_arg, const BulkCreate& o) {
    // Options first, before anything else (Django's _check_bulk_create_options).
    std::vector<const FieldInfo*> update_fields, unique_fields;
    if (o.ignore_conflicts && o.update_conflicts)
        throw InterfaceError("bulk_create(): ignore_conflicts and update_conflicts are mutually exclusive");
    if (!o.update_conflicts && (!o.update_fields.empty() || !o.unique_fields.empty()))
        throw InterfaceError("bulk_create(): update_fields and unique_fields only apply with update_conflicts = true");
    if (o.update_conflicts) {
        if (o.update_fields.empty())
            throw FieldError(fmt::format("bulk_create(update_conflicts = true): the fields to update on a conflict "
                                         "must be given in update_fields. Choices are: {}",
                                         field_choices(m, false)));
        update_fields = resolve_fields(m, o.update_fields, "bulk_create() update_fields", false);
        unique_fields = resolve_fields(m, o.unique_fields, "bulk_create() unique_fields", true);
    }
    if (count == 0) return;
    RoutedAlias alias(Access::write, m, alias_arg);
    auto object = [&](std::size_t i) { return static_cast<char*>(first) + i * stride; };
    std::vector<std::size_t> with_key, without_key;
    for (std::size_t i = 0; i < count; ++i) (pk_unset(m, object(i)) ? without_key : with_key).push_back(i);
    for (std::size_t i = 0; i < count; ++i) m.validate(object(i));  // before any SQL (even BEGIN)
    m.check_members();
    if (m.has_relations())
        for (std::size_t i = 0; i < count; ++i) check_bulk_related(m, object(i), alias, i, count);

    Atomic tx(alias);
    Lease lease(alias);
    const auto& features = lease.features();
    const db::Dialect& dialect = lease.dialect();
    if (o.ignore_conflicts && !features.supports_ignore_conflicts)
        throw NotSupportedError(fmt::format("bulk_create(ignore_conflicts = true): the {} backend cannot skip "
                                            "conflicting rows (Features::supports_ignore_conflicts)",
                                            dialect.name()));
    if (o.update_conflicts) {
        if (!features.supports_update_conflicts)
            throw NotSupportedError(fmt::format("bulk_create(update_conflicts = true): the {} backend cannot update "
                                                "conflicting rows (Features::supports_update_conflicts)",
                                                dialect.name()));
        if (features.supports_update_conflicts_with_target && unique_fields.empty())
            throw FieldError(fmt::format("bulk_create(update_conflicts = true): the {} backend needs the unique "
                                         "fields whose conflict triggers the update in unique_fields. Choices are: {}",
                                         dialect.name(), unique_choices(m)));
        if (!unique_fields.empty() && !is_unique_set(m, unique_fields))
            throw FieldError(fmt::format("bulk_create() unique_fields: these fields of {} are not a unique constraint "
                                         "(a conflict on them cannot happen). Choices are: {}",
                                         m.type_name(), unique_choices(m)));
    }
    std::string conflict;
    if (o.ignore_conflicts || o.update_conflicts) {
        std::vector<std::string> uc, up;
        for (const FieldInfo* f : unique_fields) uc.push_back(f->column);
        for (const FieldInfo* f : update_fields) up.push_back(f->column);
        conflict = dialect.on_conflict_sql(o.update_conflicts, uc, up);
    }
    const std::string_view reserve_sql = dialect.reserve_keys_sql();

    auto columns_for = [&](bool auto_key) {
        std::vector<const FieldInfo*> cols;
        for (const auto& f : m.fields())
            if (!(auto_key && f.primary_key)) cols.push_back(&f);
        return cols;
    };

    // One COPY per chunk; `keys` (when not empty) are the auto keys the rows carry, set on the
    // objects once the chunk is in.
    auto copy = [&](const std::vector<std::size_t>& idx, bool auto_key) {
        bool reserve = auto_key && !reserve_sql.empty() && features.can_return_rows_from_bulk_insert;
        if (auto_key && !reserve) return false;  // keys could not come back: INSERTs
        std::vector<const FieldInfo*> cols = columns_for(false);
        std::vector<std::string> names;
        for (const FieldInfo* f : cols) names.push_back(f->column);
        const std::size_t chunk = o.batch_size ? o.batch_size : copy_chunk_rows;
        std::string copy_text = "COPY " + dialect.quote_name(m.table()) + " (";
        for (std::size_t c = 0; c < names.size(); ++c) copy_text += (c ? ", " : "") + dialect.quote_name(names[c]);
        copy_text += ") FROM STDIN";
        std::vector<Value> values;
        std::vector<Value> keys;
        for (std::size_t start = 0; start < idx.size(); start += chunk) {
            const std::size_t n = std::min(chunk, idx.size() - start);
            keys.clear();
            if (reserve) {
                Value params[] = {Value(dialect.quote_name(m.table())), Value(m.pk().column),
                                  Value(static_cast<std::int64_t>(n))};
                auto r = lease.execute(reserve_sql, params);
                keys.reserve(n);
                while (r.next()) keys.push_back(r.row().value(0));
                if (keys.size() != n || std::any_of(keys.begin(), keys.end(), [](const Value& k) { return k.is_null(); })) {
                    if (start == 0) return false;  // no sequence behind the key: INSERTs
                    throw InternalError(fmt::format("bulk_create(): {} keys reserved for {} rows of {}", keys.size(), n,
                                                    m.table()));
                }
            }
            values.clear();
            values.reserve(n * cols.size());
            for (std::size_t k = 0; k < n; ++k) {
                const void* obj = object(idx[start + k]);
                for (const FieldInfo* f : cols) {
                    if (f->primary_key && reserve) values.push_back(keys[k]);
                    else values.push_back(m.clean(*f, f->access->get(obj)));
                }
            }
            RowNames rn{&m, &idx, start, count};
            db::CopyIn load;
            load.table = m.table();
            load.columns = names;
            load.values = values;
            load.describe_row = &describe_row;
            load.context = &rn;
            // Logged as the COPY statement, without its rows.
            const bool logging = query_logging_on();
            const auto started = std::chrono::steady_clock::now();
            try {
                lease.conn().copy_in(load);
            } catch (...) {
                if (logging) log_statement(lease.alias(), copy_text, {}, started, true);
                throw;
            }
            if (logging) log_statement(lease.alias(), copy_text, {}, started, false);
            for (std::size_t k = 0; k < keys.size(); ++k) set_pk(m, object(idx[start + k]), keys[k]);
        }
        return true;
    };

    auto insert = [&](const std::vector<std::size_t>& idx, bool auto_key) {
        std::vector<const FieldInfo*> cols = columns_for(auto_key);
        if (cols.empty()) {
            for (auto i : idx) insert_checked(m, object(i), alias);
            return;
        }
        std::size_t per_batch = std::max<std::size_t>(1, features.max_query_params / cols.size());
        per_batch = std::min<std::size_t>(per_batch, o.batch_size ? o.batch_size : 1000);
        // Django sets no keys with ignore_conflicts (skipped rows return none, so the rows
        // returned would not line up with the objects).
        const bool returning = auto_key && features.can_return_rows_from_bulk_insert && !o.ignore_conflicts;
        auto sql_for = [&](std::size_t n) { return bulk_insert_sql(dialect, m, cols, n, conflict, returning); };
        std::string full_sql;
        std::vector<Value> params;
        for (std::size_t start = 0; start < idx.size(); start += per_batch) {
            const std::size_t n = std::min(per_batch, idx.size() - start);
            params.clear();
            params.reserve(n * cols.size());
            for (std::size_t k = 0; k < n; ++k) {
                const void* obj = object(idx[start + k]);
                for (const FieldInfo* f : cols) params.push_back(m.clean(*f, f->access->get(obj)));
            }
            std::string partial_sql;
            const std::string* sql = &full_sql;
            if (n == per_batch) {
                if (full_sql.empty()) full_sql = sql_for(n);
            } else {
                partial_sql = sql_for(n);
                sql = &partial_sql;
            }
            auto r = lease.execute(*sql, params);
            if (returning) {
                std::size_t k = 0;
                while (r.next()) {
                    if (k < n) set_pk(m, object(idx[start + k]), r.row().value(0));
                    ++k;
                }
            }
        }
    };

    auto run = [&](const std::vector<std::size_t>& idx, bool auto_key) {
        if (idx.empty()) return;
        const bool use_copy = conflict.empty() && features.supports_copy_in && idx.size() >= copy_min_rows &&
                              !columns_for(auto_key).empty();
        if (use_copy && copy(idx, auto_key)) return;
        insert(idx, auto_key);
    };
    run(without_key, true);
    run(with_key, false);
    tx.commit();
    if (m.needs_bind()) {
        const std::string* bound = alias_ptr(alias);
        for (std::size_t i = 0; i < count; ++i) m.bind(object(i), bound);
    }
}

std::int64_t bulk_update_objects(const ModelInfo& m, const void* first, std::size_t count, std::size_t stride,
                                 std::string_view alias_arg, const FieldNames& names, std::size_t batch_size) {
    if (names.empty())
        throw FieldError(fmt::format("bulk_update(): name the fields to update. Choices are: {}", field_choices(m, false)));
    std::vector<const FieldInfo*> fields = resolve_fields(m, names, "bulk_update()", false);
    auto object = [&](std::size_t i) { return static_cast<const char*>(first) + i * stride; };
    for (std::size_t i = 0; i < count; ++i)
        if (pk_unset(m, object(i)))
            throw InterfaceError(fmt::format("bulk_update(): objs[{}] of {} has no primary key yet (save it first)", i,
                                             m.type_name()));
    if (count == 0) return 0;
    // Every value is checked before any SQL is sent.
    std::vector<Value> keys(count);
    std::vector<Value> values(count * fields.size());
    for (std::size_t i = 0; i < count; ++i) {
        const void* obj = object(i);
        keys[i] = m.pk().access->get(obj);
        for (std::size_t j = 0; j < fields.size(); ++j)
            values[i * fields.size() + j] = m.clean(*fields[j], fields[j]->access->get(obj));
    }
    RoutedAlias alias(Access::write, m, alias_arg);
    Atomic tx(alias);
    Lease lease(alias);
    const db::Dialect& d = lease.dialect();
    // Each object costs 2 parameters per field (its key in WHEN, the value in THEN) and one in
    // the WHERE list.
    std::size_t per_batch = std::max<std::size_t>(1, lease.features().max_query_params / (2 * fields.size() + 1));
    if (batch_size) per_batch = std::min(per_batch, batch_size);
    std::int64_t matched = 0;
    std::vector<Value> params;
    if (lease.features().is_embedded) {
        // No round trips to save: one cached UPDATE per object is linear, where the CASE form
        // costs every row a scan of the batch's WHENs (measured in bench/bulk_bench.cpp).
        const std::string sql = bulk_update_row_sql(d, m, fields);
        for (std::size_t i = 0; i < count; ++i) {
            params.assign(values.begin() + static_cast<std::ptrdiff_t>(i * fields.size()),
                          values.begin() + static_cast<std::ptrdiff_t>((i + 1) * fields.size()));
            params.push_back(keys[i]);
            matched += lease.execute(sql, params).rows_affected();
        }
        tx.commit();
        return matched;
    }
    std::string full_sql;
    auto sql_for = [&](std::size_t n) { return bulk_update_sql(d, m, fields, n); };
    for (std::size_t start = 0; start < count; start += per_batch) {
        const std::size_t n = std::min(per_batch, count - start);
        params.clear();
        params.reserve(n * (2 * fields.size() + 1));
        for (std::size_t j = 0; j < fields.size(); ++j)
            for (std::size_t k = 0; k < n; ++k) {
                params.push_back(keys[start + k]);
                params.push_back(values[(start + k) * fields.size() + j]);
            }
        for (std::size_t k = 0; k < n; ++k) params.push_back(keys[start + k]);
        std::string partial;
        const std::string* sql = &full_sql;
        if (n == per_batch) {
            if (full_sql.empty()) full_sql = sql_for(n);
        } else {
            partial = sql_for(n);
            sql = &partial;
        }
        matched += lease.execute(*sql, params).rows_affected();
    }
    tx.commit();
    return matched;
}

}  // namespace orm::detail
