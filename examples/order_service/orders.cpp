// The order service's models and handlers, and the kitchen (see orders.hpp).
//
// POST /orders saves the order in one short transaction (find or create the customer, insert the
// order; committed only if the client is still connected), then asks the kitchen for an estimate
// holding no database connection, then records the estimate. A 503 (kitchen down or late,
// database busy) or a client that hung up leaves no order behind: an order saved but not
// confirmed is withdrawn.
#include "examples/order_service/orders.hpp"

#include <atomic>
#include <charconv>
#include <optional>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "drivers/bridge/bridge.hpp"
#include "drivers/asio/asio.hpp"
#include "orm/orm.hpp"

namespace order_service {

struct Customer : orm::Model<Customer> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Customer>& m) {
        m.table("service_customer");
        m.field(&Customer::id, "id").primary_key();
        m.field(&Customer::name, "name").max_length(100).unique();
    }
};

struct Order : orm::Model<Order> {
    std::int64_t id = 0;
    orm::ForeignKey<Customer> customer;
    std::string item;
    std::int32_t quantity = 1;
    std::int32_t estimate_minutes = 0;
    static void describe(orm::Meta<Order>& m) {
        m.table("service_order");
        m.field(&Order::id, "id").primary_key();
        m.field(&Order::customer, "customer").on_delete(orm::OnDelete::protect);
        m.field(&Order::item, "item").max_length(100);
        m.field(&Order::quantity, "quantity");
        m.field(&Order::estimate_minutes, "estimate_minutes");
    }
};

namespace {

using json = nlohmann::json;
namespace beast = boost::beast;

struct Counters {
    std::atomic<long> orders_created{0};
    std::atomic<long> kitchen_unavailable{0};
    std::atomic<long> database_unavailable{0};
    std::atomic<long> client_gone{0};  // transactions rolled back because the client left
};
Counters counters;

Response error(http::status status, std::string_view what, std::string_view detail = {}) {
    json body = {{"error", what}};
    if (!detail.empty()) body["detail"] = detail;
    return json_response(status, body.dump());
}

// ---- the kitchen client -------------------------------------------------------------------

struct KitchenUnavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Idle keep-alive connections to the kitchen, per thread: in async mode the fibers of the one
// loop thread share them (taking and returning one never suspends), in sync mode each pool
// thread has its own. Beyond the cap, a returned connection is closed.
thread_local std::vector<orm::net::Stream> idle_kitchen_connections;
constexpr std::size_t idle_kitchen_cap = 2048;

int kitchen_estimate(const KitchenOptions& k, std::int64_t order_id, const std::string& item, int quantity) {
    const orm::Deadline deadline = orm::deadline_after(k.timeout);
    Request req{http::verb::post, "/estimate", 11};
    req.set(http::field::host, fmt::format("{}:{}", k.host, k.port));
    req.set(http::field::content_type, "application/json");
    req.body() = json{{"order", order_id}, {"item", item}, {"quantity", quantity}}.dump();
    req.keep_alive(true);
    req.prepare_payload();

    for (int attempt = 0;; ++attempt) {
        orm::net::Stream s;
        bool reused = false;
        if (!idle_kitchen_connections.empty()) {
            s = std::move(idle_kitchen_connections.back());
            idle_kitchen_connections.pop_back();
            reused = true;
        } else {
            try {
                s = orm::net::Stream::connect(k.host, k.port, deadline);
            } catch (const orm::TimeoutError&) {
                throw KitchenUnavailable(fmt::format("the kitchen at {}:{} did not accept a connection within {} ms",
                                                     k.host, k.port, k.timeout.count()));
            } catch (const orm::OperationalError& e) {
                throw KitchenUnavailable(fmt::format("cannot reach the kitchen at {}:{}: {}", k.host, k.port, e.what()));
            }
        }
        orm::asio::Stream io(std::move(s));
        io.set_read_deadline(deadline);
        io.set_write_deadline(deadline);
        boost::system::error_code ec;
        http::write(io, req, ec);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024);
        if (!ec) http::read(io, buffer, parser, ec);
        if (ec == boost::asio::error::timed_out)
            throw KitchenUnavailable(fmt::format("the kitchen at {}:{} did not answer within {} ms", k.host, k.port,
                                                 k.timeout.count()));
        if (ec) {
            // A kept-alive connection the kitchen has closed meanwhile: try once on a new one.
            if (reused && attempt == 0 && !parser.got_some()) continue;
            throw KitchenUnavailable(fmt::format("the kitchen at {}:{} failed: {}", k.host, k.port, ec.message()));
        }
        auto& res = parser.get();
        if (res.result() != http::status::ok)
            throw KitchenUnavailable(fmt::format("the kitchen at {}:{} answered {}", k.host, k.port, res.result_int()));
        const json answer = json::parse(res.body(), nullptr, false);
        if (!answer.is_object() || !answer.contains("minutes") || !answer["minutes"].is_number_integer())
            throw KitchenUnavailable(fmt::format("the kitchen at {}:{} answered without minutes: {}", k.host, k.port,
                                                 res.body().substr(0, 200)));
        if (res.keep_alive() && buffer.size() == 0 && idle_kitchen_connections.size() < idle_kitchen_cap)
            idle_kitchen_connections.push_back(std::move(io.socket()));
        return answer["minutes"].get<int>();
    }
}

// ---- the service's handlers -----------------------------------------------------------------

struct NewOrder {
    std::string customer;
    std::string item;
    int quantity = 0;
};

// Parses and checks the body of POST /orders; the error message on failure.
std::optional<NewOrder> parse_new_order(const std::string& body, std::string& problem) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        problem = "the body is not JSON";
        return std::nullopt;
    }
    if (!j.is_object()) {
        problem = "the body must be a JSON object with customer, item and quantity";
        return std::nullopt;
    }
    NewOrder o;
    for (const char* key : {"customer", "item"}) {
        auto it = j.find(key);
        if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty() ||
            it->get_ref<const std::string&>().size() > 100) {
            problem = fmt::format("'{}' must be a non-empty string of at most 100 characters", key);
            return std::nullopt;
        }
        (std::string_view(key) == "customer" ? o.customer : o.item) = it->get<std::string>();
    }
    auto q = j.find("quantity");
    if (q == j.end() || !q->is_number_integer() || q->get<long long>() < 1 || q->get<long long>() > 100) {
        problem = "'quantity' must be an integer from 1 to 100";
        return std::nullopt;
    }
    o.quantity = q->get<int>();
    return o;
}

json order_json(const Order& o, const Customer& c) {
    return {{"id", o.id},
            {"customer", {{"id", c.id}, {"name", c.name}}},
            {"item", o.item},
            {"quantity", o.quantity},
            {"estimate_minutes", o.estimate_minutes}};
}

// Takes back an order that was saved but cannot be confirmed (the kitchen failed, the client left).
void withdraw(std::int64_t order_id) {
    try {
        Order::objects.filter("id", order_id).remove();
    } catch (const orm::OperationalError& e) {
        fmt::print(stderr, "order_service: order {} could not be withdrawn: {}\n", order_id, e.what());
    }
}

Response post_order(const Request& req, Exchange& ex, const KitchenOptions& kitchen) {
    std::string problem;
    auto in = parse_new_order(req.body(), problem);
    if (!in) return error(http::status::bad_request, problem);
    try {
        // 1. Save the order in one short transaction, committed only for a client that is still
        //    connected (one that left meanwhile gets its transaction rolled back).
        auto [order, customer] = orm::atomic([&] {
            auto [c, created] = Customer::objects.get_or_create({{"name", in->customer}});
            Order o;
            o.customer = c;
            o.item = in->item;
            o.quantity = in->quantity;
            o.save();
            if (kitchen.hold_transaction.count() > 0) orm::sleep_for(kitchen.hold_transaction);
            if (ex.client_gone()) {
                counters.client_gone.fetch_add(1, std::memory_order_relaxed);
                throw ClientGone();
            }
            return std::pair{std::move(o), std::move(c)};
        });
        // 2. Ask the kitchen, holding no database connection: its round trip may take far longer
        //    than the transaction, and an open transaction per waiting order would take as many
        //    PostgreSQL backends (and slow every snapshot). If it fails, or the client has left
        //    meanwhile, the order is withdrawn.
        try {
            order.estimate_minutes = kitchen_estimate(kitchen, order.id, order.item, order.quantity);
        } catch (const KitchenUnavailable&) {
            withdraw(order.id);
            throw;
        }
        if (ex.client_gone()) {
            withdraw(order.id);
            counters.client_gone.fetch_add(1, std::memory_order_relaxed);
            throw ClientGone();
        }
        // 3. Record the estimate: one UPDATE.
        Order::objects.filter("id", order.id).update({{"estimate_minutes", order.estimate_minutes}});
        counters.orders_created.fetch_add(1, std::memory_order_relaxed);
        return json_response(http::status::created, order_json(order, customer).dump());
    } catch (const KitchenUnavailable& e) {
        counters.kitchen_unavailable.fetch_add(1, std::memory_order_relaxed);
        return error(http::status::service_unavailable, "kitchen unavailable; the order was not placed", e.what());
    } catch (const orm::OperationalError& e) {
        // A pool that cannot hand out a connection in time (TimeoutError), a lost or refused
        // database connection: the client may retry.
        counters.database_unavailable.fetch_add(1, std::memory_order_relaxed);
        return error(http::status::service_unavailable, "database unavailable; the order was not placed", e.what());
    }
}

Response get_order(std::string_view id_text) {
    std::int64_t id = 0;
    auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc() || end != id_text.data() + id_text.size() || id <= 0)
        return error(http::status::bad_request, "the order id must be a positive integer");
    try {
        Order o = Order::objects.select_related("customer").get("id", id);
        return json_response(http::status::ok, order_json(o, *o.customer).dump());
    } catch (const orm::ObjectDoesNotExist&) {
        return error(http::status::not_found, fmt::format("no order {}", id));
    } catch (const orm::OperationalError& e) {
        counters.database_unavailable.fetch_add(1, std::memory_order_relaxed);
        return error(http::status::service_unavailable, "database unavailable", e.what());
    }
}

Response stats() {
    const auto pool = orm::database().pool().stats();
    const auto& s = server_stats();
    json j = {
        {"connections", s.connections.load()},
        {"accepted", s.accepted.load()},
        {"bad_requests", s.bad_requests.load()},
        {"timed_out", s.timed_out.load()},
        {"accept_errors", s.accept_errors.load()},
        {"orders_created", counters.orders_created.load()},
        {"orders_in_db", Order::objects.count()},
        {"kitchen_unavailable", counters.kitchen_unavailable.load()},
        {"database_unavailable", counters.database_unavailable.load()},
        {"client_gone", counters.client_gone.load()},
        {"pool", {{"open", pool.open}, {"idle", pool.idle}, {"in_use", pool.in_use}, {"waiting", pool.waiting},
                  {"timeouts", pool.timeouts}}},
    };
    return json_response(http::status::ok, j.dump());
}

}  // namespace

void create_schema() {
    orm::create_tables<Customer, Order>();
}

Handler order_handler(KitchenOptions kitchen) {
    return [kitchen](const Request& req, Exchange& ex) -> Response {
        const std::string_view target(req.target().data(), req.target().size());
        if (target == "/orders") {
            if (req.method() != http::verb::post) return error(http::status::method_not_allowed, "use POST /orders");
            return post_order(req, ex, kitchen);
        }
        if (target.starts_with("/orders/")) {
            if (req.method() != http::verb::get) return error(http::status::method_not_allowed, "use GET /orders/{id}");
            return get_order(target.substr(8));
        }
        if (target == "/debug/stats" && req.method() == http::verb::get) return stats();
        return error(http::status::not_found, "no such resource", "POST /orders, GET /orders/{id}, GET /debug/stats");
    };
}

Handler kitchen_handler(std::chrono::milliseconds delay) {
    return [delay](const Request& req, Exchange&) -> Response {
        if (req.target() != "/estimate" || req.method() != http::verb::post)
            return error(http::status::not_found, "the kitchen answers POST /estimate");
        const json j = json::parse(req.body(), nullptr, false);
        if (!j.is_object() || !j.contains("quantity") || !j["quantity"].is_number_integer())
            return error(http::status::bad_request, "POST /estimate wants {\"order\":..,\"item\":..,\"quantity\":..}");
        if (delay.count() > 0) orm::sleep_for(delay);
        const int minutes = 5 + 2 * j["quantity"].get<int>();
        return json_response(http::status::ok, json{{"order", j.value("order", 0)}, {"minutes", minutes}}.dump());
    };
}

}  // namespace order_service
