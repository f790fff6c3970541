// Internal to the migrations code (orm/migration_*.cpp): states, the migration graph, and the
// steps each operation turns into on one backend.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "orm/migrations.hpp"

namespace orm::db {
class Dialect;
class SchemaEditor;
}  // namespace orm::db

namespace orm::migrations::detail {

// "migrations/0003_x.hpp: migration 0003_x, operation 2 (add_field book.pages): " + what.
[[noreturn]] void fail(const Migration& m, std::size_t op_index, const std::string& what);
[[noreturn]] void fail(const Migration& m, const std::string& what);

// Applies operation `i` of `m` to the state; throws MigrationError when it does not fit.
void apply(const Migration& m, std::size_t i, State& s);
// Defaults normalized to their column's type (so 0 and 0L compare equal), index names filled in.
void normalize(db::TableSpec& t);
bool same_column(const db::ColumnSpec& a, const db::ColumnSpec& b);
bool same_index(const db::IndexSpec& a, const db::IndexSpec& b);

// The migrations in the order they apply (dependencies first, ties by name). Throws
// MigrationError for duplicate names, missing dependencies, cycles.
std::vector<const Migration*> ordered(const Project& p);
// The state before each migration of `order` (states[i]) and after the last (states.back()).
std::vector<State> states_along(const std::vector<const Migration*>& order);

// What one operation does on a backend: SQL, or C++ (RunCode, and checks with clear messages).
struct Step {
    std::string sql;
    std::function<void(Context&)> code;
    std::string comment;  // what sqlmigrate prints for a code step
};
// The steps of operation `i` of `m`, between the states before and after it.
std::vector<Step> forward_steps(const Migration& m, std::size_t i, const State& before, const State& after,
                                const db::SchemaEditor& editor, const db::Dialect& dialect);
// The steps that undo it (from the state after it back to the one before). Throws
// MigrationError when it is irreversible.
std::vector<Step> backward_steps(const Migration& m, std::size_t i, const State& before, const State& after,
                                 const db::SchemaEditor& editor, const db::Dialect& dialect);

// A C++ expression for a value (the writer), and a value from text for a column (answers).
std::string cpp_literal(const Value& v);
Value parse_for_column(const db::ColumnSpec& c, std::string_view text);

}  // namespace orm::migrations::detail
