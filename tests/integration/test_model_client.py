#!/usr/bin/env python3
"""The model server client (src/model/model.h) against the fault-injecting
fake server (fakemodel.py), through the test tool tests/tools/model_call.c
(build/rel/tools/model_call; $CAIRN_TOOLS names its directory): answers and
tool calls as each server family writes them, every fault mode with the code
and the timing the header promises, the health probe, many threads at once,
and no file descriptor left behind after 200 failed calls of mixed kinds."""
import json
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairnlib import Suite, check, eq, short  # noqa: E402
from fakemodel import FakeModel  # noqa: E402

T = Suite(per_test_timeout=120)
HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1024 * 1024

# How far from the deadline a timed-out call may end (the header promises
# the deadline; this is the slack of a loaded two-core machine).
SLACK_MS = 100


def tool():
    d = os.environ.get("CAIRN_TOOLS") or os.path.join(HERE, "..", "..", "build", "rel", "tools")
    p = os.path.join(d, "model_call")
    check(os.access(p, os.X_OK), "%s is not built (make build/rel/tools/model_call)" % p)
    return p


def call(url, deadline_ms, *opts, env=None, timeout=60):
    """Runs model_call once; returns its JSON line as a dict."""
    r = subprocess.run([tool(), *opts, url, str(deadline_ms)], capture_output=True,
                       timeout=timeout, env=env)
    check(r.returncode == 0, "model_call exited %d: %s" % (r.returncode, r.stderr.decode()))
    lines = r.stdout.decode().splitlines()
    check(len(lines) == 1, "model_call printed %d lines: %s" % (len(lines), short(lines)))
    return json.loads(lines[0])


def expect_code(got, code, what):
    eq(got["code"], code, "%s: code (msg: %s)" % (what, got.get("msg")))
    check(got["msg"], "%s: an error without a message" % what)


def free_port():
    """A port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def near_deadline(got, deadline_ms, what):
    ms = got["ms"]
    check(deadline_ms - SLACK_MS <= ms <= deadline_ms + SLACK_MS,
          "%s: ended after %.0f ms, not at the deadline of %d ms (+- %d)"
          % (what, ms, deadline_ms, SLACK_MS))


# --------------------------------------------------------------------------
# Answers.


@T.test
def text_answer_and_the_request_sent():
    with FakeModel() as m:
        m.script([FakeModel.text("the answer is 42")])
        got = call(m.base_url, 5000, "--model", "qwen2.5:7b")
        eq(got["code"], "ok", "code (msg: %s)" % got["msg"])
        eq(got["content"], "the answer is 42", "content")
        eq(got["calls"], [], "calls")
        eq(got["finish_reason"], "stop", "finish_reason")
        eq(got["assistant_message"], {"role": "assistant", "content": "the answer is 42"},
           "assistant_message")
        req = m.chat_requests[0]
        body = req["body"]
        eq(req["path"], "/v1/chat/completions", "path")
        eq(body["model"], "qwen2.5:7b", "model")
        eq(body["messages"], [{"role": "user", "content": "hello"}], "messages")
        eq(body["stream"], False, "stream")
        eq(body["temperature"], 0, "temperature")
        eq(body["tool_choice"], "auto", "tool_choice")
        names = [t["function"]["name"] for t in body["tools"]]
        check(len(names) >= 5 and all(t["type"] == "function" for t in body["tools"]),
              "the tools sent: %s" % short(names))
        check(all(isinstance(t["function"]["parameters"], dict) for t in body["tools"]),
              "every tool has its parameters schema")
        h = req["headers"]
        check(h.get("content-type", "").startswith("application/json"),
              "content-type: %s" % h.get("content-type"))
        check("expect" not in h, "no Expect: 100-continue (%s)" % h.get("expect"))
        eq(m.connections, 1, "connections")


@T.test
def no_tools_sends_no_tools_nor_tool_choice():
    with FakeModel() as m:
        got = call(m.base_url, 5000, "--tools", "null")
        eq(got["code"], "ok", "code")
        body = m.chat_requests[0]["body"]
        check("tools" not in body and "tool_choice" not in body, "body: %s" % short(body))


@T.test
def tool_call_with_string_arguments():
    with FakeModel() as m:
        m.script([FakeModel.tool_call("kb_search", {"query": "flaky test", "limit": 3})])
        got = call(m.base_url, 5000)
        eq(got["code"], "ok", "code (msg: %s)" % got["msg"])
        eq(len(got["calls"]), 1, "calls")
        c = got["calls"][0]
        eq(c["name"], "kb_search", "name")
        eq(c["arguments"], {"query": "flaky test", "limit": 3}, "arguments")
        check(c["id"].startswith("call_fake_"), "the server's id is kept: %s" % c["id"])
        eq(c["from_content"], False, "from_content")
        eq(got["finish_reason"], "tool_calls", "finish_reason")
        tc = got["assistant_message"]["tool_calls"][0]
        eq(tc["id"], c["id"], "assistant_message id")
        eq(tc["type"], "function", "assistant_message type")
        eq(json.loads(tc["function"]["arguments"]), c["arguments"],
           "assistant_message arguments (a string)")


@T.test
def several_calls_and_content_alongside():
    with FakeModel() as m:
        m.script([FakeModel.tool_calls([("a_tool", {"x": 1}),
                                        {"name": "b.tool-2", "args": {}, "omit_id": True}],
                                       content="let me look")])
        got = call(m.base_url, 5000)
        eq(got["code"], "ok", "code (msg: %s)" % got["msg"])
        eq([c["name"] for c in got["calls"]], ["a_tool", "b.tool-2"], "names")
        eq(got["calls"][1]["id"], "call_1", "a made-up id")
        eq(got["content"], "let me look", "content")


@T.test
def args_as_object_and_missing_id():
    with FakeModel() as m:
        m.script([FakeModel.fault("args_as_object", name="kb_search", args={"query": "x"}),
                  FakeModel.fault("missing_id", name="kb_search", args={"query": "y"})])
        a = call(m.base_url, 5000)
        eq(a["code"], "ok", "args_as_object: code (msg: %s)" % a["msg"])
        eq(a["calls"][0]["arguments"], {"query": "x"}, "args_as_object: arguments")
        eq(json.loads(a["assistant_message"]["tool_calls"][0]["function"]["arguments"]),
           {"query": "x"}, "args_as_object: sent back as a string")
        b = call(m.base_url, 5000)
        eq(b["code"], "ok", "missing_id: code (msg: %s)" % b["msg"])
        eq(b["calls"][0]["id"], "call_1", "missing_id: made up")
        eq(b["assistant_message"]["tool_calls"][0]["id"], "call_1", "missing_id: in the message")


@T.test
def malformed_arguments_kept_as_text():
    with FakeModel() as m:
        m.script([FakeModel.tool_call("kb_search", '{"query": "x",')])
        got = call(m.base_url, 5000)
        eq(got["code"], "ok", "code (msg: %s)" % got["msg"])
        c = got["calls"][0]
        eq(c.get("arguments"), None, "arguments")
        eq(c["arguments_text"], '{"query": "x",', "arguments_text")
        eq(got["assistant_message"]["tool_calls"][0]["function"]["arguments"], "{}",
           "what goes back in the assistant's message")


@T.test
def content_tool_call_both_styles():
    with FakeModel() as m:
        m.script([FakeModel.content_tool_call("kb_search", {"query": "a"}, style="tagged"),
                  FakeModel.content_tool_call("kb_search", {"query": "b"}, style="json")])
        for style, q in (("tagged", "a"), ("json", "b")):
            got = call(m.base_url, 5000)
            eq(got["code"], "ok", "%s: code (msg: %s)" % (style, got["msg"]))
            eq(len(got["calls"]), 1, "%s: calls" % style)
            c = got["calls"][0]
            eq((c["name"], c["arguments"], c["from_content"], c["id"]),
               ("kb_search", {"query": q}, True, "call_1"), "%s: the call" % style)
            eq(got["content"], "", "%s: content without the call" % style)
            eq(len(got["assistant_message"]["tool_calls"]), 1, "%s: assistant tool_calls" % style)


# --------------------------------------------------------------------------
# Faults.


@T.test
def refused_is_down_at_once():
    with FakeModel() as m:
        m.set_mode("refuse")
        got = call(m.base_url, 5000)
        expect_code(got, "daemon_down", "refused")
        check("connection refused" in got["msg"] and m.base_url in got["msg"],
              "the message names the URL and the cause: %s" % got["msg"])
        check(got["ms"] < 500, "refused took %.0f ms" % got["ms"])


@T.test
def unresolvable_host_is_down():
    got = call("http://no-such-host.invalid:11434/v1", 5000)
    expect_code(got, "daemon_down", "unresolvable host")
    check("no-such-host.invalid" in got["msg"], "msg: %s" % got["msg"])


@T.test
def no_connection_within_the_connect_timeout_is_down():
    # A listener whose accept queue is full: the kernel drops further SYNs,
    # so the connect hangs until the connect timeout (a server that is
    # there but cannot take a connection, or a host that drops packets).
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(lsock.getsockname())
            fillers.append(c)
        url = "http://127.0.0.1:%d/v1" % lsock.getsockname()[1]
        got = call(url, 4000, "--connect-ms", "300")
        expect_code(got, "daemon_down", "accept queue full")
        check(200 <= got["ms"] < 1000, "took %.0f ms with a 300 ms connect timeout" % got["ms"])
        check("no connection within" in got["msg"], "msg: %s" % got["msg"])
        # With the deadline before the connect timeout: the deadline's error.
        got = call(url, 300, "--connect-ms", "2000")
        expect_code(got, "ETIMEDOUT", "accept queue full, deadline first")
        near_deadline(got, 300, "accept queue full, deadline first")
    finally:
        for c in fillers:
            c.close()
        lsock.close()


@T.test
def bad_url_is_invalid():
    for url in ("ftp://127.0.0.1/v1", "127.0.0.1:11434/v1", "file:///etc/passwd"):
        got = call(url, 1000)
        expect_code(got, "invalid", url)


@T.test
def credentials_in_the_url_are_not_shown():
    port = free_port()
    got = call("http://user:s3cret@127.0.0.1:%d/v1/?key=s3cret" % port, 2000)
    expect_code(got, "daemon_down", "refused")
    check("s3cret" not in got["msg"], "the message shows the secret: %s" % got["msg"])


@T.test
def deadline_already_past():
    with FakeModel() as m:
        got = call(m.base_url, 0)
        expect_code(got, "ETIMEDOUT", "deadline 0")
        eq(m.connections, 0, "connections made")


@T.test
def hang_times_out_at_the_deadline():
    with FakeModel("hang") as m:
        got = call(m.base_url, 1500)
        expect_code(got, "ETIMEDOUT", "hang")
        near_deadline(got, 1500, "hang")
        check("did not answer" in got["msg"], "msg: %s" % got["msg"])
        m.wait_closed(timeout=5)


@T.test
def hang_no_read_times_out_at_the_deadline():
    with tempfile.TemporaryDirectory() as tmp, FakeModel("hang_no_read") as m:
        got = call(m.base_url, 1200)
        expect_code(got, "ETIMEDOUT", "hang_no_read")
        near_deadline(got, 1200, "hang_no_read")
        # A request too large for the socket buffers: the send itself blocks.
        big = os.path.join(tmp, "messages.json")
        with open(big, "w") as f:
            json.dump([{"role": "user", "content": "x" * (8 * MiB)}], f)
        got = call(m.base_url, 1200, "--messages", "@" + big)
        expect_code(got, "ETIMEDOUT", "hang_no_read, 8 MiB request")
        near_deadline(got, 1200, "hang_no_read, 8 MiB request")
        check("did not read the request" in got["msg"], "msg: %s" % got["msg"])
        m.release()


@T.test
def blackhole_times_out_at_the_deadline():
    with FakeModel("blackhole") as m:
        got = call(m.base_url, 1000)
        expect_code(got, "ETIMEDOUT", "blackhole")
        near_deadline(got, 1000, "blackhole")


@T.test
def slow_drip_is_cut():
    # Headers dripping too: nothing to judge a rate on; cut at the deadline.
    with FakeModel("slow_drip", interval=0.1, chunk=1) as m:
        got = call(m.base_url, 1500)
        expect_code(got, "ETIMEDOUT", "slow_drip")
        near_deadline(got, 1500, "slow_drip")
    # The body dripping at 10 bytes/s with a deadline 8 s away: it cannot
    # finish, and is cut about a second after it started, long before.
    with FakeModel("slow_drip", interval=0.1, chunk=1, headers_at_once=True) as m:
        got = call(m.base_url, 8000)
        expect_code(got, "ETIMEDOUT", "slow_drip, body")
        check(got["ms"] < 2500, "cut after %.0f ms, not early" % got["ms"])
        check("too slowly" in got["msg"], "msg: %s" % got["msg"])
    # A drip that can finish in time is not cut.
    with FakeModel("slow_drip", interval=0.01, chunk=64, headers_at_once=True) as m:
        got = call(m.base_url, 10000)
        eq(got["code"], "ok", "a fast enough drip (msg: %s)" % got["msg"])


@T.test
def http_500_is_proto_with_the_message():
    with FakeModel("http_500", message="CUDA out of memory") as m:
        got = call(m.base_url, 5000)
        expect_code(got, "bad_request", "http_500")
        check("HTTP 500" in got["msg"] and "CUDA out of memory" in got["msg"],
              "msg: %s" % got["msg"])


@T.test
def http_503_loading_is_unavailable():
    with FakeModel("http_503_loading") as m:
        got = call(m.base_url, 5000)
        expect_code(got, "unavailable", "http_503_loading")
        check("Loading model" in got["msg"], "msg: %s" % got["msg"])


@T.test
def other_statuses():
    with FakeModel() as m:
        m.script([FakeModel.raw(404, {"error": "model 'llama9' not found, try pulling it first"}),
                  FakeModel.raw(429, "slow down", {"Retry-After": "1"}),
                  FakeModel.raw(301, "", {"Location": "http://elsewhere/v1"}),
                  FakeModel.raw(200, {"error": {"message": "context length exceeded"}})])
        a = call(m.base_url, 5000)
        expect_code(a, "bad_request", "404")
        check("HTTP 404" in a["msg"] and "not found, try pulling" in a["msg"]
              and "/v1" in a["msg"], "404 msg: %s" % a["msg"])
        b = call(m.base_url, 5000)
        expect_code(b, "bad_request", "429")
        check("slow down" in b["msg"], "429 msg: %s" % b["msg"])
        c = call(m.base_url, 5000)
        expect_code(c, "bad_request", "301")
        check("redirect" in c["msg"], "301 msg: %s" % c["msg"])
        eq(len(m.chat_requests), 3, "the redirect is not followed")
        d = call(m.base_url, 5000)
        expect_code(d, "bad_request", "200 with an error")
        check("context length exceeded" in d["msg"], "msg: %s" % d["msg"])


@T.test
def reset_mid_body_is_proto():
    with FakeModel("reset_mid_body", pause=0.1) as m:
        got = call(m.base_url, 5000)
        expect_code(got, "bad_request", "reset_mid_body")
        check("broke off" in got["msg"], "msg: %s" % got["msg"])


@T.test
def malformed_and_truncated_json_are_proto():
    with FakeModel("malformed_json") as m:
        got = call(m.base_url, 5000)
        expect_code(got, "bad_request", "malformed_json")
        check("not JSON" in got["msg"], "msg: %s" % got["msg"])
    with FakeModel("truncated_json") as m:
        got = call(m.base_url, 5000)
        expect_code(got, "bad_request", "truncated_json")


@T.test
def oversized_is_too_large_and_stops_early():
    # What reading all of 64 MiB costs here, the cap lifted (the reference).
    with FakeModel("oversized", framing="chunked") as m:
        full = call(m.base_url, 60000, "--max-body", str(80 * MiB))
        eq(full["code"], "ok", "64 MiB with the cap lifted (msg: %s)" % full["msg"])
        eq(len(full["content"]), 256 * 1024, "the content, cut to 256 KiB")
    for framing in ("content-length", "chunked", "close"):
        with FakeModel("oversized", framing=framing) as m:
            got = call(m.base_url, 60000)
            expect_code(got, "too_large", "oversized, " + framing)
            check(str(4 * MiB) in got["msg"], "msg: %s" % got["msg"])
            check(got["ms"] < full["ms"] / 3,
                  "%s: %.0f ms against %.0f ms to read it all: did not stop early"
                  % (framing, got["ms"], full["ms"]))
    with FakeModel("oversized", size=200000) as m:
        got = call(m.base_url, 5000, "--max-body", "100000")
        expect_code(got, "too_large", "a smaller cap")


@T.test
def local_server_is_not_reached_through_a_proxy():
    env = dict(os.environ, http_proxy="http://127.0.0.1:%d" % free_port(),
               HTTP_PROXY="http://127.0.0.1:1", no_proxy="", NO_PROXY="")
    with FakeModel() as m:
        got = call(m.base_url, 5000, env=env)
        eq(got["code"], "ok", "with a dead proxy in the environment (msg: %s)" % got["msg"])


# --------------------------------------------------------------------------
# The probe.


@T.test
def probe():
    with FakeModel() as m:
        got = call(m.base_url, 2000, "--probe")
        eq(got["code"], "ok", "probe (msg: %s)" % got["msg"])
        eq(m.requests[0]["path"], "/v1/models", "the probe's path")
        eq(m.requests[0]["method"], "GET", "the probe's method")
        m.set_mode("refuse")
        got = call(m.base_url, 2000, "--probe")
        expect_code(got, "daemon_down", "probe, refused")
        m.set_mode("http_503_loading")
        got = call(m.base_url, 2000, "--probe")
        expect_code(got, "unavailable", "probe, loading")
        m.set_mode("hang")
        got = call(m.base_url, 800, "--probe")
        expect_code(got, "ETIMEDOUT", "probe, hang")
        near_deadline(got, 800, "probe, hang")
        m.set_mode("malformed_json", body="[1, 2]")
        got = call(m.base_url, 2000, "--probe")
        expect_code(got, "bad_request", "probe, not an object")


# --------------------------------------------------------------------------
# Many at once, and nothing left behind.


@T.test
def many_threads_at_once():
    with FakeModel() as m:
        m.set_default(FakeModel.tool_call("kb_search", {"query": "z"}))
        r = subprocess.run([tool(), "--repeat", "120", "--threads", "8", m.base_url, "10000"],
                           capture_output=True, timeout=120)
        got = json.loads(r.stdout.decode())
        eq(got["codes"], {"ok": 120}, "codes")
        eq(got["fds_after"], got["fds_before"], "open fds before and after")


@T.test(timeout=300)
def no_fd_leak_after_200_mixed_faults():
    faults = [
        FakeModel.fault("http_500"),
        FakeModel.fault("http_503_loading"),
        FakeModel.fault("reset_mid_body", pause=0.05),
        FakeModel.fault("malformed_json"),
        FakeModel.fault("truncated_json"),
        FakeModel.fault("oversized", size=2 * MiB, framing="chunked"),
        FakeModel.fault("oversized", size=2 * MiB),
        FakeModel.fault("hang", seconds=5),
        FakeModel.fault("blackhole", seconds=5),
        FakeModel.fault("hang_no_read", seconds=5),
        FakeModel.fault("slow_drip", interval=0.05, chunk=1),
        FakeModel.raw(404, {"error": "nope"}),
        FakeModel.text("fine"),
        FakeModel.tool_call("kb_search", "{not json"),
    ]
    dead = "http://127.0.0.1:%d/v1" % free_port()
    with FakeModel() as m:
        m.script([faults[i % len(faults)] for i in range(400)])
        # Every fifth call goes to a port nothing listens on (refused).
        urls = ",".join([m.base_url] * 4 + [dead])
        r = subprocess.run([tool(), "--repeat", "200", "--threads", "4", "--max-body",
                            str(1 * MiB), urls, "400"], capture_output=True, timeout=240)
        check(r.returncode == 0, "model_call: %s" % r.stderr.decode())
        got = json.loads(r.stdout.decode())
        eq(sum(got["codes"].values()), 200, "calls made")
        for code in ("daemon_down", "ETIMEDOUT", "bad_request", "unavailable", "too_large",
                     "ok"):
            check(got["codes"].get(code, 0) > 0,
                  "no call ended in %s: %s" % (code, got["codes"]))
        eq(got["fds_after"], got["fds_before"], "open fds before and after 200 calls")
        m.release()


if __name__ == "__main__":
    T.main()
