// orm::gather: several independent queries at once (an explicit batch).
//
//     std::vector<Book> books; std::int64_t authors = 0;
//     orm::gather({[&] { books = Book::objects.filter(...).all(); },
//                  [&] { authors = Author::objects.count(); }});
//
// Each callable runs on a fiber of its own on this thread and gather returns when all are done;
// if any threw, the first failure (in the callables' order) is rethrown once all have finished.
// On a database that pipelines (PostgreSQL with pipelining=on, the default) the statements they
// send outside a transaction share pipelined connections, in sync mode as in async mode, so the
// batch costs about one round trip. Elsewhere (SQLite, pipelining=off) and inside a transaction
// on `alias` (whose connection serves one statement at a time) the callables run one after
// another on the calling fiber, in order.
#pragma once

#include <functional>
#include <initializer_list>
#include <span>
#include <string_view>

namespace orm {

void gather(std::span<const std::function<void()>> fns, std::string_view alias = "default");
inline void gather(std::initializer_list<std::function<void()>> fns, std::string_view alias = "default") {
    gather(std::span<const std::function<void()>>(fns.begin(), fns.size()), alias);
}

}  // namespace orm
