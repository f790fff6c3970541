// ModelInfo: checks a model's declaration, finds fields for lookups (with Django-style
// messages), validates values before SQL is sent, and describes the table for the schema editor.
#include "orm/model_info.hpp"

#include <charconv>
#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <mutex>

#include <fmt/format.h>

#include "drivers/hints.hpp"
#include "orm/errors.hpp"

namespace orm {

namespace detail {

std::string demangle(const char* mangled) {
    int status = 0;
    char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    std::string name = status == 0 && out ? out : mangled;
    std::free(out);
    return name;
}

}  // namespace detail

namespace {

std::size_t utf8_length(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

std::string_view expected_for(db::ColumnType t) {
    switch (t) {
        case db::ColumnType::boolean: return "a boolean";
        case db::ColumnType::int32: return "a 32-bit integer";
        case db::ColumnType::int64: return "an integer";
        case db::ColumnType::float64: return "a number";
        case db::ColumnType::varchar:
        case db::ColumnType::text: return "text";
        case db::ColumnType::bytes: return "bytes";
        case db::ColumnType::timestamp: return "a timestamp";
        case db::ColumnType::date: return "a date";
    }
    return "a value";
}

}  // namespace

namespace {

std::string_view trim_ascii(std::string_view s) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

// Text as an integer: the whole of it (surrounding spaces aside), as Python's int() reads it.
std::optional<std::int64_t> text_to_int(std::string_view s) {
    s = trim_ascii(s);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    std::int64_t x = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return x;
}

std::optional<double> text_to_double(std::string_view s) {
    s = trim_ascii(s);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double x = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return x;
}

// A double that is exactly an int64 (1.0e3, not 2.5, NaN or 1e30).
std::optional<std::int64_t> exact_int(double d) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return std::nullopt;
    auto x = static_cast<std::int64_t>(d);
    if (static_cast<double>(x) != d) return std::nullopt;
    return x;
}

// An int64 that a double holds exactly (every integer up to 2^53, and some beyond).
std::optional<double> exact_double(std::int64_t x) {
    const double d = static_cast<double>(x);
    if (auto back = exact_int(d); back && *back == x) return d;
    return std::nullopt;
}

}  // namespace

// One rule for every field type: a value of another kind is converted when the conversion is
// exact ("100" and 100.0 for an integer field, 5 for a double, "2021-03-01" for a date, midnight
// for a date), and refused with a ValidationError when it would lose or invent anything
// ("100.5" or 2.5 for an integer, 2^53 + 1 for a double, 2 for a boolean, a timestamp with a time
// for a date). Django converts the same inputs (and some lossy ones, which weft refuses).
Value normalize_value(db::ColumnType type, const Value& v, std::string_view what) {
    if (v.is_null()) return v;
    const ValueKind k = v.kind();
    auto wrong = [&]() -> ValidationError {
        return ValidationError(fmt::format("{} expected {} but got {} {}", what, expected_for(type), to_string(k),
                                           v.debug_string()));
    };
    const bool integer = k == ValueKind::int32 || k == ValueKind::int64;
    switch (type) {
        case db::ColumnType::boolean:
            if (k == ValueKind::boolean) return v;
            if (integer && (v.as_int64() == 0 || v.as_int64() == 1)) return Value(v.as_int64() == 1);
            if (k == ValueKind::float64 && (v.as_double() == 0.0 || v.as_double() == 1.0)) return Value(v.as_double() == 1.0);
            if (k == ValueKind::text) {
                // Django's BooleanField.to_python spellings.
                const std::string_view t = v.as_text();
                if (t == "t" || t == "True" || t == "1") return Value(true);
                if (t == "f" || t == "False" || t == "0") return Value(false);
            }
            throw wrong();
        case db::ColumnType::int32:
        case db::ColumnType::int64: {
            std::optional<std::int64_t> x;
            if (integer) x = v.as_int64();
            else if (k == ValueKind::boolean) x = v.as_bool() ? 1 : 0;
            else if (k == ValueKind::float64) x = exact_int(v.as_double());
            else if (k == ValueKind::text) x = text_to_int(v.as_text());
            if (!x) throw wrong();
            if (type == db::ColumnType::int64) return Value(*x);
            if (*x < std::numeric_limits<std::int32_t>::min() || *x > std::numeric_limits<std::int32_t>::max())
                throw ValidationError(fmt::format("{}: {} does not fit in a 32-bit integer", what, *x));
            return Value(static_cast<std::int32_t>(*x));
        }
        case db::ColumnType::float64: {
            if (k == ValueKind::float64) return v;
            std::optional<double> d;
            if (integer) d = exact_double(v.as_int64());
            else if (k == ValueKind::boolean) d = v.as_bool() ? 1.0 : 0.0;
            else if (k == ValueKind::text) d = text_to_double(v.as_text());
            if (!d) throw wrong();
            return Value(*d);
        }
        case db::ColumnType::varchar:
        case db::ColumnType::text:
            if (k == ValueKind::text) return v;
            // A number's own digits (what Django's str() of it gives).
            if (integer) return Value(std::to_string(v.as_int64()));
            throw wrong();
        case db::ColumnType::bytes:
            if (k == ValueKind::bytes) return v;
            throw wrong();
        case db::ColumnType::timestamp:
            if (k == ValueKind::timestamp) return v;
            if (k == ValueKind::date) return Value(Timestamp(v.as_date()));
            if (k == ValueKind::text) {
                try {
                    return Value(parse_timestamp(v.as_text()));
                } catch (const DataError& e) {
                    throw ValidationError(fmt::format("{}: {}", what, e.what()));
                }
            }
            throw wrong();
        case db::ColumnType::date:
            if (k == ValueKind::date) return v;
            if (k == ValueKind::timestamp) {
                // Midnight only: any other time of day would be dropped.
                const Date d = std::chrono::floor<std::chrono::days>(v.as_timestamp());
                if (Timestamp(d) == v.as_timestamp()) return Value(d);
                throw ValidationError(fmt::format("{} expected a date but got the timestamp {}, which has a time of "
                                                  "day (a date cannot hold it; pass the date, or midnight)",
                                                  what, v.debug_string()));
            }
            if (k == ValueKind::text) {
                try {
                    return Value(parse_date(v.as_text()));
                } catch (const DataError& e) {
                    throw ValidationError(fmt::format("{}: {}", what, e.what()));
                }
            }
            throw wrong();
    }
    throw wrong();
}

std::string FieldInfo::type_name() const {
    if (type == db::ColumnType::varchar) return fmt::format("varchar({})", max_length);
    return std::string(db::to_string(type));
}

const FieldInfo* ModelInfo::find(std::string_view name) const noexcept {
    if (name == "pk") return &fields_[pk_];
    for (const auto& f : fields_)
        if (f.name == name) return &f;
    for (const auto& f : fields_)
        if (f.relation && f.column == name) return &f;  // "author_id" names the foreign key's column
    // Django's attname ("author_id") names a foreign key whatever its column is called.
    for (const auto& f : fields_)
        if (f.relation && name.size() == f.name.size() + 3 && name.starts_with(f.name) && name.ends_with("_id"))
            return &f;
    return nullptr;
}

std::string ModelInfo::choices() const {
    std::vector<std::string_view> names;
    for (const auto& f : fields_) names.push_back(f.name);
    for (const auto& r : relations_)
        if (r->kind == RelationKind::many_to_many) names.push_back(r->name);
    for (const auto& r : reverse_)
        if (!r->hidden) names.push_back(r->name);
    std::sort(names.begin(), names.end());
    std::string out;
    for (auto n : names) {
        if (!out.empty()) out += ", ";
        out += n;
    }
    return out;
}

const FieldInfo& ModelInfo::field(std::string_view name) const {
    if (const FieldInfo* f = find(name)) return *f;
    throw FieldError(fmt::format("Cannot resolve keyword '{}' into field of {}. Choices are: {}", name, type_name_,
                                 choices()));
}

const FieldInfo& ModelInfo::field_of_member(const std::type_info& member_type, const void* member) const {
    for (const auto& f : fields_)
        if (f.access->is_member(member_type, member)) return f;
    throw FieldError(fmt::format("the member pointer is not a declared field of {} (declare it in {}::describe). "
                                 "Fields are: {}",
                                 type_name_, type_name_, choices()));
}

Relation& ModelInfo::add_relation(detail::OwnPtr<Relation> r) {
    relations_.push_back(std::move(r));
    return *relations_.back();
}

SetMember& ModelInfo::add_set_member(std::string name, detail::OwnPtr<const detail::FieldAccess> access,
                                     const ModelInfo& (*target_fn)(), bool forward, bool single) {
    SetMember m;
    m.name = std::move(name);
    m.access = std::move(access);
    m.target_fn = target_fn;
    m.forward = forward;
    m.single = single;
    set_members_.push_back(std::move(m));
    return set_members_.back();
}

void ModelInfo::add_reverse(detail::OwnPtr<Relation> r) const { reverse_.push_back(std::move(r)); }

ModelInfo& ModelInfo::add_owned_model(detail::OwnPtr<ModelInfo> m) {
    owned_.push_back(std::move(m));
    return *owned_.back();
}

const Relation* ModelInfo::find_relation(std::string_view name) const {
    detail::ensure_relations();
    for (const auto& r : relations_)
        if (r->name == name) return r.get();
    for (const auto& r : reverse_)
        if (!r->hidden && r->name == name) return r.get();
    return nullptr;
}

struct ModelInfo::LoadPlan {
    std::once_flag once;
    std::atomic<bool> ready{false};
    std::vector<db::PlainSlot> slots;  // the first 64 fields (kind none: through FieldAccess::load)
    std::vector<std::size_t> after;    // plain fields with an after_plain_load step (foreign keys)
    // bind() without virtual calls: every relation member is a foreign key (no sets), and these
    // are the offsets of their alias pointers.
    bool bind_by_offset = false;
    std::vector<std::size_t> alias_offsets;
};

const SetMember* ModelInfo::one_member_for(const Relation& r) const noexcept {
    for (const auto& m : set_members_)
        if (m.single && m.relation == &r) return &m;
    return nullptr;
}

void ModelInfo::check_members() const {
    if (set_members_.empty()) return;
    detail::ensure_relations();
    for (const auto& m : set_members_)
        if (!m.relation) detail::throw_unresolved_member(*this, m);
}

WEFT_HOT void ModelInfo::bind(void* obj, const std::string* alias) const {
    if (ops_.set_db) ops_.set_db(obj, alias);
    if (!has_relation_members_) return;
    if (const LoadPlan& plan = load_plan(obj); plan.bind_by_offset) {
        for (std::size_t off : plan.alias_offsets)
            *reinterpret_cast<const std::string**>(static_cast<char*>(obj) + off) = alias;
        return;
    }
    // A foreign key only remembers the alias; sets also need the owner's key and their links.
    static const Value no_key;
    for (const auto& f : fields_)
        if (f.relation) f.access->bind(obj, no_key, alias, nullptr);
    if (set_members_.empty()) return;
    detail::ensure_relations();
    const Value key = pk().access->get(obj);
    for (const auto& m : set_members_) {
        if (!m.relation) detail::throw_unresolved_member(*this, m);
        m.access->bind(obj, key, alias, &m);
    }
}

void ModelInfo::forget_related(void* obj) const {
    for (const auto& m : set_members_) m.access->forget_related(obj);
}

std::string ModelInfo::describe_object(const Value& pk) const {
    std::string_view name = type_name_;
    if (auto pos = name.rfind("::"); pos != std::string_view::npos) name.remove_prefix(pos + 2);
    return fmt::format("{}({}={})", name, fields_[pk_].name, pk.debug_string());
}

FieldInfo& ModelInfo::add_field(std::string name, db::ColumnType type, bool nullable,
                                detail::OwnPtr<const detail::FieldAccess> access) {
    FieldInfo f;
    f.name = std::move(name);
    f.type = type;
    f.nullable = nullable;
    f.index = fields_.size();
    f.access = std::move(access);
    fields_.push_back(std::move(f));
    return fields_.back();
}

void ModelInfo::add_index(std::vector<std::string> field_names, bool unique, std::string name) {
    index_fields_.push_back(std::move(field_names));
    indexes_.push_back(db::IndexSpec{std::move(name), {}, unique});
}

void ModelInfo::finalize() {
    auto bad = [&](const std::string& what) {
        return InterfaceError(fmt::format("model {}: {}", type_name_, what));
    };
    if (table_.empty()) {
        auto pos = type_name_.rfind("::");
        table_ = pos == std::string::npos ? type_name_ : type_name_.substr(pos + 2);
        std::transform(table_.begin(), table_.end(), table_.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    if (fields_.empty()) throw bad("describe() declares no fields");
    std::size_t pks = 0;
    for (auto& f : fields_) {
        if (f.name.empty()) throw bad("a field has an empty name");
        if (f.name == "pk") throw bad("'pk' is reserved for the primary key; name the field otherwise");
        if (f.name.find("__") != std::string::npos)
            throw bad(fmt::format("field name '{}' contains '__', which separates lookups", f.name));
        if (f.column.empty()) f.column = f.relation ? f.name + "_id" : f.name;
        if (f.relation) {
            Relation& r = *mutable_relation(f.relation);
            r.fk = &f;
            r.owner = this;
            if (r.on_delete == OnDelete::set_null && !f.nullable)
                throw bad(fmt::format("foreign key '{}' has on_delete(set_null) but is not nullable; add .null()",
                                      f.name));
            needs_bind_ = has_relation_members_ = true;
        }
        for (const auto& g : fields_) {
            if (&g == &f) break;
            if (g.name == f.name) throw bad(fmt::format("field '{}' is declared twice", f.name));
            if (g.column == f.column)
                throw bad(fmt::format("fields '{}' and '{}' use the same column '{}'", g.name, f.name, f.column));
        }
        if (f.max_length > 0) {
            if (!f.is_text())
                throw bad(fmt::format("max_length is for strings, but field '{}' is {}", f.name, f.type_name()));
            f.type = db::ColumnType::varchar;
        }
        if (f.auto_increment && !f.is_integer())
            throw bad(fmt::format("auto_increment needs an integer field, but '{}' is {}", f.name, f.type_name()));
        if (f.auto_increment && !f.primary_key)
            throw bad(fmt::format("auto_increment is only for the primary key, not '{}'", f.name));
        if (f.default_value) f.default_value = normalize_value(f.type, *f.default_value, type_name_ + "." + f.name);
        if (f.primary_key) {
            ++pks;
            pk_ = f.index;
        }
    }
    for (auto& r : relations_) {
        r->owner = this;
        if (r->kind == RelationKind::many_to_many) {
            if (find(r->name)) throw bad(fmt::format("'{}' is declared as a field and as a many-to-many", r->name));
        }
    }
    for (const auto& m : set_members_) {
        const char* what = m.single ? "related object (orm::RelatedOne)" : "related set";
        if (m.name.empty()) throw bad(fmt::format("a {} has an empty name", what));
        if (find(m.name) && !m.forward)
            throw bad(fmt::format("{} '{}' has the name of a field", what, m.name));
        needs_bind_ = has_relation_members_ = true;
    }
    if (pks > 1) throw bad("more than one field is declared primary_key() (composite keys are not supported)");
    if (pks == 0) {
        const FieldInfo* id = find("id");
        if (!id || !id->is_integer())
            throw bad("no primary key: declare one with .primary_key(), or an integer field named 'id'");
        pk_ = id->index;
        fields_[pk_].primary_key = true;
        fields_[pk_].auto_increment = true;
    }
    if (fields_[pk_].nullable) throw bad(fmt::format("primary key '{}' cannot be std::optional", fields_[pk_].name));
    for (std::size_t i = 0; i < indexes_.size(); ++i) {
        if (index_fields_[i].empty()) throw bad("an index lists no fields");
        indexes_[i].columns.clear();
        for (const auto& n : index_fields_[i]) {
            const FieldInfo* f = find(n);
            if (!f) throw bad(fmt::format("index names unknown field '{}'; fields are: {}", n, choices()));
            indexes_[i].columns.push_back(f->column);
        }
    }
    for (const auto& o : ordering_) {
        std::string_view n = o;
        if (n.starts_with('-')) n.remove_prefix(1);
        if (!find(n)) throw bad(fmt::format("ordering names unknown field '{}'; fields are: {}", n, choices()));
    }
}

db::TableSpec ModelInfo::table_spec() const {
    db::TableSpec t;
    t.name = table_;
    for (const auto& f : fields_) {
        db::ColumnSpec c;
        c.name = f.column;
        c.type = f.type;
        c.max_length = f.max_length;
        c.nullable = f.nullable;
        c.primary_key = f.primary_key;
        c.auto_increment = f.auto_increment;
        c.unique = f.unique && !f.primary_key;
        c.default_value = f.default_value;
        if (f.relation) {
            const ModelInfo& target = f.relation->target();
            db::ForeignKeySpec fk;
            fk.table = target.table();
            fk.column = target.pk().column;
            switch (f.relation->on_delete) {
                case OnDelete::cascade: fk.on_delete = db::ReferentialAction::cascade; break;
                case OnDelete::set_null: fk.on_delete = db::ReferentialAction::set_null; break;
                case OnDelete::protect:
                case OnDelete::restrict: fk.on_delete = db::ReferentialAction::restrict; break;
                case OnDelete::do_nothing: fk.on_delete = db::ReferentialAction::no_action; break;
            }
            c.references = std::move(fk);
            if (!f.unique && !f.primary_key && !f.indexed) t.indexes.push_back(db::IndexSpec{"", {f.column}, false});
        }
        t.columns.push_back(std::move(c));
        if (f.indexed && !f.unique && !f.primary_key) t.indexes.push_back(db::IndexSpec{"", {f.column}, false});
    }
    for (const auto& ix : indexes_) t.indexes.push_back(ix);
    return t;
}


ModelInfo::ModelInfo(std::string type_name)
    : type_name_(std::move(type_name)), load_plan_(new LoadPlan()) {}
ModelInfo::~ModelInfo() = default;
ModelInfo::ModelInfo(ModelInfo&&) noexcept = default;
ModelInfo& ModelInfo::operator=(ModelInfo&&) noexcept = default;

// Offsets are a property of the type: every object of the model has its members at the same
// places, so the first object loaded tells them for all.
WEFT_HOT const ModelInfo::LoadPlan& ModelInfo::load_plan(const void* obj) const {
    LoadPlan& plan = *load_plan_;
    if (plan.ready.load(std::memory_order_acquire)) [[likely]]
        return plan;
    std::call_once(plan.once, [&] {
        const std::size_t n = std::min<std::size_t>(fields_.size(), 64);
        plan.slots.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const detail::FieldAccess& a = *fields_[i].access;
            plan.slots[i].kind = a.plain_kind();
            if (plan.slots[i].kind == db::PlainKind::none) continue;
            plan.slots[i].offset = a.offset_in(obj);
            if (a.has_after_plain_load()) plan.after.push_back(i);
        }
        plan.bind_by_offset = set_members_.empty();
        for (const auto& f : fields_) {
            if (!f.relation) continue;
            const std::ptrdiff_t off = f.access->alias_offset_in(obj);
            if (off < 0) plan.bind_by_offset = false;
            else plan.alias_offsets.push_back(static_cast<std::size_t>(off));
        }
        plan.ready.store(true, std::memory_order_release);
    });
    return plan;
}

WEFT_HOT void ModelInfo::load(void* obj, const db::Row& row, std::size_t first) const {
    const LoadPlan& plan = load_plan(obj);
    // The plain members in one call to the driver; the rest (and whatever it left) one by one.
    std::uint64_t rest = row.read_plain(first, plan.slots, obj);
    for (std::size_t i : plan.after)
        if (!(rest >> i & 1)) fields_[i].access->after_plain_load(obj);
    for (std::size_t i = 0; rest != 0; ++i, rest >>= 1)
        if (rest & 1) fields_[i].access->load(obj, row, first + i);
    for (std::size_t i = plan.slots.size(); i < fields_.size(); ++i) fields_[i].access->load(obj, row, first + i);
}

WEFT_HOT bool kind_matches(db::ColumnType t, ValueKind k) noexcept {
    switch (t) {
        case db::ColumnType::boolean: return k == ValueKind::boolean;
        case db::ColumnType::int32: return k == ValueKind::int32;
        case db::ColumnType::int64: return k == ValueKind::int64;
        case db::ColumnType::float64: return k == ValueKind::float64;
        case db::ColumnType::varchar:
        case db::ColumnType::text: return k == ValueKind::text;
        case db::ColumnType::bytes: return k == ValueKind::bytes;
        case db::ColumnType::timestamp: return k == ValueKind::timestamp;
        case db::ColumnType::date: return k == ValueKind::date;
    }
    return false;
}

Value ModelInfo::normalize(const FieldInfo& f, const Value& v) const {
    if (v.is_null() || kind_matches(f.type, v.kind())) return v;  // the common case builds no message
    return normalize_value(f.type, v, type_name_ + "." + f.name);
}

Value ModelInfo::clean(const FieldInfo& f, const Value& v) const {
    Value out = normalize(f, v);
    if (out.is_null() && !f.nullable)
        throw ValidationError(fmt::format("{}.{} cannot be NULL (declare it std::optional to allow NULL)", type_name_,
                                          f.name),
                              f.name);
    if (f.max_length > 0 && !out.is_null()) {
        std::size_t n = utf8_length(out.as_text());
        if (n > f.max_length)
            throw ValidationError(fmt::format("{}.{}: {} is {} characters long; max_length is {}", type_name_, f.name,
                                              out.debug_string(), n, f.max_length),
                                  f.name);
    }
    return out;
}

void ModelInfo::throw_does_not_exist(const std::string& message) const {
    if (does_not_exist_) does_not_exist_(message);
    throw ObjectDoesNotExist(message);
}

void ModelInfo::throw_multiple_objects(const std::string& message) const {
    if (multiple_) multiple_(message);
    throw MultipleObjectsReturned(message);
}

void ModelInfo::validate(const void* obj) const {
    for (const auto& f : fields_)
        if (f.max_length > 0) clean(f, f.access->get(obj));
}

}  // namespace orm
