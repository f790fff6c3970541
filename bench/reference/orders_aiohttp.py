#!/usr/bin/python3
# The order service of examples/order_service in Python, aiohttp + asyncpg, single process: the
# anchor of bench/service_bench.sh. Same endpoints, tables and semantics: POST /orders saves the
# order in one short transaction (get-or-create the customer, insert the order), asks the kitchen
# over HTTP with a deadline holding no connection (withdrawing the order if it fails), then
# stores the estimate; 503 when the kitchen or the pool fails; GET /orders/{id} reads the order
# joined with its customer.
#   orders_aiohttp.py --port P --kitchen HOST:PORT --db postgresql://... [--pool N]
#                     [--pool-timeout MS] [--kitchen-timeout MS]
# Prints "reference listening on 127.0.0.1:<port>" when ready.
import argparse
import asyncio
import json
import resource
import socket
import sys

import aiohttp
import asyncpg
from aiohttp import web

SCHEMA = """
CREATE TABLE IF NOT EXISTS service_customer (
    id BIGSERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS service_order (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES service_customer (id),
    item VARCHAR(100) NOT NULL, quantity INTEGER NOT NULL, estimate_minutes INTEGER NOT NULL);
"""


class KitchenUnavailable(Exception):
    pass


def error(status, what, detail=None):
    body = {"error": what}
    if detail:
        body["detail"] = detail
    return web.json_response(body, status=status)


def parse_order(body):
    try:
        j = json.loads(body)
    except ValueError:
        return None, "the body is not JSON"
    if not isinstance(j, dict):
        return None, "the body must be a JSON object with customer, item and quantity"
    for key in ("customer", "item"):
        v = j.get(key)
        if not isinstance(v, str) or not v or len(v) > 100:
            return None, f"'{key}' must be a non-empty string of at most 100 characters"
    q = j.get("quantity")
    if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= 100:
        return None, "'quantity' must be an integer from 1 to 100"
    return j, None


async def kitchen_estimate(app, order_id, item, quantity):
    url = f"http://{app['kitchen']}/estimate"
    try:
        async with app["http"].post(url, json={"order": order_id, "item": item, "quantity": quantity},
                                    timeout=app["kitchen_timeout"]) as r:
            if r.status != 200:
                raise KitchenUnavailable(f"the kitchen at {app['kitchen']} answered {r.status}")
            answer = await r.json(content_type=None)
            return int(answer["minutes"])
    except asyncio.TimeoutError:
        raise KitchenUnavailable(f"the kitchen at {app['kitchen']} did not answer within "
                                 f"{int(app['kitchen_timeout'].total * 1000)} ms")
    except aiohttp.ClientError as e:
        raise KitchenUnavailable(f"cannot reach the kitchen at {app['kitchen']}: {e}")


async def withdraw(app, oid):
    try:
        async with app["pool"].acquire(timeout=app["pool_timeout"]) as c:
            await c.execute("DELETE FROM service_order WHERE id = $1", oid)
    except Exception as e:  # noqa: BLE001 - best effort, as in the C++ service
        print(f"reference: order {oid} could not be withdrawn: {e}", file=sys.stderr)


async def post_order(request):
    app = request.app
    o, problem = parse_order(await request.read())
    if problem:
        return error(400, problem)
    try:
        # 1. Save the order in one short transaction.
        async with app["pool"].acquire(timeout=app["pool_timeout"]) as c:
            async with c.transaction():
                cust = await c.fetchrow("SELECT id, name FROM service_customer WHERE name = $1", o["customer"])
                if cust is None:
                    cust = await c.fetchrow(
                        "INSERT INTO service_customer (name) VALUES ($1) ON CONFLICT (name) DO UPDATE "
                        "SET name = EXCLUDED.name RETURNING id, name", o["customer"])
                oid = await c.fetchval(
                    "INSERT INTO service_order (customer_id, item, quantity, estimate_minutes) "
                    "VALUES ($1, $2, $3, 0) RETURNING id", cust["id"], o["item"], o["quantity"])
        # 2. Ask the kitchen holding no connection; withdraw the order if it fails.
        try:
            minutes = await kitchen_estimate(app, oid, o["item"], o["quantity"])
        except KitchenUnavailable:
            await withdraw(app, oid)
            raise
        # 3. Record the estimate.
        async with app["pool"].acquire(timeout=app["pool_timeout"]) as c:
            await c.execute("UPDATE service_order SET estimate_minutes = $1 WHERE id = $2", minutes, oid)
    except KitchenUnavailable as e:
        return error(503, "kitchen unavailable; the order was not placed", str(e))
    except (asyncio.TimeoutError, asyncpg.PostgresConnectionError, OSError) as e:
        return error(503, "database unavailable; the order was not placed", str(e) or type(e).__name__)
    return web.json_response({"id": oid, "customer": {"id": cust["id"], "name": cust["name"]},
                              "item": o["item"], "quantity": o["quantity"], "estimate_minutes": minutes},
                             status=201)


async def get_order(request):
    try:
        oid = int(request.match_info["id"])
        if oid <= 0:
            raise ValueError
    except ValueError:
        return error(400, "the order id must be a positive integer")
    async with request.app["pool"].acquire(timeout=request.app["pool_timeout"]) as c:
        row = await c.fetchrow(
            "SELECT o.id, o.item, o.quantity, o.estimate_minutes, c.id AS cid, c.name FROM service_order o "
            "JOIN service_customer c ON c.id = o.customer_id WHERE o.id = $1", oid)
    if row is None:
        return error(404, f"no order {oid}")
    return web.json_response({"id": row["id"], "customer": {"id": row["cid"], "name": row["name"]},
                              "item": row["item"], "quantity": row["quantity"],
                              "estimate_minutes": row["estimate_minutes"]})


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--kitchen", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--pool", type=int, default=8)
    ap.add_argument("--pool-timeout", type=int, default=1000)
    ap.add_argument("--kitchen-timeout", type=int, default=1000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    app = web.Application()
    app["kitchen"] = a.kitchen
    app["kitchen_timeout"] = aiohttp.ClientTimeout(total=a.kitchen_timeout / 1000)
    app["pool_timeout"] = a.pool_timeout / 1000
    app["pool"] = await asyncpg.create_pool(a.db, min_size=1, max_size=a.pool)
    async with app["pool"].acquire() as c:
        await c.execute(SCHEMA)
    app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    app.router.add_post("/orders", post_order)
    app.router.add_get("/orders/{id}", get_order)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", a.port))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()
    print(f"reference listening on 127.0.0.1:{sock.getsockname()[1]} (aiohttp + asyncpg)", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
