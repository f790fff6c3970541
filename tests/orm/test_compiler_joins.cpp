// The compiler's joins per dialect, no database: a filter through a forward foreign key, through
// a reverse foreign key, through a many-to-many (its join table, then the target), exclude()
// across a multi-valued relation (a subquery), and select_related's joined columns.
#include "tests/orm/models.hpp"

namespace ut_rel {

struct Book;

struct Publisher : orm::Model<Publisher> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Publisher>& m) {
        m.table("j_publisher");
        m.field(&Publisher::id, "id").primary_key();
        m.field(&Publisher::name, "name").max_length(40);
    }
};

struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<Publisher> publisher;  // nullable
    orm::RelatedSet<Book> books;
    static void describe(orm::Meta<Author>& m);
};

struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Tag>& m) {
        m.table("j_tag");
        m.field(&Tag::id, "id").primary_key();
        m.field(&Tag::name, "name").max_length(40);
    }
};

struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;  // not null: INNER JOIN
    orm::ForeignKey<Author> editor;  // nullable: LEFT OUTER JOIN
    orm::ManyToMany<Tag> tags;       // join table j_book_tags
    static void describe(orm::Meta<Book>& m) {
        m.table("j_book");
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(100);
        m.field(&Book::author, "author").related_name("books");
        m.field(&Book::editor, "editor").null().on_delete(orm::OnDelete::set_null).related_name("edited");
        m.field(&Book::tags, "tags").related_name("books");
    }
};

inline void Author::describe(orm::Meta<Author>& m) {
    m.table("j_author");
    m.field(&Author::id, "id").primary_key();
    m.field(&Author::name, "name").max_length(40);
    m.field(&Author::publisher, "publisher").null().on_delete(orm::OnDelete::set_null).related_name("authors");
    m.field(&Author::books, "books");
}

}  // namespace ut_rel

using orm::Value;
using ut::pg;
using ut::sqlite;
using namespace ut_rel;

namespace {

const std::string book_select =
    "SELECT \"j_book\".\"id\", \"j_book\".\"title\", \"j_book\".\"author_id\", \"j_book\".\"editor_id\" "
    "FROM \"j_book\"";
const std::string author_select =
    "SELECT \"j_author\".\"id\", \"j_author\".\"name\", \"j_author\".\"publisher_id\" FROM \"j_author\"";
const std::string tag_select = "SELECT \"j_tag\".\"id\", \"j_tag\".\"name\" FROM \"j_tag\"";

// `?` placeholders as the SQLite dialect writes them, or $1, $2 ... as PostgreSQL's does.
std::string numbered(std::string sql) {
    std::string out;
    int n = 0;
    for (char c : sql) {
        if (c == '?') out += "$" + std::to_string(++n);
        else out += c;
    }
    return out;
}

}  // namespace

TEST_CASE("compiler joins: a forward foreign key is an INNER JOIN, a nullable one a LEFT OUTER JOIN") {
    auto qs = Book::objects.filter("author__name__icontains", "ann");
    const std::string join = " INNER JOIN \"j_author\" \"T1\" ON (\"j_book\".\"author_id\" = \"T1\".\"id\")";
    // SQLite's LIKE ignores ASCII case; on PostgreSQL both sides are upper-cased, as in Django.
    CHECK(qs.sql(sqlite()).text == book_select + join + " WHERE \"T1\".\"name\" LIKE ? ESCAPE '\\'");
    CHECK(qs.sql(pg()).text == book_select + join + " WHERE UPPER(\"T1\".\"name\") LIKE UPPER($1) ESCAPE '\\'");
    CHECK(qs.sql(sqlite()).params == std::vector<Value>{Value("%ann%")});
    CHECK(qs.sql(pg()).params == std::vector<Value>{Value("%ann%")});

    // A nullable key, and a nested hop through another nullable one: outer joins, each on its parent.
    auto nested = Book::objects.filter("editor__publisher__name", "Tor");
    const std::string outer = " LEFT OUTER JOIN \"j_author\" \"T1\" ON (\"j_book\".\"editor_id\" = \"T1\".\"id\")"
                              " LEFT OUTER JOIN \"j_publisher\" \"T2\" ON (\"T1\".\"publisher_id\" = \"T2\".\"id\")"
                              " WHERE \"T2\".\"name\" = ?";
    CHECK(nested.sql(sqlite()).text == book_select + outer);
    CHECK(nested.sql(pg()).text == numbered(book_select + outer));
    // "author__id" and "author" compare the key column itself: no join.
    CHECK(Book::objects.filter("author__id", 3).sql(pg()).text == book_select + " WHERE \"j_book\".\"author_id\" = $1");
    CHECK(Book::objects.filter("author", 3).sql(sqlite()).text == book_select + " WHERE \"j_book\".\"author_id\" = ?");
    // One join per relation crossed, however often the path is used in one query.
    auto twice = Book::objects.filter("author__name", "Ann").order_by("author__name");
    CHECK(twice.sql(pg()).text == book_select + join + " WHERE \"T1\".\"name\" = $1 ORDER BY \"T1\".\"name\" ASC");
}

TEST_CASE("compiler joins: a reverse foreign key joins the pointing table, without DISTINCT") {
    auto qs = Author::objects.filter("books__title__startswith", "F");
    const std::string join = " LEFT OUTER JOIN \"j_book\" \"T1\" ON (\"j_author\".\"id\" = \"T1\".\"author_id\")";
    // Case-sensitive prefix: GLOB on SQLite (its LIKE ignores case), LIKE on PostgreSQL.
    CHECK(qs.sql(sqlite()).text == author_select + join + " WHERE \"T1\".\"title\" GLOB ?");
    CHECK(qs.sql(pg()).text == author_select + join + " WHERE \"T1\".\"title\" LIKE $1 ESCAPE '\\'");
    CHECK(qs.sql(sqlite()).params == std::vector<Value>{Value("F*")});
    CHECK(qs.sql(pg()).params == std::vector<Value>{Value("F%")});
    // As in Django, an author with two matching books comes twice unless distinct() is asked for.
    CHECK(qs.distinct().sql(pg()).text ==
          "SELECT DISTINCT" + author_select.substr(6) + join + " WHERE \"T1\".\"title\" LIKE $1 ESCAPE '\\'");
}

TEST_CASE("compiler joins: many-to-many goes through the join table, from both sides") {
    const std::string through = " LEFT OUTER JOIN \"j_book_tags\" \"T1\" ON (\"j_book\".\"id\" = \"T1\".\"book_id\")";
    const std::string to_tag = " LEFT OUTER JOIN \"j_tag\" \"T2\" ON (\"T1\".\"tag_id\" = \"T2\".\"id\")";
    auto qs = Book::objects.filter("tags__name", "async");
    CHECK(qs.sql(sqlite()).text == book_select + through + to_tag + " WHERE \"T2\".\"name\" = ?");
    CHECK(qs.sql(pg()).text == book_select + through + to_tag + " WHERE \"T2\".\"name\" = $1");
    CHECK(qs.sql(pg()).params == std::vector<Value>{Value("async")});
    // The related key alone needs only the join table.
    CHECK(Book::objects.filter("tags", 7).sql(pg()).text == book_select + through + " WHERE \"T1\".\"tag_id\" = $1");
    // From the other side, and on to the book's author.
    auto back = Tag::objects.filter("books__author__name", "Ann");
    const std::string back_sql = tag_select +
                                 " LEFT OUTER JOIN \"j_book_tags\" \"T1\" ON (\"j_tag\".\"id\" = \"T1\".\"tag_id\")"
                                 " LEFT OUTER JOIN \"j_book\" \"T2\" ON (\"T1\".\"book_id\" = \"T2\".\"id\")"
                                 " LEFT OUTER JOIN \"j_author\" \"T3\" ON (\"T2\".\"author_id\" = \"T3\".\"id\")"
                                 " WHERE \"T3\".\"name\" = ?";
    CHECK(back.sql(sqlite()).text == back_sql);
    CHECK(back.sql(pg()).text == numbered(back_sql));
    // One filter() shares its joins; a second filter() on a multi-valued relation joins again.
    auto both = Book::objects.filter(orm::Q("tags__name", "a") & orm::Q("tags__name", "b"));
    CHECK(both.sql(pg()).text ==
          book_select + through + to_tag + " WHERE \"T2\".\"name\" = $1 AND \"T2\".\"name\" = $2");
    auto separate = Book::objects.filter("tags__name", "a").filter("tags__name", "b");
    CHECK(separate.sql(pg()).text ==
          book_select + through + to_tag +
              " LEFT OUTER JOIN \"j_book_tags\" \"T3\" ON (\"j_book\".\"id\" = \"T3\".\"book_id\")"
              " LEFT OUTER JOIN \"j_tag\" \"T4\" ON (\"T3\".\"tag_id\" = \"T4\".\"id\")"
              " WHERE \"T2\".\"name\" = $1 AND \"T4\".\"name\" = $2");
    // exclude() across it: a subquery on the join table, so books without tags stay.
    const std::string excluded =
        book_select +
        " WHERE NOT (\"j_book\".\"id\" IN (SELECT \"j_book_tags\".\"book_id\" AS \"book\" FROM \"j_book_tags\" "
        "INNER JOIN \"j_tag\" \"T1\" ON (\"j_book_tags\".\"tag_id\" = \"T1\".\"id\") WHERE \"T1\".\"name\" = ? AND "
        "\"j_book_tags\".\"book_id\" IS NOT NULL))";
    CHECK(Book::objects.exclude("tags__name", "async").sql(sqlite()).text == excluded);
    CHECK(Book::objects.exclude("tags__name", "async").sql(pg()).text == numbered(excluded));
}

TEST_CASE("compiler joins: select_related selects the joined tables' columns after the row's own") {
    const std::string author_cols = ", \"T1\".\"id\", \"T1\".\"name\", \"T1\".\"publisher_id\"";
    const std::string own_cols = book_select.substr(0, book_select.find(" FROM "));
    const std::string author_join = " INNER JOIN \"j_author\" \"T1\" ON (\"j_book\".\"author_id\" = \"T1\".\"id\")";
    auto both = Book::objects.select_related("author", "editor");
    const std::string both_sql = own_cols + author_cols +
                                 ", \"T2\".\"id\", \"T2\".\"name\", \"T2\".\"publisher_id\" FROM \"j_book\"" +
                                 author_join +
                                 " LEFT OUTER JOIN \"j_author\" \"T2\" ON (\"j_book\".\"editor_id\" = \"T2\".\"id\")";
    CHECK(both.sql(sqlite()).text == both_sql);
    CHECK(both.sql(pg()).text == both_sql);  // no placeholders, no dialect differences
    // select_related(): every non-null foreign key (author, not editor).
    CHECK(Book::objects.select_related().sql(pg()).text == own_cols + author_cols + " FROM \"j_book\"" + author_join);
    // A nested path: the publisher hangs off the author's join, outer since its key may be NULL.
    const std::string nested = own_cols + author_cols + ", \"T2\".\"id\", \"T2\".\"name\" FROM \"j_book\"" +
                               author_join +
                               " LEFT OUTER JOIN \"j_publisher\" \"T2\" ON (\"T1\".\"publisher_id\" = \"T2\".\"id\")";
    CHECK(Book::objects.select_related("author__publisher").sql(pg()).text == nested);
    CHECK(Book::objects.select_related("author__publisher").sql(sqlite()).text == nested);
    // A filter through the same relation reuses select_related's join.
    CHECK(Book::objects.select_related("author").filter("author__name", "Ann").sql(sqlite()).text ==
          own_cols + author_cols + " FROM \"j_book\"" + author_join + " WHERE \"T1\".\"name\" = ?");
}
