// The order service's domain: its two models, the kitchen client and the HTTP handlers of both
// roles. Nothing here knows which mode runs it: the same calls block in sync mode and suspend the
// fiber in async mode.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "examples/order_service/http_server.hpp"

namespace order_service {

struct KitchenOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::chrono::milliseconds timeout{1000};  // connect + request + answer
    // For tests and demonstrations: how long POST /orders keeps its transaction open before
    // committing (so a client can be seen leaving while it is open). 0 in real use.
    std::chrono::milliseconds hold_transaction{0};
};

// Creates the tables if missing (the service's "migration").
void create_schema();

// The service: POST /orders, GET /orders/{id}, GET /debug/stats.
Handler order_handler(KitchenOptions kitchen);

// The kitchen: POST /estimate answers {"order":..,"minutes":..} after `delay`.
Handler kitchen_handler(std::chrono::milliseconds delay);

}  // namespace order_service
