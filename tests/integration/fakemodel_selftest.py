"""Self-test of fakemodel.py (not part of the integration suite): every mode,
exercised with plain urllib / http.client / socket clients with short
timeouts.

    python3 tests/integration/fakemodel_selftest.py [NAME_SUBSTRING...]
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fakemodel import FakeModel, CHAT_PATH  # noqa: E402

TOOLS = [
    {"type": "function", "function": {
        "name": "search_events",
        "description": "search the log",
        "parameters": {"type": "object",
                       "properties": {"query": {"type": "string"},
                                      "limit": {"type": "integer", "minimum": 1},
                                      "kind": {"type": "string", "enum": ["git", "build"]}},
                       "required": ["query", "limit"]}}},
    {"type": "function", "function": {
        "name": "get_status", "parameters": {"type": "object", "properties": {}}}},
]


def chat_body(**kw):
    b = {"model": "qwen2.5:7b", "stream": False, "tools": TOOLS, "tool_choice": "auto",
         "messages": [{"role": "user", "content": "what did I do?"}]}
    b.update(kw)
    return b


# --------------------------------------------------------------------------
# Clients.


def chat(m, body=None, timeout=3.0):
    """(status, parsed JSON or raw bytes) via urllib."""
    data = json.dumps(body if body is not None else chat_body()).encode()
    req = urllib.request.Request(m.url + CHAT_PATH, data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def get(m, path, timeout=3.0):
    try:
        with urllib.request.urlopen(m.url + path, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def raw_request(m, method="POST", path=CHAT_PATH, body=None, timeout=3.0, extra=b""):
    """A socket connected and the request sent."""
    if body is None and method == "POST":
        body = json.dumps(chat_body()).encode()
    body = body or b""
    s = socket.create_connection(("127.0.0.1", m.port), timeout=timeout)
    s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n%s\r\n" % (method.encode(), path.encode(), len(body), extra)
              + body)
    return s


def read_all(s, cap=None):
    out = bytearray()
    while cap is None or len(out) <= cap:
        d = s.recv(65536)
        if not d:
            break
        out += d
    return bytes(out)


def read_for(s, seconds):
    """What arrives on s within `seconds` (overall, not per recv)."""
    got = b""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        s.settimeout(left)
        try:
            d = s.recv(4096)
        except socket.timeout:
            return got
        if not d:
            return got
        got += d


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (l.split(":", 1) for l in lines[1:] if ":" in l)}
    return status, headers, body


def message(resp):
    return resp["choices"][0]["message"]


def assert_eq(a, b, what):
    assert a == b, "%s: expected %r, got %r" % (what, b, a)


# --------------------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def ok_endpoints_and_records():
    with FakeModel(model="fm") as m:
        assert m.url == "http://127.0.0.1:%d" % m.port and m.base_url == m.url + "/v1"
        assert_eq(get(m, "/health"), (200, {"status": "ok"}), "/health")
        st, models = get(m, "/v1/models")
        assert st == 200 and models["object"] == "list" and models["data"][0]["id"] == "fm"
        t0 = time.monotonic()
        st, r = chat(m)
        assert st == 200, r
        assert r["object"] == "chat.completion" and r["model"] == "qwen2.5:7b"
        assert isinstance(r["created"], int) and r["id"].startswith("chatcmpl-")
        assert_eq(message(r), {"role": "assistant", "content": "done"}, "default reply")
        assert r["choices"][0]["finish_reason"] == "stop"
        assert r["usage"]["total_tokens"] == r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"]
        st, r404 = get(m, "/nope")
        assert st == 404 and r404["error"]["type"] == "not_found_error"
        reqs = m.requests
        assert_eq([(q["method"], q["path"]) for q in reqs],
                  [("GET", "/health"), ("GET", "/v1/models"), ("POST", CHAT_PATH), ("GET", "/nope")],
                  "recorded requests")
        c = m.chat_requests
        assert len(c) == 1 and c[0]["body"]["tools"] == TOOLS and c[0]["body"]["stream"] is False
        assert c[0]["headers"]["content-type"] == "application/json"
        assert c[0]["time"] >= t0 and c[0]["response"]["status"] == 200
        assert c[0]["response"]["reply"] == r
        assert m.connections == 4
        m.wait_closed(2)
        assert m.open_connections == 0
        # Connection: close on every response.
        s = raw_request(m, "GET", "/health")
        st, h, body = split_response(read_all(s))
        s.close()
        assert h["connection"] == "close" and int(h["content-length"]) == len(body)
        # Streaming is refused loudly; a body that is not JSON is a 400.
        st, r = chat(m, chat_body(stream=True))
        assert st == 400 and "stream" in r["error"]["message"]
        st, _ = chat(m, body=[])
        assert st == 400


@test
def script_replies():
    with FakeModel() as m:
        full = {"id": "x1", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "full"},
                             "finish_reason": "stop"}]}
        m.script([
            FakeModel.tool_call("search_events", {"query": "q", "limit": 3}),
            FakeModel.tool_call("get_status", {}, id="call_mine", args_as_string=False),
            FakeModel.text("hello"),
            FakeModel.content_tool_call("get_status", {"a": 1}),
            FakeModel.content_tool_call("get_status", {"a": 1}, style="json"),
            FakeModel.tool_calls([("get_status", {}), {"name": "search_events",
                                                       "args": {"query": "z", "limit": 1}}]),
            FakeModel.raw(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}),
            full,
            lambda rec: FakeModel.text("saw %d messages" % len(rec["body"]["messages"])),
        ])
        assert m.script_left == 9
        st, r = chat(m)
        tc = message(r)["tool_calls"]
        assert r["choices"][0]["finish_reason"] == "tool_calls" and message(r)["content"] is None
        assert len(tc) == 1 and tc[0]["type"] == "function" and tc[0]["id"].startswith("call_")
        assert isinstance(tc[0]["function"]["arguments"], str)
        assert_eq(json.loads(tc[0]["function"]["arguments"]), {"query": "q", "limit": 3}, "args")
        st, r = chat(m)
        tc = message(r)["tool_calls"][0]
        assert tc["id"] == "call_mine" and tc["function"]["arguments"] == {}
        st, r = chat(m)
        assert message(r)["content"] == "hello" and "tool_calls" not in message(r)
        st, r = chat(m)
        c = message(r)["content"]
        assert c.startswith("<tool_call>") and c.endswith("</tool_call>"), c
        inner = json.loads(c[len("<tool_call>"):-len("</tool_call>")])
        assert_eq(inner, {"name": "get_status", "arguments": {"a": 1}}, "tagged")
        assert r["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in message(r)
        st, r = chat(m)
        assert_eq(json.loads(message(r)["content"]), {"name": "get_status", "arguments": {"a": 1}},
                  "json style")
        st, r = chat(m)
        tcs = message(r)["tool_calls"]
        assert [t["function"]["name"] for t in tcs] == ["get_status", "search_events"]
        assert tcs[0]["id"] != tcs[1]["id"]
        s = raw_request(m)
        st, h, body = split_response(read_all(s))
        s.close()
        assert st == 429 and h["retry-after"] == "1" and b"slow down" in body
        st, r = chat(m)
        assert_eq(r, full, "full response dict")
        st, r = chat(m)
        assert message(r)["content"] == "saw 1 messages"
        assert m.script_left == 0
        st, r = chat(m)
        assert message(r)["content"] == "done"
        m.set_default(FakeModel.text("fallback"))
        assert message(chat(m)[1])["content"] == "fallback"
        m.enqueue(FakeModel.text("a"), FakeModel.text("b"))
        assert [message(chat(m)[1])["content"] for _ in range(3)] == ["a", "b", "fallback"]
        # /health does not take script items.
        m.script([FakeModel.text("x")])
        get(m, "/health")
        assert m.script_left == 1


@test
def refuse_and_reopen_same_port():
    with FakeModel() as m:
        url = m.url
        # A connection held open across the switches (the port stays shared).
        m.set_mode("hang")
        held = raw_request(m)
        m.wait_requests(1)
        for _ in range(3):
            m.set_mode("refuse")
            assert m.mode == "refuse"
            try:
                socket.create_connection(("127.0.0.1", m.port), timeout=1).close()
                raise AssertionError("connection was not refused")
            except ConnectionRefusedError:
                pass
            try:
                chat(m, timeout=1)
                raise AssertionError("urllib did not fail")
            except urllib.error.URLError as e:
                assert isinstance(e.reason, ConnectionRefusedError), e
            m.set_mode("ok")
            assert m.url == url
            assert chat(m)[0] == 200
        held.close()
        # Starting in refuse mode works too.
    with FakeModel(mode="refuse") as m:
        try:
            socket.create_connection(("127.0.0.1", m.port), timeout=1).close()
            raise AssertionError("not refused")
        except ConnectionRefusedError:
            pass
        m.set_mode("ok")
        assert get(m, "/health")[0] == 200


@test
def hang():
    with FakeModel(mode="hang") as m:
        t0 = time.monotonic()
        try:
            chat(m, timeout=0.5)
            raise AssertionError("hang answered")
        except (socket.timeout, urllib.error.URLError) as e:
            assert "timed out" in str(e), e
        assert 0.4 < time.monotonic() - t0 < 2
        reqs = m.wait_requests(1)
        assert reqs[0]["response"]["kind"] == "hang" and reqs[0]["response"]["status"] is None
        # The client's close is noticed.
        m.wait_closed(2)
        assert m.connection_log[0]["peer_closed"] is not None
        # release() drops held connections; seconds= drops them by itself.
        s = raw_request(m)
        m.wait_requests(2)
        s.settimeout(2)
        m.release()
        assert s.recv(10) == b""
        s.close()
        m.set_mode("hang", seconds=0.3)
        s = raw_request(m, timeout=2)
        t0 = time.monotonic()
        assert s.recv(10) == b""
        assert 0.2 < time.monotonic() - t0 < 1.5
        s.close()


@test
def hang_no_read():
    with FakeModel(mode="hang_no_read") as m:
        s = socket.create_connection(("127.0.0.1", m.port), timeout=0.5)
        body = b"x" * (32 * 1024 * 1024)
        sent = 0
        try:
            s.sendall(b"POST %s HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (CHAT_PATH.encode(), len(body)))
            view = memoryview(body)
            while view:
                n = s.send(view)
                sent += n
                view = view[n:]
            raise AssertionError("the fake read 32 MiB")
        except socket.timeout:
            pass
        assert sent < len(body)
        try:
            s.recv(1)
            raise AssertionError("hang_no_read answered")
        except socket.timeout:
            pass
        assert m.connections == 1 and m.requests == []
        assert m.connection_log[0]["fault"] == "hang_no_read"
        s.close()
        # The client's FIN sits behind the data the fake never reads, so the
        # fake cannot see the close: release() drops the connection.
        time.sleep(0.2)
        assert m.open_connections == 1
        m.release()
        m.wait_closed(2)


@test
def blackhole():
    with FakeModel(mode="blackhole") as m:
        s = raw_request(m, timeout=0.5)
        try:
            s.recv(1)
            raise AssertionError("blackhole answered")
        except socket.timeout:
            pass
        try:
            get(m, "/health", timeout=0.5)
            raise AssertionError("blackhole answered /health")
        except (socket.timeout, urllib.error.URLError):
            pass
        assert m.requests == [] and m.connections == 2
        s.close()
        m.wait_closed(2)  # seen through POLLRDHUP, nothing read
        assert all(c["peer_closed"] is not None for c in m.connection_log)


@test
def slow_drip():
    with FakeModel() as m:
        m.set_mode("slow_drip", interval=0.002, chunk=4, reply=FakeModel.text("drip"))
        t0 = time.monotonic()
        st, r = chat(m, timeout=10)
        took = time.monotonic() - t0
        assert st == 200 and message(r)["content"] == "drip", r
        assert took > 0.05, took
        # At 0.5 s a byte, a client with 1.2 s gets the first few bytes only.
        m.set_mode("slow_drip")
        s = raw_request(m)
        got = read_for(s, 1.2)
        s.close()
        assert 1 <= len(got) <= 5 and b"HTTP/1.1 200".startswith(got), got
        # headers_at_once: the head arrives whole, the body drips.
        m.set_mode("slow_drip", interval=0.3, headers_at_once=True)
        s = raw_request(m)
        got = read_for(s, 0.5)
        s.close()
        head, sep, body = got.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 200") and 1 <= len(body) <= 3, got


@test
def http_errors():
    with FakeModel(mode="http_500") as m:
        st, r = chat(m)
        assert st == 500 and r["error"]["message"] == "internal error", r
        assert get(m, "/health")[0] == 500
        m.set_mode("http_503_loading")
        st, r = chat(m)
        assert st == 503 and r["error"]["message"] == "Loading model"
        assert r["error"]["type"] == "unavailable_error"
        st, r = get(m, "/health")
        assert st == 503 and "Loading model" in json.dumps(r)
        m.set_mode("ok")
        assert get(m, "/health") == (200, {"status": "ok"})
        # paths= narrows a transport fault.
        m.set_mode("http_500", paths=[CHAT_PATH], message="boom")
        assert get(m, "/health")[0] == 200
        st, r = chat(m)
        assert st == 500 and r["error"]["message"] == "boom"
        # duration= reverts to ok.
        m.set_mode("http_503_loading", duration=0.3)
        assert get(m, "/health")[0] == 503
        time.sleep(0.4)
        assert get(m, "/health")[0] == 200 and m.mode == "ok"


@test
def reset_mid_body():
    with FakeModel(mode="reset_mid_body") as m:
        s = raw_request(m)
        got = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    raise AssertionError("clean EOF instead of a reset")
                got += d
        except ConnectionResetError:
            pass
        s.close()
        st, h, body = split_response(got)
        assert st == 200 and 0 < len(body) < int(h["content-length"]), (len(body), h)
        try:
            chat(m)
            raise AssertionError("urllib read a reset body")
        except (ConnectionResetError, http.client.IncompleteRead, urllib.error.URLError):
            pass


@test
def malformed_json():
    with FakeModel(mode="malformed_json") as m:
        st, r = chat(m)
        assert st == 200 and isinstance(r, bytes) and r == b"this is not JSON {"
        m.set_mode("malformed_json", truncated=True)
        st, r = chat(m)
        assert st == 200 and isinstance(r, bytes) and r.startswith(b'{"id"'), r
        m.set_mode("truncated_json")
        st, r = chat(m)
        assert isinstance(r, bytes) and r.startswith(b'{"id"')


@test
def oversized():
    with FakeModel(mode="oversized") as m:
        cap = 1024 * 1024
        s = raw_request(m)
        got = read_all(s, cap=cap)
        s.close()
        st, h, body = split_response(got)
        assert st == 200 and int(h["content-length"]) == 64 * 1024 * 1024
        assert len(body) > cap - 8192 and len(got) > cap, len(got)
        # Small sizes, read whole: valid JSON of exactly `size` bytes, each framing.
        for framing in ("content-length", "chunked", "close"):
            m.set_mode("oversized", size=300000, framing=framing)
            c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=5)
            c.request("POST", CHAT_PATH, json.dumps(chat_body()), {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            c.close()
            assert r.status == 200 and len(data) == 300000, (framing, len(data))
            assert len(message(json.loads(data))["content"]) > 290000
        m.wait_closed(3)


@test
def tool_faults():
    with FakeModel() as m:
        m.set_mode("unknown_tool")
        tc = message(chat(m)[1])["tool_calls"][0]
        assert tc["function"]["name"] not in ("search_events", "get_status")
        body = chat_body(tools=[{"type": "function", "function": {"name": "no_such_tool"}}])
        tc = message(chat(m, body)[1])["tool_calls"][0]
        assert tc["function"]["name"] != "no_such_tool"
        # The tool-call faults leave /health alone.
        assert get(m, "/health")[0] == 200

        m.set_mode("invalid_args")
        tc = message(chat(m)[1])["tool_calls"][0]
        args = json.loads(tc["function"]["arguments"])
        assert tc["function"]["name"] == "search_events" and "query" not in args, args
        m.set_mode("invalid_args", how="wrong_type")
        args = json.loads(message(chat(m)[1])["tool_calls"][0]["function"]["arguments"])
        assert set(args) >= {"query", "limit"} and not isinstance(args["query"], str), args
        assert m.chat_requests[-1]["response"]["why"]

        m.set_mode("args_as_object")
        tc = message(chat(m)[1])["tool_calls"][0]
        assert_eq(tc["function"]["arguments"], {"query": "x", "limit": 1}, "valid args object")
        m.set_mode("missing_id", name="get_status")
        tc = message(chat(m)[1])["tool_calls"][0]
        assert "id" not in tc and tc["function"]["name"] == "get_status"
        assert tc["function"]["arguments"] == "{}"

        m.set_mode("loop")
        calls = [message(chat(m)[1])["tool_calls"][0] for _ in range(4)]
        assert len({(c["function"]["name"], c["function"]["arguments"]) for c in calls}) == 1
        assert len({c["id"] for c in calls}) == 4
        m.set_mode("loop", name="get_status", args={"x": 1}, same_id=True)
        calls = [message(chat(m)[1])["tool_calls"][0] for _ in range(3)]
        assert len({json.dumps(c, sort_keys=True) for c in calls}) == 1
        assert calls[0]["function"]["name"] == "get_status"

        # As script items.
        m.set_mode("ok")
        m.script([FakeModel.fault("unknown_tool", name="rm_rf"), FakeModel.text("after"),
                  FakeModel.fault("loop", name="get_status")])
        assert message(chat(m)[1])["tool_calls"][0]["function"]["name"] == "rm_rf"
        assert message(chat(m)[1])["content"] == "after"
        for _ in range(3):
            assert message(chat(m)[1])["tool_calls"][0]["function"]["name"] == "get_status"
        assert m.mode == "loop"


@test
def script_faults():
    with FakeModel() as m:
        m.script([FakeModel.fault("http_500"), FakeModel.fault("http_503_loading"),
                  FakeModel.fault("malformed_json"), FakeModel.fault("hang", seconds=0.2),
                  FakeModel.fault("ok", delay=0.3, reply=FakeModel.text("late")),
                  FakeModel.text("last")])
        assert chat(m)[0] == 500
        assert chat(m)[0] == 503
        assert isinstance(chat(m)[1], bytes)
        try:
            chat(m, timeout=2)
            raise AssertionError("hang answered")
        except (http.client.RemoteDisconnected, urllib.error.URLError, ConnectionError):
            pass
        t0 = time.monotonic()
        assert message(chat(m)[1])["content"] == "late" and time.monotonic() - t0 >= 0.25
        assert message(chat(m)[1])["content"] == "last"
        # A runtime fault wins over the script and does not consume it.
        m.script([FakeModel.text("kept")])
        m.set_mode("http_500")
        assert chat(m)[0] == 500 and m.script_left == 1
        m.set_mode("ok")
        assert message(chat(m)[1])["content"] == "kept"
        # Connection-level script faults: taken by the next chat connection
        # (its request line peeked), not by /health.
        m.script([FakeModel.fault("blackhole"), FakeModel.text("then")])
        assert get(m, "/health")[0] == 200 and m.script_left == 2
        n = len(m.requests)
        try:
            chat(m, timeout=0.5)
            raise AssertionError("blackhole answered")
        except (socket.timeout, urllib.error.URLError):
            pass
        assert m.script_left == 1 and len(m.requests) == n
        assert message(chat(m)[1])["content"] == "then"
        m.script([FakeModel.fault("hang_no_read")])
        try:
            chat(m, timeout=0.5)
            raise AssertionError("hang_no_read answered")
        except (socket.timeout, urllib.error.URLError):
            pass
        assert m.script_left == 0 and len(m.requests) == n + 1  # only the "then" chat
        m.wait_closed(2)


@test
def flap():
    with FakeModel() as m:
        m.set_mode("flap", period=0.3)
        seen = []
        t_end = time.monotonic() + 1.75
        while time.monotonic() < t_end:
            t = time.monotonic()
            try:
                socket.create_connection(("127.0.0.1", m.port), timeout=0.5).close()
                state = "ok"
            except ConnectionRefusedError:
                state = "refuse"
            seen.append((t, state))
            time.sleep(0.02)
        runs = [seen[0][1]]
        for _, st in seen[1:]:
            if st != runs[-1]:
                runs.append(st)
        assert runs[0] == "ok", runs
        assert 4 <= len(runs) <= 7 and all(a != b for a, b in zip(runs, runs[1:])), runs
        assert m.mode == "flap"
        m.set_mode("flap", period=0.3, start="refuse")
        try:
            socket.create_connection(("127.0.0.1", m.port), timeout=0.5).close()
            raise AssertionError("flap start=refuse accepted")
        except ConnectionRefusedError:
            pass
        m.set_mode("ok")
        time.sleep(0.7)
        assert get(m, "/health")[0] == 200


@test
def many_waiting_callers():
    with FakeModel(mode="hang") as m:
        socks = [raw_request(m, timeout=2) for _ in range(64)]
        m.wait_connections(64)
        m.wait_requests(64)
        assert m.connections == 64 and len(m.chat_requests) == 64
        m.release()
        for s in socks:
            assert s.recv(1) == b""
            s.close()
        m.wait_closed(3)


@test
def request_framing():
    with FakeModel() as m:
        body = json.dumps(chat_body()).encode()
        # Expect: 100-continue gets a 100 before the body is sent.
        s = socket.create_connection(("127.0.0.1", m.port), timeout=2)
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                  % (CHAT_PATH.encode(), len(body)))
        first = s.recv(100)
        assert first.startswith(b"HTTP/1.1 100"), first
        s.sendall(body)
        st, h, rb = split_response(read_all(s))
        s.close()
        assert st == 200 and json.loads(rb)["object"] == "chat.completion"
        # A chunked request body.
        s = socket.create_connection(("127.0.0.1", m.port), timeout=2)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50])
                          for i in range(0, len(body), 50))
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  % CHAT_PATH.encode() + chunks + b"0\r\n\r\n")
        st, h, rb = split_response(read_all(s))
        s.close()
        assert st == 200
        assert m.chat_requests[-1]["body"] == chat_body()


@test
def bad_arguments():
    for f in (lambda: FakeModel.fault("nope"), lambda: FakeModel.fault("hang", secs=1),
              lambda: FakeModel.fault("refuse"), lambda: FakeModel.fault("flap"),
              lambda: FakeModel.content_tool_call("a", {}, style="xml")):
        try:
            f()
            raise AssertionError("no ValueError")
        except ValueError:
            pass
    with FakeModel() as m:
        try:
            m.set_mode("slow_drip", speed=3)
            raise AssertionError("no ValueError")
        except ValueError:
            pass
        assert m.mode == "ok"


def fd_count():
    return len(os.listdir("/proc/self/fd"))


@test
def stop_is_prompt_and_clean():
    base_threads = threading.active_count()
    base_fds = fd_count()
    m = FakeModel()
    socks = []
    for mode, kw in (("hang", {}), ("hang_no_read", {}), ("blackhole", {}),
                     ("slow_drip", {"interval": 5}), ("oversized", {}),
                     ("reset_mid_body", {"pause": 30})):
        m.set_mode(mode, **kw)
        for _ in range(3):
            socks.append(raw_request(m, timeout=2))
    m.wait_connections(18)
    time.sleep(0.3)
    port = m.port
    t0 = time.monotonic()
    m.stop()
    took = time.monotonic() - t0
    assert took < 2.0, "stop() took %.2fs" % took
    m.stop()  # idempotent
    for s in socks:
        s.close()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise AssertionError("still listening after stop()")
    except ConnectionRefusedError:
        pass
    time.sleep(0.1)
    assert threading.active_count() == base_threads, \
        [t.name for t in threading.enumerate()]
    assert fd_count() == base_fds, (fd_count(), base_fds)


@test
def as_a_script():
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "fakemodel.py"), "--mode", "http_500",
                          "--param", "message=from script", "--default-text", "hi"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = p.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url

        class M:
            pass
        m = M()
        m.url = url
        m.port = int(url.rsplit(":", 1)[1])
        st, r = chat(m)
        assert st == 500 and r["error"]["message"] == "from script"
        p.stdin.write(json.dumps({"set_mode": "ok"}) + "\n")
        p.stdin.write(json.dumps({"script": [{"tool_call": {"name": "f", "arguments": {"a": 1}}}]}) + "\n")
        p.stdin.write(json.dumps({"stats": True}) + "\n")
        p.stdin.flush()
        stats = json.loads(p.stdout.readline())
        assert stats["mode"] == "ok" and stats["script_left"] == 1, stats
        assert message(chat(m)[1])["tool_calls"][0]["function"]["name"] == "f"
        assert message(chat(m)[1])["content"] == "hi"
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=3) == 0 and time.monotonic() - t0 < 2
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()


def main():
    want = sys.argv[1:]
    failed = 0
    ran = 0
    base_fds = fd_count()
    t_all = time.monotonic()
    for fn in TESTS:
        if want and not any(w in fn.__name__ for w in want):
            continue
        ran += 1
        t0 = time.monotonic()
        try:
            fn()
            print("ok %d - %s (%.2fs)" % (ran, fn.__name__, time.monotonic() - t0), flush=True)
        except Exception:
            failed += 1
            print("not ok %d - %s" % (ran, fn.__name__), flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line, flush=True)
    time.sleep(0.2)
    leaked = fd_count() - base_fds
    if leaked:
        print("not ok - %d fd(s) leaked over the run" % leaked)
        failed += 1
    extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if extra:
        print("not ok - threads left: %s" % extra)
        failed += 1
    print("# %d test(s), %d failed, %.1fs" % (ran, failed, time.monotonic() - t_all))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
