#!/usr/bin/python3
# Checks examples/order_service end to end in one mode on one database: the endpoints and their
# JSON, and each fault of issue 14 (malformed request, trickling client, client gone mid-request,
# kitchen down or late, exhausted pool, out of descriptors). Starts its kitchens and services
# itself (ports picked by the system, read from their first line) and always stops them.
#   service_check.py --bin BUILD/examples/order_service --workdir DIR --db URL --mode sync|async --label L
# Prints "ok ..." / "FAIL ..." per check and a last line "L: P passed, F failed, 0 skipped".
# Exit status 0 when every check passed.
import argparse
import http.client
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

args = None
procs = []
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")
    sys.stdout.flush()
    return cond


class Proc:
    def __init__(self, label, argv):
        self.label = label
        self.log = os.path.join(args.workdir, f"{args.label}-{label}.log".replace(" ", "_").replace("/", "_"))
        self.err = open(self.log, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, text=True)
        procs.append(self)
        line = self.p.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"{label} did not start: {line!r}; log: {open(self.log).read()[-2000:]}")
        self.port = int(m.group(1))

    def alive(self):
        return self.p.poll() is None

    def log_text(self):
        self.err.flush()
        with open(self.log) as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def terminate(self, seconds=10):
        """SIGTERM; the exit status (None if it had to be killed after `seconds`)."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                return self.p.wait(seconds)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return None
        return self.p.returncode


def kitchen(delay_ms):
    return Proc(f"kitchen-{delay_ms}ms", [args.bin, "kitchen", "--delay-ms", str(delay_ms)])


def service(label, kitchen_port, *extra):
    argv = [args.bin, "serve", "--kitchen", f"127.0.0.1:{kitchen_port}", "--mode", args.mode, "--db", args.db,
            "--request-timeout", "1000", *extra]
    return Proc(label, argv)


def request(port, method, path, body=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body, headers=headers)
        r = c.getresponse()
        data = r.read()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        return r.status, parsed, data
    finally:
        c.close()


def stats(port):
    return request(port, "GET", "/debug/stats")[1]


def wait_until(cond, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_endpoints(svc):
    st, body, raw = request(svc.port, "POST", "/orders", {"customer": "ann", "item": "soup", "quantity": 2})
    check("POST /orders answers 201 with the order and the kitchen's estimate",
          st == 201 and body and body.get("id", 0) > 0 and body["customer"]["name"] == "ann"
          and body["item"] == "soup" and body["quantity"] == 2 and body["estimate_minutes"] == 9, f"{st} {raw!r}")
    if st != 201 or not body:
        return
    oid = body["id"]
    st, got, raw = request(svc.port, "GET", f"/orders/{oid}")
    check("GET /orders/{id} reads it back with its customer (select_related)",
          st == 200 and got == body, f"{st} {raw!r} vs {body!r}")
    st2, body2, _ = request(svc.port, "POST", "/orders", {"customer": "ann", "item": "tea", "quantity": 1})
    check("a second order reuses the customer (get_or_create)",
          st2 == 201 and body2["customer"]["id"] == body["customer"]["id"] and body2["id"] != oid, f"{st2} {body2}")
    st, got, raw = request(svc.port, "GET", "/orders/999999999")
    check("GET of a missing order is 404 with a JSON error", st == 404 and got and "error" in got, f"{st} {raw!r}")
    st, got, raw = request(svc.port, "GET", "/orders/abc")
    check("GET with a non-numeric id is 400", st == 400 and got and "error" in got, f"{st} {raw!r}")
    st, got, raw = request(svc.port, "POST", "/orders", "{not json")
    check("POST with a body that is not JSON is 400", st == 400 and got and "JSON" in got["error"], f"{st} {raw!r}")
    st, got, raw = request(svc.port, "POST", "/orders", {"customer": "ann", "item": "soup", "quantity": 0})
    check("POST with quantity 0 is 400 naming the field", st == 400 and got and "quantity" in got["error"],
          f"{st} {raw!r}")
    # Keep-alive: several requests on one connection (async keeps it; sync closes after each).
    c = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
    ok = True
    for _ in range(3):
        c.request("GET", f"/orders/{oid}")
        r = c.getresponse()
        r.read()
        ok = ok and r.status == 200
    c.close()
    check("three requests through one client connection", ok)


def check_malformed(svc):
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    s.sendall(b"GARBAGE \x01\x02 nonsense\r\n\r\n")
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    check("a malformed HTTP request gets 400 with a JSON body, then the connection closes",
          head.startswith(b"HTTP/1.1 400") and b"malformed" in body, repr(data[:300]))


def check_slow_client(svc):
    base = stats(svc.port)["connections"]
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    start = time.time()
    dropped_at = None
    try:
        for ch in b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n":
            s.sendall(bytes([ch]))
            s.settimeout(1.0)
            try:
                if s.recv(4096, socket.MSG_PEEK) is not None:
                    dropped_at = time.time()
                    break
            except socket.timeout:
                pass
            if time.time() - start > 6:
                break
    except (BrokenPipeError, ConnectionResetError):
        dropped_at = time.time()
    s.close()
    check("a client sending one byte a second is dropped at the 1 s request deadline",
          dropped_at is not None and dropped_at - start < 3.5,
          "not dropped" if dropped_at is None else f"after {dropped_at - start:.1f} s")
    check("... and its connection (fiber/thread) has ended",
          wait_until(lambda: stats(svc.port)["connections"] <= base, 3), f"connections {stats(svc.port)}")


def check_kitchen_down(kitchen_port_dead):
    svc = service("kitchen-down", kitchen_port_dead, "--kitchen-timeout", "1000")
    try:
        before = stats(svc.port)["orders_in_db"]
        t = time.time()
        st, body, raw = request(svc.port, "POST", "/orders", {"customer": "bob", "item": "soup", "quantity": 1})
        took = time.time() - t
        check("kitchen down: 503 with a JSON body naming the kitchen, quickly",
              st == 503 and body and "kitchen" in body["error"] and "detail" in body and took < 1.0,
              f"{st} {raw!r} in {took:.2f} s")
        s = stats(svc.port)
        check("kitchen down: the order was withdrawn and the pooled connection returned",
              s["orders_in_db"] == before and s["pool"]["in_use"] == 0, str(s))
    finally:
        svc.stop()


def check_kitchen_late(slow_kitchen_port):
    # The kitchen answers after 1.5 s, the service waits 1 s.
    svc = service("kitchen-late", slow_kitchen_port, "--kitchen-timeout", "1000")
    try:
        before = stats(svc.port)["orders_in_db"]
        t = time.time()
        st, body, raw = request(svc.port, "POST", "/orders", {"customer": "cat", "item": "soup", "quantity": 1})
        took = time.time() - t
        check("kitchen slower than its 1 s deadline: 503 naming the kitchen within ~1 s",
              st == 503 and body and "kitchen" in body["error"] and "1000 ms" in body.get("detail", "")
              and took < 1.6, f"{st} {raw!r} in {took:.2f} s")
        s = stats(svc.port)
        check("kitchen late: the order was withdrawn, pool connection back",
              s["orders_in_db"] == before and s["pool"]["in_use"] == 0, str(s))
    finally:
        svc.stop()


def check_pool_exhausted(kitchen_port):
    # One pooled connection, 200 ms to get it; the first order keeps its transaction open 1.5 s.
    svc = service("pool", kitchen_port, "--pool", "1", "--pool-timeout", "200", "--hold-transaction", "1500")
    try:
        before = stats(svc.port)["orders_in_db"]
        import threading
        first = {}

        def holder():
            first["r"] = request(svc.port, "POST", "/orders", {"customer": "cat", "item": "soup", "quantity": 1})

        th = threading.Thread(target=holder)
        th.start()
        time.sleep(0.3)  # the first order holds the only connection in its open transaction
        t = time.time()
        st, body, raw = request(svc.port, "POST", "/orders", {"customer": "dan", "item": "soup", "quantity": 1})
        took = time.time() - t
        check("exhausted pool: 503 'database unavailable' after the 200 ms acquire deadline, not a hang",
              st == 503 and body and "database" in body["error"] and took < 0.8, f"{st} {raw!r} in {took:.2f} s")
        th.join(10)
        st, body, raw = first.get("r", (None, None, b""))
        check("exhausted pool: the order holding the connection completes", st == 201, f"{st} {raw!r}")
        s = stats(svc.port)
        check("exhausted pool: one order stored, pool connection back",
              s["orders_in_db"] == before + 1 and s["pool"]["in_use"] == 0, str(s))
    finally:
        svc.stop()


def leave_mid_request(svc, customer, wait):
    """Sends a POST /orders, waits `wait` s, reads the stats, hangs up; returns the stats then."""
    body = json.dumps({"customer": customer, "item": "soup", "quantity": 1}).encode()
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    s.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(wait)
    mid = stats(svc.port)
    s.close()
    return mid


def settled_after_leaving(svc, s0):
    def settled():
        st = stats(svc.port)
        return st["client_gone"] == s0["client_gone"] + 1 and st["pool"]["in_use"] == 0 \
            and st["connections"] <= s0["connections"]
    return wait_until(settled, 4)


def check_client_gone(slow_kitchen_port, kitchen_port):
    # (a) The client leaves while its transaction is open: it is rolled back.
    svc = service("client-gone-tx", kitchen_port, "--hold-transaction", "1500")
    try:
        s0 = stats(svc.port)
        mid = leave_mid_request(svc, "eve", 0.3)
        check("client gone mid-transaction: its transaction was open (connection in use) when it left",
              mid["pool"]["in_use"] >= 1, str(mid))
        check("client gone mid-transaction: fiber/thread ended, transaction rolled back, connection back",
              settled_after_leaving(svc, s0), str(stats(svc.port)))
        check("client gone mid-transaction: no order left behind",
              stats(svc.port)["orders_in_db"] == s0["orders_in_db"], str(stats(svc.port)))
        code = svc.terminate()
        check("client gone mid-transaction: the service then exits 0 on SIGTERM (no leak under the sanitizer build)",
              code == 0, f"exit {code}; log: {svc.log_text()[-800:]}")
    finally:
        svc.stop()
    # (b) The client leaves while the kitchen is asked (no transaction open then): the saved
    # order is withdrawn.
    svc = service("client-gone-kitchen", slow_kitchen_port, "--kitchen-timeout", "5000")
    try:
        s0 = stats(svc.port)
        mid = leave_mid_request(svc, "fay", 0.3)
        check("client gone while the kitchen is asked: the order was saved and no connection is held",
              mid["orders_in_db"] == s0["orders_in_db"] + 1 and mid["pool"]["in_use"] == 0, str(mid))
        check("client gone while the kitchen is asked: fiber/thread ended, connection back",
              settled_after_leaving(svc, s0), str(stats(svc.port)))
        check("client gone while the kitchen is asked: the order was withdrawn",
              stats(svc.port)["orders_in_db"] == s0["orders_in_db"], str(stats(svc.port)))
        code = svc.terminate()
        check("client gone while the kitchen is asked: the service then exits 0 on SIGTERM (no leak under the "
              "sanitizer build)", code == 0, f"exit {code}; log: {svc.log_text()[-800:]}")
    finally:
        svc.stop()


def check_out_of_descriptors(kitchen_port):
    svc = service("emfile", kitchen_port)
    held = []
    try:
        request(svc.port, "POST", "/orders", {"customer": "fay", "item": "soup", "quantity": 1})  # warm up
        pid = svc.p.pid
        limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        nfds = len(os.listdir(f"/proc/{pid}/fd"))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfds + 4, limit[1]))
        for _ in range(40):
            held.append(socket.create_connection(("127.0.0.1", svc.port), timeout=5))
        logged = wait_until(lambda: "accept failed" in svc.log_text(), 3)
        text = svc.log_text()
        check("out of descriptors: a clear error is logged", logged and "descriptor" in text.lower(),
              text[-500:])
        check("out of descriptors: the service is still running", svc.alive(), svc.log_text()[-500:])
        for s in held:
            s.close()
        held.clear()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)
        ok = wait_until(lambda: request(svc.port, "GET", "/debug/stats", timeout=3)[0] == 200, 5)
        st, body, raw = request(svc.port, "POST", "/orders", {"customer": "fay", "item": "tea", "quantity": 1})
        check("out of descriptors: serves again once descriptors are free", ok and st == 201, f"{st} {raw!r}")
    finally:
        for s in held:
            s.close()
        svc.stop()


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--mode", choices=["sync", "async"], required=True)
    ap.add_argument("--label", required=True)
    args = ap.parse_args()
    try:
        fast = kitchen(0)
        slow = kitchen(1500)
        svc = service("main", fast.port)
        check_endpoints(svc)
        check_malformed(svc)
        check_slow_client(svc)
        check("the service survived all of the above", svc.alive(), svc.log_text()[-500:])
        # A keep-alive client idles on a connection: SIGTERM closes it and the process exits 0
        # (under the sanitizer build LeakSanitizer runs at that exit, and a leak fails it).
        idle = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        st, _, _ = request(svc.port, "GET", "/orders/1")
        t = time.time()
        code = svc.terminate()
        took = time.time() - t
        idle.close()
        check("SIGTERM: the service stops within 3 s and exits 0 (no leak under the sanitizer build)",
              code == 0 and took < 3, f"exit {code} after {took:.1f} s; log: {svc.log_text()[-800:]}")
        check_kitchen_down(free_port())
        check_kitchen_late(slow.port)
        check_pool_exhausted(fast.port)
        check_client_gone(slow.port, fast.port)
        check_out_of_descriptors(fast.port)
        for p in procs:
            if re.fullmatch(r"kitchen-\d+ms", p.label):
                check(f"{p.label} survived", p.alive(), p.log_text()[-300:])
    except Exception as e:  # a crash of the checker itself counts as a failure
        check("checker ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        for p in procs:
            p.stop()
    print(f"{args.label}: {passed} passed, {failed} failed, 0 skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
