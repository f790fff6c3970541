// orm::manage: the management commands for the user's main() (makemigrations, migrate,
// showmigrations, sqlmigrate, check), the program's own Project, and the files makemigrations
// writes (one header per migration, and migrations.cpp listing them all).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "orm/migration_impl.hpp"
#include "orm/model_info.hpp"

namespace orm {

namespace migrations {

Project& project() {
    static Project p;
    return p;
}

Registration::Registration(std::vector<Migration> migrations) {
    for (auto& m : migrations) project().migrations.push_back(std::move(m));
}

}  // namespace migrations

void register_models(std::span<const ModelInfo* const> models) {
    auto& list = migrations::project().models;
    for (const ModelInfo* m : models)
        if (std::find(list.begin(), list.end(), m) == list.end()) list.push_back(m);
}

namespace {

using namespace migrations;
namespace fs = std::filesystem;

struct Args {
    std::string command;
    std::vector<std::string> positional;
    std::map<std::string, std::vector<std::string>> options;  // --name value (or "" for flags)

    bool flag(const std::string& n) const { return options.count(n) > 0; }
    std::string value(const std::string& n, std::string fallback = {}) const {
        auto it = options.find(n);
        return it == options.end() || it->second.empty() ? fallback : it->second.back();
    }
};

// Options that take a value (the rest are flags).
const std::set<std::string> valued = {"database", "name", "dir", "rename", "default"};

Args parse(int argc, const char* const* argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s.rfind("--", 0) == 0) {
            std::string name = s.substr(2), val;
            if (auto eq = name.find('='); eq != std::string::npos) {
                val = name.substr(eq + 1);
                name = name.substr(0, eq);
            } else if (valued.count(name)) {
                if (i + 1 >= argc) throw std::invalid_argument(fmt::format("option --{} needs a value", name));
                val = argv[++i];
            }
            if (name == "noinput") name = "no-input";
            a.options[name].push_back(val);
        } else if (a.command.empty()) {
            a.command = s;
        } else {
            a.positional.push_back(s);
        }
    }
    return a;
}

void check_options(const Args& a, const std::set<std::string>& allowed) {
    for (const auto& [name, _] : a.options) {
        if (allowed.count(name)) continue;
        std::string list;
        for (const auto& o : allowed) list += (list.empty() ? "--" : ", --") + o;
        throw std::invalid_argument(
            fmt::format("{} does not take --{} (it takes: {})", a.command, name, list.empty() ? "no options" : list));
    }
}

const char* usage =
    "usage: PROGRAM COMMAND [options]\n"
    "commands:\n"
    "  makemigrations [--name NAME] [--dir DIR] [--empty] [--merge] [--dry-run] [--check]\n"
    "                 [--rename yes|no] [--default TABLE.COLUMN=VALUE]... [--no-input] [--database ALIAS]\n"
    "      writes a migration for the changes in the models\n"
    "  migrate [TARGET|zero] [--database ALIAS] [--fake] [--fake-initial]\n"
    "      applies migrations up to TARGET (all when omitted; an earlier TARGET unapplies the later ones)\n"
    "  showmigrations [--database ALIAS]\n"
    "      lists applied [X] and pending [ ] migrations\n"
    "  sqlmigrate NAME [--database ALIAS] [--backwards]\n"
    "      prints the SQL of one migration for the database's backend\n"
    "  check [--database ALIAS]\n"
    "      exits 1 when the models have changes no migration covers\n";

// makemigrations' questions on a terminal, or answered by the options.
class CliQuestioner : public Questioner {
public:
    CliQuestioner(const Args& a, std::istream& in, std::ostream& out) : in_(in), out_(out) {
        if (a.flag("rename")) {
            const std::string r = a.value("rename");
            if (r == "yes" || r == "y") rename_ = true;
            else if (r == "no" || r == "n") rename_ = false;
            else throw std::invalid_argument(fmt::format("--rename takes yes or no, not '{}'", r));
        }
        if (auto it = a.options.find("default"); it != a.options.end()) {
            for (const auto& d : it->second) {
                auto eq = d.find('=');
                auto dot = d.find('.');
                if (eq == std::string::npos || dot == std::string::npos || dot > eq)
                    throw std::invalid_argument(fmt::format("--default takes TABLE.COLUMN=VALUE, not '{}'", d));
                fixed_.fills[d.substr(0, eq)] = d.substr(eq + 1);
            }
        }
        interactive_ = !a.flag("no-input") && isatty(STDIN_FILENO) && &in == &std::cin;
    }
    bool ask_rename_field(const std::string& table, const std::string& from, const std::string& to) override {
        return yes_no(fmt::format("Was {}.{} renamed to {}.{} (a column of the same type)?", table, from, table, to));
    }
    bool ask_rename_model(const std::string& from, const std::string& to) override {
        return yes_no(fmt::format("Was table {} renamed to {} (the same columns)?", from, to));
    }
    std::optional<Value> ask_fill(const std::string& table, const db::ColumnSpec& c) override {
        if (auto v = fixed_.ask_fill(table, c)) return v;
        return ask_value(table, c, fmt::format("Column {}.{} is new, NOT NULL and has no default: rows already in {} need "
                                               "a value.",
                                               table, c.name, table));
    }
    std::optional<Value> ask_fill_nulls(const std::string& table, const db::ColumnSpec& c) override {
        if (auto v = fixed_.ask_fill_nulls(table, c)) return v;
        return ask_value(table, c, fmt::format("Column {}.{} becomes NOT NULL: rows holding NULL there need a value.",
                                               table, c.name));
    }
    std::vector<std::string> warnings;

private:
    bool yes_no(const std::string& q) {
        if (rename_) return *rename_;
        if (!interactive_)
            throw std::invalid_argument(fmt::format("{} makemigrations never guesses a rename (a wrong guess loses data); "
                                                    "input is not a terminal, so answer with --rename yes or --rename no",
                                                    q));
        for (;;) {
            out_ << q << " [y/N] " << std::flush;
            std::string line;
            if (!std::getline(in_, line)) return false;
            if (line == "y" || line == "Y" || line == "yes") return true;
            if (line.empty() || line == "n" || line == "N" || line == "no") return false;
        }
    }
    std::optional<Value> ask_value(const std::string& table, const db::ColumnSpec& c, const std::string& why) {
        if (!interactive_) {
            warnings.push_back(fmt::format("{} No one-off default was given (--default {}.{}=VALUE): migrate will refuse "
                                           "while the table has rows.",
                                           why, table, c.name));
            return std::nullopt;
        }
        for (;;) {
            out_ << why << "\nEnter a one-off value for them (as text, e.g. 0, abc, 2026-01-31), or nothing to leave "
                           "it to migrate (which refuses while such rows exist): "
                 << std::flush;
            std::string line;
            if (!std::getline(in_, line) || line.empty()) return std::nullopt;
            try {
                return migrations::detail::parse_for_column(c, line);
            } catch (const std::exception& e) {
                out_ << e.what() << "\n";
            }
        }
    }
    std::istream& in_;
    std::ostream& out_;
    FixedAnswers fixed_;
    std::optional<bool> rename_;
    bool interactive_ = false;
};

// NNNN_ then letters, digits and '_' (the name is part of a C++ function name).
bool valid_name(const std::string& n) {
    if (n.size() < 6 || n[4] != '_') return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        const bool digit = c >= '0' && c <= '9';
        if (i < 4 ? !digit : !(digit || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
    }
    return true;
}

// The migration files in `dir` (NNNN_name.hpp), by name.
std::vector<std::string> files_in(const fs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string f = e.path().filename().string();
        if (f.size() > 4 && f.ends_with(".hpp") && valid_name(f.substr(0, f.size() - 4))) out.push_back(f.substr(0, f.size() - 4));
    }
    std::sort(out.begin(), out.end());
    return out;
}

void write_file(const fs::path& p, const std::string& text) {
    const fs::path tmp = p.string() + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw std::runtime_error(fmt::format("cannot write {}", tmp.string()));
        f << text;
        if (!f.flush()) throw std::runtime_error(fmt::format("cannot write {}", tmp.string()));
    }
    fs::rename(tmp, p);
}

std::string index_file(const std::vector<std::string>& names) {
    std::string out =
        "// Every migration in this directory, in order. Written by weft makemigrations, which rewrites it\n"
        "// whenever it adds a migration: do not edit. Compile this file into the program that calls\n"
        "// orm::manage() or orm::migrations::migrate() (not into a static library: nothing refers to it).\n"
        "#include <orm/migrations.hpp>\n\n";
    for (const auto& n : names) out += fmt::format("#include \"{}.hpp\"\n", n);
    out += "\nstatic const orm::migrations::Registration weft_migrations_registration{{\n";
    for (const auto& n : names) out += fmt::format("    weft_migration_{}(),\n", n);
    out += "}};\n";
    return out;
}

int makemigrations(const Args& a, std::ostream& out, std::ostream& err) {
    check_options(a, {"name", "dir", "empty", "merge", "dry-run", "check", "rename", "default", "no-input", "database"});
    Project& p = project();
    const fs::path dir = a.value("dir", p.directory);
    // A program built before the last makemigrations would write a second copy of it.
    std::set<std::string> compiled;
    for (const auto& m : p.migrations) compiled.insert(m.name());
    for (const auto& f : files_in(dir)) {
        if (!compiled.count(f)) {
            err << fmt::format("error: {} is not compiled into this program: rebuild it (migrations.cpp includes every "
                               "migration file) and run makemigrations again\n",
                               (dir / (f + ".hpp")).string());
            return 1;
        }
    }
    if (p.models.empty() && !a.flag("empty") && !a.flag("merge")) {
        err << "error: no models are registered: call orm::register_models<A, B, ...>() before orm::manage()\n";
        return 1;
    }
    std::optional<Migration> m;
    CliQuestioner q(a, std::cin, out);
    const auto hs = heads(p);
    if (a.flag("merge")) {
        if (hs.size() < 2) {
            out << "No conflicts to merge.\n";
            return 0;
        }
        int number = 0;
        for (const auto& x : p.migrations) number = std::max(number, std::atoi(x.name().substr(0, 4).c_str()));
        std::string name = a.value("name");
        if (name.empty()) {
            name = fmt::format("{:04d}_merge", number + 1);
            for (const auto& h : hs) name += "_" + h.substr(0, 4);
        }
        m.emplace(name);
        m->set_file("");
        for (const auto& h : hs) m->depends_on(h);
    } else if (a.flag("empty")) {
        (void)migrations::detail::ordered(p);
        int number = 0;
        for (const auto& x : p.migrations) number = std::max(number, std::atoi(x.name().substr(0, 4).c_str()));
        std::string name = a.value("name");
        if (name.empty()) name = fmt::format("{:04d}_custom", number + 1);
        m.emplace(name);
        m->set_file("");
        for (const auto& h : hs) m->depends_on(h);
    } else {
        std::string name = a.value("name");
        if (!name.empty() && !valid_name(name)) {
            int number = 0;
            for (const auto& x : p.migrations) number = std::max(number, std::atoi(x.name().substr(0, 4).c_str()));
            name = fmt::format("{:04d}_{}", number + 1, name);
        }
        m = detect_changes(p, q, name);
    }
    for (const auto& w : q.warnings) err << "warning: " << w << "\n";
    if (!m) {
        out << "No changes detected.\n";
        return 0;
    }
    if (!valid_name(m->name())) {
        err << fmt::format("error: '{}' is not a valid migration name (NNNN_ then letters, digits and '_')\n", m->name());
        return 1;
    }
    if (a.flag("check")) {
        out << fmt::format("Changes that no migration covers (would write {}):\n", m->name());
        for (const auto& op : m->operations()) out << "  - " << op.describe() << "\n";
        return 1;
    }
    const std::string text = to_cpp(*m);
    if (a.flag("dry-run")) {
        out << text;
        return 0;
    }
    fs::create_directories(dir);
    const fs::path file = dir / (m->name() + ".hpp");
    if (fs::exists(file)) {
        err << fmt::format("error: {} exists already\n", file.string());
        return 1;
    }
    write_file(file, text);
    std::vector<std::string> names;
    for (const Migration* x : migrations::detail::ordered(p)) names.push_back(x->name());
    names.push_back(m->name());
    write_file(dir / "migrations.cpp", index_file(names));
    out << fmt::format("Migrations written:\n  {}\n", file.string());
    for (const auto& op : m->operations()) out << "    - " << op.describe() << "\n";
    out << fmt::format("Rebuild the program ({} includes it), then run migrate.\n", (dir / "migrations.cpp").string());
    return 0;
}

int migrate_command(const Args& a, std::ostream& out, std::ostream& err) {
    check_options(a, {"database", "fake", "fake-initial"});
    if (a.positional.size() > 1) throw std::invalid_argument("migrate takes at most one TARGET");
    MigrateOptions o;
    o.alias = a.value("database", "default");
    if (!a.positional.empty()) o.target = a.positional.front();
    o.fake = a.flag("fake");
    o.fake_initial = a.flag("fake-initial");
    o.out = &out;
    out << fmt::format("Migrating database '{}' ({} migration(s) known)\n", o.alias, project().migrations.size());
    const std::size_t ran = migrate(project(), o);
    if (ran == 0) out << "No migrations to apply.\n";
    if (!project().models.empty()) {
        const auto pending = check(project());
        if (!pending.empty())
            err << fmt::format("warning: the models have {} change(s) that no migration covers yet ({}...): run "
                               "makemigrations\n",
                               pending.size(), pending.front());
    }
    return 0;
}

int showmigrations(const Args& a, std::ostream& out) {
    check_options(a, {"database"});
    const auto list = show_migrations(project(), a.value("database", "default"));
    if (list.empty()) out << "(no migrations)\n";
    for (const auto& s : list) {
        out << fmt::format(" [{}] {}", s.applied ? 'X' : ' ', s.name);
        if (s.applied_at) out << fmt::format("  (applied {})", format_timestamp(*s.applied_at));
        out << "\n";
    }
    return 0;
}

int sqlmigrate(const Args& a, std::ostream& out) {
    check_options(a, {"database", "backwards"});
    if (a.positional.size() != 1) throw std::invalid_argument("sqlmigrate takes one migration NAME");
    out << sql_migrate(project(), a.positional.front(), a.value("database", "default"), a.flag("backwards"));
    return 0;
}

int check_command(const Args& a, std::ostream& out, std::ostream& err) {
    check_options(a, {"database", "dir"});
    if (project().models.empty()) {
        err << "error: no models are registered: call orm::register_models<A, B, ...>() before orm::manage()\n";
        return 1;
    }
    const auto changes = check(project());
    if (changes.empty()) {
        out << "No changes: the migrations cover the models.\n";
        return 0;
    }
    err << "The models have changes that no migration covers (run makemigrations):\n";
    for (const auto& c : changes) err << "  - " << c << "\n";
    return 1;
}

}  // namespace

int manage(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
    try {
        const Args a = parse(argc, argv);
        if (a.command.empty() || a.command == "help" || a.flag("help")) {
            (a.command.empty() ? err : out) << usage;
            return a.command.empty() ? 2 : 0;
        }
        if (a.command == "makemigrations") return makemigrations(a, out, err);
        if (a.command == "migrate") return migrate_command(a, out, err);
        if (a.command == "showmigrations") return showmigrations(a, out);
        if (a.command == "sqlmigrate") return sqlmigrate(a, out);
        if (a.command == "check") return check_command(a, out, err);
        err << fmt::format("error: unknown command '{}' (commands: makemigrations, migrate, showmigrations, sqlmigrate, "
                           "check)\n",
                           a.command);
        return 2;
    } catch (const std::exception& e) {
        err << "error: " << e.what() << "\n";
        return 1;
    }
}

int manage(int argc, char** argv) { return manage(argc, argv, std::cout, std::cerr); }

}  // namespace orm
