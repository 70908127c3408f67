"""A scripted, fault-injecting fake of an OpenAI-compatible chat-completions
server (the API that Ollama, llama.cpp's llama-server, vLLM and LM Studio
serve), for the tests of `cairn ask` and its circuit breaker.

Standard library only. It listens on 127.0.0.1 on a free port in a background
thread and speaks just enough HTTP/1.1 (hand-written, on raw sockets, so that
every fault below is exact).

Use from a test:

    from fakemodel import FakeModel

    with FakeModel() as m:                      # started; stopped on exit
        m.url                                   # "http://127.0.0.1:PORT"
        m.base_url                              # m.url + "/v1"
        m.script([FakeModel.tool_call("search", {"q": "x"}),
                  FakeModel.fault("http_500"),
                  FakeModel.text("the answer")])
        ... run the client against m.url ...
        m.chat_requests[0]["body"]["tools"]     # what the client sent
        m.set_mode("refuse")                    # connections refused, same port
        m.set_mode("ok")                        # listening again, same URL

As a script (e.g. to poke at it with curl, or from a shell test):

    python3 fakemodel.py --mode ok [--param NAME=JSON ...] [--port N]
                         [--default-text done] [--model fake-model]

prints the URL as its first stdout line and serves until SIGTERM/SIGINT.
While it runs, each stdin line may be a JSON command:
    {"set_mode": "hang", "params": {"seconds": 3}}
    {"script": [{"text": "hi"}, {"tool_call": {"name": "f", "arguments": {}}},
                {"fault": "http_500"}, {...a full response object...}]}
    {"stats": true}        -> prints {"requests": N, "connections": N, ...}

Endpoints
---------
  POST /v1/chat/completions   the scripted replies (below); "stream": true
                              gets a 400 (the fake does not stream).
  GET  /v1/models             {"object": "list", "data": [{"id": MODEL, ...}]}
  GET  /health                200 {"status": "ok"}, or 503 {"error": {"code":
                              503, "message": "Loading model", "type":
                              "unavailable_error"}} in mode http_503_loading.
  anything else               404 {"error": {"code": 404, "message": "File Not
                              Found", "type": "not_found_error"}}

Connections: every response carries `Connection: close` and the fake closes
the connection after one response (no keep-alive). A request with
`Expect: 100-continue` (libcurl sends it for larger POST bodies) gets
`HTTP/1.1 100 Continue` first. Request bodies may use Content-Length or
chunked transfer coding.

What it records
---------------
  m.requests       a snapshot (a new list) of every request read, in order;
                   each a dict: method, path (without the query), target,
                   version, headers (dict, lower-case names), raw_body
                   (bytes), body (the parsed JSON, or None), time
                   (time.monotonic() when the request was completely read),
                   wall (time.time()), conn (index of its connection),
                   response (filled in as it is answered: {"kind": mode or
                   "reply"/"endpoint"/..., "status": int or None, "reply": the
                   JSON object sent, when there was one}).
  m.chat_requests  the same, only POST /v1/chat/completions.
  m.connections    number of TCP connections accepted (an int).
  m.connection_log snapshot of per-connection dicts: index, opened (monotonic),
                   fault (name of the connection-level fault or None),
                   peer_closed (monotonic when the client's FIN/RST was seen, or
                   None), closed (monotonic when the fake closed it, or None).
  m.open_connections  how many accepted connections are not yet closed.
  m.script_left    how many script items are still queued.
  m.wait_requests(n, timeout=5.0, path=None) -> records (raises TimeoutError)
  m.wait_connections(n, timeout=5.0)          -> m.connections
  m.wait_closed(timeout=5.0)   until every accepted connection is closed
                               (the fake notices a client's close even on
                               connections it never reads: POLLRDHUP; but
                               not when the client's FIN is queued behind
                               data the fake never read, as in hang_no_read
                               with a large body: release() those).
  m.clear()        forgets recorded requests and connections (not the counter
                   of ids); the script is left alone.

Replies (the script)
--------------------
  m.script(items)    replaces the queue of replies for the next chat
                     requests; m.enqueue(*items) appends. Each chat request
                     (POST /v1/chat/completions) takes the next item; when the
                     queue is empty it gets the default reply (constructor
                     `default=`, or m.set_default(item); initially
                     FakeModel.text("done")). An item is one of:
    - a dict: a full response object, sent as is with status 200;
    - FakeModel.text(content)                      finish_reason "stop";
    - FakeModel.tool_call(name, args, id=None, args_as_string=True,
                          content=None, omit_id=False)
          one tool call, finish_reason "tool_calls"; id=None makes a fresh
          "call_fake_N"; args_as_string=False sends arguments as a JSON object;
          args may also be a str, sent verbatim (args_as_string then ignored);
    - FakeModel.tool_calls(calls, content=None)
          several calls in one message; calls: (name, args) pairs or dicts
          {name, args/arguments, id, args_as_string, omit_id};
    - FakeModel.content_tool_call(name, args, style="tagged", finish_reason=
          "stop")   the call written into the content text, no tool_calls:
          style "tagged": '<tool_call>\\n{"name": N, "arguments": {...}}\\n</tool_call>'
          style "json":   '{"name": N, "arguments": {...}}'
    - FakeModel.raw(status, body, headers=None)   any HTTP response: body a
          dict/list (sent as JSON), str or bytes; e.g. raw(429, {...},
          {"Retry-After": "1"});
    - FakeModel.fault(mode, **params)   a fault for this one request (below);
    - a callable f(record) -> one of the above, called with the request record.
  Helper-built replies are completed per request: id "chatcmpl-fake-N",
  object "chat.completion", created, model (the request's "model", else the
  fake's model name), system_fingerprint, choices[0] {index 0, message
  {role "assistant", content, tool_calls?}, logprobs None, finish_reason},
  usage {prompt_tokens, completion_tokens, total_tokens} (rough estimates).

Fault modes
-----------
Two ways to inject them:
  m.set_mode(mode, /, duration=None, **params)
      the runtime mode, for every request until changed (duration=S: for S
      seconds, then back to "ok"). Returns once the listener is in its new
      state (so "refuse" refuses as soon as set_mode returns). A runtime fault
      takes precedence over the script and does NOT consume script items.
      Transport faults hit every path (also /health and /v1/models) unless
      `paths=[...]` (a list of paths, or one path) narrows them; the tool-call
      faults (unknown_tool, invalid_args, args_as_object, missing_id, loop)
      only touch chat requests.
  FakeModel.fault(mode, /, **params) as a script item
      for the one chat request that takes it. blackhole and hang_no_read are
      taken by the next *connection* whose request line (peeked with MSG_PEEK,
      not read) is POST /v1/chat/completions. fault("loop", ...) switches the
      runtime mode to "loop" (sticky) and answers with the loop call.
      "refuse" and "flap" are runtime modes only.

  name              params (defaults)          what the client sees
  ----------------  -------------------------  --------------------------------
  ok                delay=0, reply=None        normal answers; delay: seconds to
                                               wait first; reply: (runtime) the
                                               reply when the script is empty,
                                               (script item) this reply
  refuse            -                          ECONNREFUSED: the listener is
                                               closed and the port held by a
                                               bound, non-listening socket, so
                                               "ok" listens again on the SAME
                                               port; already-accepted
                                               connections carry on
  flap              period=2.0, start="ok"     alternates ok / refuse every
                                               period s (time.monotonic() from
                                               set_mode), starting with `start`
  hang              seconds=None               the request is read, no answer;
                                               held until stop()/release() (or
                                               `seconds`, then closed with no
                                               answer) or the client closes
  hang_no_read      seconds=None               accepted, the request is never
                                               read (the client's send can fill
                                               the socket buffers), no answer
  blackhole         seconds=None               accepted, nothing read, nothing
                                               written (a TCP connection into
                                               the void)
  slow_drip         interval=0.5, chunk=1,     a valid 200 response (`reply` or
                    reply=None,                the default reply, not the
                    headers_at_once=False      script), `chunk` bytes every
                                               `interval` s, status line and
                                               headers included unless
                                               headers_at_once
  http_500          message="internal error"   500 {"error": {"code": 500,
                                               "message": ..., "type":
                                               "server_error"}}
  http_503_loading  -                          503 {"error": {"code": 503,
                                               "message": "Loading model",
                                               "type": "unavailable_error"}}
                                               (also on /health, as
                                               llama-server does)
  reset_mid_body    reply=None, fraction=0.5,  200 headers with the full
                    pause=0.2                  Content-Length, `fraction` of
                                               the body, `pause` s, then RST
                                               (SO_LINGER 0 close)
  malformed_json    truncated=False,           200, application/json, body
                    reply=None, body=None      b"this is not JSON {" (or
                                               `body`); truncated=True: the
                                               first half of a valid reply
                                               (Content-Length matches what is
                                               sent)
  truncated_json    reply=None                 = malformed_json truncated=True
  oversized         size=64 MiB,               200 with a body of `size` bytes
                    framing="content-length",  (a valid chat.completion whose
                    chunk=65536                content is padding), streamed
                                               `chunk` bytes at a time; framing
                                               "content-length", "chunked" or
                                               "close" (no length, ends at
                                               close)
  unknown_tool      name="no_such_tool",       a tool call to `name` (made
                    args={}                    unique against the request's
                                               tools)
  invalid_args      name=None, how=None,       a call to a tool from the
                    args=None                  request (`name`, else the first
                                               with parameters) whose arguments
                                               break its schema; how:
                                               "missing_required" (default when
                                               the schema has required
                                               properties) or "wrong_type";
                                               args: send these instead
  args_as_object    name=None, args=None       a call (to `name`, else the first
                                               tool; args valid for its schema
                                               unless given) with "arguments"
                                               a JSON object, not a string
  missing_id        name=None, args=None       the same, with no "id" key
  loop              name=None, args=None,      every chat request gets the same
                    same_id=False              call (name and arguments fixed
                                               at the first one; fresh ids
                                               unless same_id)

  Every mode except refuse and flap also takes paths=None (see above).
  Unknown mode names or params raise ValueError.

Constructor: FakeModel(mode="ok", default=None, model="fake-model",
host="127.0.0.1", port=0, start=True, **mode_params); start=False defers
m.start(). Other methods: m.set_default(item), m.release() (closes the
connections held by hang/hang_no_read/blackhole now, without a response),
m.stop() (closes the listener and every connection, held ones included, and
joins all threads; returns within about a second; idempotent), m.mode (the
runtime mode as set: "flap", not its phase; "ok" once a duration ran out).
"""

import argparse
import http
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
HEALTH_PATH = "/health"

MiB = 1024 * 1024

# Allowed params of every mode (all modes but refuse/flap also take "paths").
MODE_PARAMS = {
    "ok": {"delay", "reply"},
    "refuse": set(),
    "flap": {"period", "start"},
    "hang": {"seconds"},
    "hang_no_read": {"seconds"},
    "blackhole": {"seconds"},
    "slow_drip": {"interval", "chunk", "reply", "headers_at_once"},
    "http_500": {"message"},
    "http_503_loading": set(),
    "reset_mid_body": {"reply", "fraction", "pause"},
    "malformed_json": {"truncated", "reply", "body"},
    "truncated_json": {"reply"},
    "oversized": {"size", "framing", "chunk"},
    "unknown_tool": {"name", "args"},
    "invalid_args": {"name", "how", "args"},
    "args_as_object": {"name", "args"},
    "missing_id": {"name", "args"},
    "loop": {"name", "args", "same_id"},
}
MODES = tuple(MODE_PARAMS)
LISTENER_MODES = {"refuse", "flap"}           # runtime only
CONN_FAULTS = {"hang_no_read", "blackhole"}   # decided before reading
TOOL_FAULTS = {"unknown_tool", "invalid_args", "args_as_object", "missing_id", "loop"}

POLL_S = 0.05         # how often blocked loops look at the stop flag
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * MiB


class _Abort(Exception):
    """The connection is to be dropped (stop(), release(), the peer went)."""


# --------------------------------------------------------------------------
# Script items.


class Reply:
    """A helper-built reply: an assistant message completed per request."""

    def __init__(self, content=None, calls=None, finish_reason=None):
        self.content = content
        self.calls = calls  # list of dicts: name, args, id, args_as_string, omit_id
        self.finish_reason = finish_reason or ("tool_calls" if calls else "stop")

    def __repr__(self):
        return "Reply(content=%r, calls=%r, finish_reason=%r)" % (
            self.content, self.calls, self.finish_reason)


class Raw:
    """Any HTTP response."""

    def __init__(self, status, body, headers=None):
        self.status = int(status)
        self.body = body
        self.headers = dict(headers or {})

    def __repr__(self):
        return "Raw(%d, %r)" % (self.status, self.body)


class Fault:
    def __init__(self, name, params):
        self.name = name
        self.params = params

    def __repr__(self):
        return "Fault(%r, %r)" % (self.name, self.params)


def _check_mode(name, params, runtime):
    if name not in MODE_PARAMS:
        raise ValueError("fakemodel: unknown mode %r (modes: %s)" % (name, ", ".join(MODES)))
    allowed = set(MODE_PARAMS[name])
    if name not in LISTENER_MODES:
        allowed.add("paths")
    bad = set(params) - allowed
    if bad:
        raise ValueError("fakemodel: mode %r takes no param(s) %s (it takes: %s)"
                         % (name, ", ".join(sorted(bad)), ", ".join(sorted(allowed)) or "none"))
    if not runtime and name in LISTENER_MODES:
        raise ValueError("fakemodel: %r is a runtime mode (set_mode), not a script item" % name)
    p = dict(params)
    if isinstance(p.get("paths"), str):
        p["paths"] = [p["paths"]]
    if name == "flap":
        if p.get("start", "ok") not in ("ok", "refuse"):
            raise ValueError("fakemodel: flap start must be 'ok' or 'refuse'")
        if float(p.get("period", 2.0)) <= 0:
            raise ValueError("fakemodel: flap period must be > 0")
    if name == "oversized" and p.get("framing", "content-length") not in (
            "content-length", "chunked", "close"):
        raise ValueError("fakemodel: oversized framing must be content-length, chunked or close")
    if name == "invalid_args" and p.get("how") not in (None, "missing_required", "wrong_type"):
        raise ValueError("fakemodel: invalid_args how must be missing_required or wrong_type")
    return p


# --------------------------------------------------------------------------
# JSON schema helpers (for the tool-call faults).


def _tools_of(body):
    out = []
    if not isinstance(body, dict):
        return out
    for t in body.get("tools") or []:
        if not isinstance(t, dict):
            continue
        f = t.get("function") if isinstance(t.get("function"), dict) else t
        name = f.get("name")
        if isinstance(name, str):
            params = f.get("parameters")
            out.append((name, params if isinstance(params, dict) else {}))
    return out


def _schema_type(schema):
    t = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), t[0] if t else None)
    if t is None and isinstance(schema, dict):
        if "properties" in schema:
            t = "object"
        elif "items" in schema:
            t = "array"
        elif "enum" in schema and schema["enum"]:
            return type(schema["enum"][0]).__name__
    return t


def _valid_value(schema, depth=0):
    if not isinstance(schema, dict):
        return "x"
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    t = _schema_type(schema)
    if t == "string":
        n = max(1, int(schema.get("minLength", 1)))
        return "x" * n
    if t == "integer":
        lo = schema.get("minimum")
        return int(lo) if isinstance(lo, (int, float)) else 1
    if t == "number":
        lo = schema.get("minimum")
        return float(lo) if isinstance(lo, (int, float)) else 1.5
    if t == "boolean":
        return True
    if t == "array":
        n = int(schema.get("minItems", 0))
        return [_valid_value(schema.get("items", {}), depth + 1) for _ in range(n)]
    if t == "object" and depth < 5:
        return _valid_args(schema, depth + 1)
    if t == "null":
        return None
    return "x"


def _valid_args(schema, depth=0):
    """Arguments that satisfy the schema: every required property, with a
    value of its type (enum, default and minimum honoured)."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else {}
    req = schema.get("required") if isinstance(schema, dict) else None
    req = [r for r in (req or []) if isinstance(r, str)]
    return {k: _valid_value(props.get(k, {}), depth) for k in req}


def _wrong_value(schema):
    t = _schema_type(schema)
    if t == "string":
        return 12345
    if t in ("integer", "number"):
        return "not a number"
    if t == "boolean":
        return "yes"
    if t == "array":
        return "not an array"
    if t == "object":
        return "not an object"
    return {"unexpected": ["value"]}


def _invalid_args(schema, how):
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else {}
    req = [r for r in (schema.get("required") or []) if isinstance(r, str)] \
        if isinstance(schema, dict) else []
    args = _valid_args(schema)
    if how is None:
        how = "missing_required" if req else "wrong_type"
    if how == "missing_required" and req:
        del args[req[0]]
        return args, "missing required property %r" % req[0]
    # wrong_type: a required property, else any property, else an object
    # where the schema wants something else.
    target = req[0] if req else next(iter(props), None)
    if target is None:
        return {"__fakemodel_unexpected__": True}, "no properties in the schema; sent an unexpected one"
    args[target] = _wrong_value(props.get(target, {}))
    return args, "property %r of the wrong type" % target


# --------------------------------------------------------------------------
# HTTP bits.


def _reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def _head(status, headers):
    lines = ["HTTP/1.1 %d %s" % (status, _reason(status))]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _body_bytes(body):
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"


def _error_obj(status, message, type_):
    return {"error": {"code": status, "message": message, "type": type_}}


class _Conn:
    """One accepted connection."""

    def __init__(self, sock, index):
        self.sock = sock
        self.index = index
        self.release = threading.Event()
        self.thread = None
        self.rec = {"index": index, "opened": time.monotonic(), "fault": None,
                    "peer_closed": None, "closed": None}


# --------------------------------------------------------------------------
# The server.


class FakeModel:
    """See the module docstring."""

    # -- script item helpers ----------------------------------------------

    @staticmethod
    def text(content, finish_reason="stop"):
        return Reply(content=content, finish_reason=finish_reason)

    @staticmethod
    def _call(name, args, id=None, args_as_string=True, omit_id=False):
        return {"name": name, "args": args, "id": id,
                "args_as_string": args_as_string, "omit_id": omit_id}

    @staticmethod
    def tool_call(name, args, id=None, args_as_string=True, content=None, omit_id=False):
        return Reply(content=content,
                     calls=[FakeModel._call(name, args, id, args_as_string, omit_id)])

    @staticmethod
    def tool_calls(calls, content=None):
        out = []
        for c in calls:
            if isinstance(c, dict):
                args = c.get("args", c.get("arguments", {}))
                out.append(FakeModel._call(c["name"], args, c.get("id"),
                                           c.get("args_as_string", True), c.get("omit_id", False)))
            else:
                out.append(FakeModel._call(c[0], c[1]))
        return Reply(content=content, calls=out)

    @staticmethod
    def content_tool_call(name, args, style="tagged", finish_reason="stop"):
        j = json.dumps({"name": name, "arguments": args})
        if style == "tagged":
            content = "<tool_call>\n%s\n</tool_call>" % j
        elif style == "json":
            content = j
        else:
            raise ValueError("fakemodel: content_tool_call style must be 'tagged' or 'json'")
        return Reply(content=content, finish_reason=finish_reason)

    @staticmethod
    def raw(status, body, headers=None):
        return Raw(status, body, headers)

    @staticmethod
    def fault(mode, /, **params):
        return Fault(mode, _check_mode(mode, params, runtime=False))

    # -- lifecycle ------------------------------------------------------------

    def __init__(self, mode="ok", default=None, model="fake-model", host="127.0.0.1",
                 port=0, start=True, **mode_params):
        self.host = host
        self.model = model
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stop_ev = threading.Event()
        self._stopping = False
        self._started = False
        self._mode = Fault("ok", {})
        self._mode_t0 = time.monotonic()
        self._mode_until = None
        self._loop_call = None
        self._script = deque()
        self._default = default if default is not None else FakeModel.text("done")
        self._requests = []
        self._conn_log = []
        self._conns = {}
        self._nconn = 0
        self._ids = 0
        self._gen = 1          # start() waits until the accept thread applied it
        self._applied = 0
        self._listen_error = None
        self._lsock = None          # listening socket, or placeholder holding the port
        self._listening = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = None
        self._port = port
        if mode != "ok" or mode_params:
            self._set_mode_locked(mode, None, mode_params)
        if start:
            self.start()

    def start(self):
        with self._lock:
            if self._started:
                return self
            self._started = True
        s = self._new_socket()
        s.bind((self.host, self._port))
        self._port = s.getsockname()[1]
        self._lsock = s
        self._listening = False
        self._thread = threading.Thread(target=self._accept_loop, name="fakemodel-accept",
                                        daemon=True)
        self._thread.start()
        self._wait_applied()
        return self

    @property
    def port(self):
        return self._port

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self._port)

    @property
    def base_url(self):
        return self.url + "/v1"

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()
        return False

    def stop(self):
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._stop_ev.set()
            self._cond.notify_all()
        self._wake()
        if self._thread is not None:
            self._thread.join(2.0)
        with self._lock:
            if self._lsock is not None:
                try:
                    self._lsock.close()
                except OSError:
                    pass
                self._lsock = None
            conns = list(self._conns.values())
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 1.5
        for c in conns:
            if c.thread is not None:
                c.thread.join(max(0.0, deadline - time.monotonic()))
        for c in conns:
            try:
                c.sock.close()
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def release(self):
        """Closes the connections held by hang / hang_no_read / blackhole."""
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            c.release.set()

    # -- mode and script ------------------------------------------------------

    @property
    def mode(self):
        """The runtime mode as set ("flap", not its phase); "ok" once a
        duration ran out."""
        with self._lock:
            self._active_mode()
            return self._mode.name

    def set_mode(self, mode, /, duration=None, **params):
        with self._lock:
            self._set_mode_locked(mode, duration, params)
        self._wake()
        self._wait_applied()

    def _set_mode_locked(self, name, duration, params):
        p = _check_mode(name, params, runtime=True)
        self._mode = Fault(name, p)
        self._mode_t0 = time.monotonic()
        self._mode_until = None if duration is None else self._mode_t0 + float(duration)
        self._loop_call = None
        self._gen += 1

    def set_default(self, item):
        with self._lock:
            self._default = item

    def script(self, items):
        with self._lock:
            self._script = deque(items)

    def enqueue(self, *items):
        with self._lock:
            self._script.extend(items)

    @property
    def script_left(self):
        with self._lock:
            return len(self._script)

    def _active_mode(self):
        """The runtime mode now (duration expiry and flap phases resolved)."""
        m = self._mode
        now = time.monotonic()
        if self._mode_until is not None and now >= self._mode_until:
            self._mode = m = Fault("ok", {})
            self._mode_until = None
            self._gen += 1
        if m.name == "flap":
            return Fault(self._flap_phase(now)[0], {})
        return m

    def _flap_phase(self, now):
        """(phase name, monotonic time of the next switch)."""
        period = float(self._mode.params.get("period", 2.0))
        start = self._mode.params.get("start", "ok")
        k = int((now - self._mode_t0) // period)
        other = "refuse" if start == "ok" else "ok"
        return (start if k % 2 == 0 else other), self._mode_t0 + (k + 1) * period

    # -- records ------------------------------------------------------------

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self):
        with self._lock:
            return [r for r in self._requests if r["method"] == "POST" and r["path"] == CHAT_PATH]

    @property
    def connections(self):
        with self._lock:
            return self._nconn

    @property
    def connection_log(self):
        with self._lock:
            return [dict(c) for c in self._conn_log]

    @property
    def open_connections(self):
        with self._lock:
            return sum(1 for c in self._conn_log if c["closed"] is None)

    def clear(self):
        with self._lock:
            self._requests = []
            self._conn_log = [c for c in self._conn_log if c["closed"] is None]

    def wait_requests(self, n, timeout=5.0, path=None):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._requests if path is None or r["path"] == path]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("fakemodel: %d request(s)%s within %.1fs, wanted %d"
                                       % (len(got), " to " + path if path else "", timeout, n))
                self._cond.wait(left)

    def wait_connections(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._nconn < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("fakemodel: %d connection(s) within %.1fs, wanted %d"
                                       % (self._nconn, timeout, n))
                self._cond.wait(left)
            return self._nconn

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                n = sum(1 for c in self._conn_log if c["closed"] is None)
                if n == 0:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("fakemodel: %d connection(s) still open after %.1fs"
                                       % (n, timeout))
                self._cond.wait(min(left, 0.1))

    # -- the listener ---------------------------------------------------------

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _wait_applied(self, timeout=5.0):
        if threading.current_thread() is self._thread or self._thread is None:
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            gen = self._gen
            while self._applied < gen and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("fakemodel: the listener did not take the new mode")
                self._cond.wait(left)
            err = self._listen_error
        if err is not None:
            raise RuntimeError("fakemodel: could not listen again on port %d: %s"
                               % (self._port, err))

    def _new_socket(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return s

    def _bind_retry(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            s = self._new_socket()
            try:
                s.bind((self.host, self._port))
                return s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _set_listening(self, want):
        if want == self._listening:
            return
        if want:
            if self._lsock is None:
                self._lsock = self._bind_retry()
            self._lsock.listen(128)
            self._lsock.setblocking(False)
            self._listening = True
        else:
            # Closing the listener resets the connections in its backlog; a
            # bound socket that does not listen keeps the port for "ok".
            self._lsock.close()
            self._lsock = None
            self._listening = False
            self._lsock = self._bind_retry()

    def _accept_loop(self):
        while True:
            with self._lock:
                if self._stopping:
                    return
                mode = self._active_mode()
                want = mode.name != "refuse"
                wake_at = None
                if self._mode.name == "flap":
                    wake_at = self._flap_phase(time.monotonic())[1]
                if self._mode_until is not None:
                    wake_at = min(wake_at or self._mode_until, self._mode_until)
                gen = self._gen
            try:
                self._set_listening(want)
                err = None
            except OSError as e:
                err = e
            with self._cond:
                self._listen_error = err
                self._applied = max(self._applied, gen)
                self._cond.notify_all()
            timeout = 0.5
            if wake_at is not None:
                timeout = max(0.0, min(timeout, wake_at - time.monotonic()))
            rl = [self._wake_r] + ([self._lsock] if self._listening else [])
            try:
                r, _, _ = select.select(rl, [], [], timeout)
            except (OSError, ValueError):
                return
            if self._wake_r in r:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    pass
            if self._listening and self._lsock in r:
                for _ in range(64):
                    try:
                        s, _addr = self._lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    self._spawn(s)

    def _spawn(self, s):
        s.settimeout(POLL_S)
        with self._cond:
            if self._stopping:
                s.close()
                return
            self._nconn += 1
            c = _Conn(s, self._nconn)
            self._conns[c.index] = c
            self._conn_log.append(c.rec)
            self._cond.notify_all()
        c.thread = threading.Thread(target=self._serve, args=(c,),
                                    name="fakemodel-conn-%d" % c.index, daemon=True)
        c.thread.start()

    # -- one connection ---------------------------------------------------------

    def _check(self, c):
        if self._stop_ev.is_set() or c.release.is_set():
            raise _Abort()

    def _sleep(self, c, seconds):
        deadline = time.monotonic() + seconds
        while True:
            self._check(c)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._stop_ev.wait(min(left, POLL_S))

    def _recv(self, c, n, flags=0):
        while True:
            self._check(c)
            try:
                return c.sock.recv(n, flags)
            except socket.timeout:
                continue
            except OSError:
                raise _Abort()

    def _send(self, c, data):
        view = memoryview(data)
        while view:
            self._check(c)
            try:
                n = c.sock.send(view)
            except socket.timeout:
                continue
            except OSError:
                raise _Abort()
            view = view[n:]

    def _hold(self, c, seconds, readable):
        """Keeps the connection open without answering until stop(),
        release(), `seconds`, or the peer's close. readable: the request was
        read, so more input may be read (and dropped); else nothing is read
        and the peer's close is seen through POLLRDHUP."""
        deadline = None if seconds is None else time.monotonic() + float(seconds)
        p = select.poll()
        ev = select.POLLRDHUP | select.POLLHUP | select.POLLERR
        if readable:
            ev |= select.POLLIN
        p.register(c.sock.fileno(), ev)
        while True:
            self._check(c)
            if deadline is not None and time.monotonic() >= deadline:
                return
            for _fd, e in p.poll(POLL_S * 1000):
                if e & (select.POLLHUP | select.POLLERR):
                    self._peer_closed(c)
                    return
                if readable and e & select.POLLIN:
                    data = self._recv(c, 65536)
                    if not data:
                        self._peer_closed(c)
                        return
                    continue
                if e & select.POLLRDHUP:
                    self._peer_closed(c)
                    return

    def _peer_closed(self, c):
        with self._cond:
            if c.rec["peer_closed"] is None:
                c.rec["peer_closed"] = time.monotonic()
            self._cond.notify_all()

    def _serve(self, c):
        rst = False
        try:
            rst = self._serve2(c)
        except _Abort:
            pass
        except Exception as e:  # a bug in the fake: say so, loudly
            sys.stderr.write("fakemodel: connection %d: %r\n" % (c.index, e))
            import traceback
            traceback.print_exc()
        finally:
            try:
                if rst:
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.sock.close()
            except OSError:
                pass
            with self._cond:
                c.rec["closed"] = time.monotonic()
                self._conns.pop(c.index, None)
                self._cond.notify_all()

    def _peek_request_line(self, c):
        """(method, path) of the request, peeked (left unread), or None."""
        while True:
            data = self._recv(c, 4096, socket.MSG_PEEK)
            if not data:
                return None
            if b"\r\n" in data or len(data) >= 4096:
                parts = data.split(b"\r\n", 1)[0].split(b" ")
                if len(parts) < 2:
                    return None
                return (parts[0].decode("latin-1"),
                        parts[1].decode("latin-1").split("?", 1)[0])
            self._sleep(c, 0.01)

    def _conn_fault(self, c):
        """The connection-level fault (hang_no_read/blackhole) for this
        connection, if any, decided before anything is read."""
        with self._lock:
            mode = self._active_mode()
            head = self._script[0] if self._script else None
        if mode.name in CONN_FAULTS:
            paths = mode.params.get("paths")
            if paths is None:
                return mode
            rl = self._peek_request_line(c)
            if rl is not None and rl[1] in paths:
                return mode
            return None
        if mode.name != "ok" or not (isinstance(head, Fault) and head.name in CONN_FAULTS):
            return None
        rl = self._peek_request_line(c)
        if rl != ("POST", CHAT_PATH):
            return None
        with self._lock:
            if self._script and self._script[0] is head:
                self._script.popleft()
                return head
        return None

    def _serve2(self, c):
        f = self._conn_fault(c)
        if f is not None:
            with self._lock:
                c.rec["fault"] = f.name
            self._hold(c, f.params.get("seconds"), readable=False)
            return False
        req = self._read_request(c)
        if req is None:
            return False
        if isinstance(req, Raw):  # a request the fake could not parse
            self._send_simple(c, req.status, req.body)
            return False
        return self._respond(c, req)

    def _read_request(self, c):
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = self._recv(c, 65536)
            if not data:
                if buf:
                    self._peer_closed(c)
                return None
            buf += data
            if len(buf) > MAX_HEAD and b"\r\n\r\n" not in buf:
                return Raw(431, _error_obj(431, "request header too large", "invalid_request_error"))
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return Raw(400, _error_obj(400, "bad request line", "invalid_request_error"))
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if headers.get("expect", "").lower() == "100-continue":
            self._send(c, b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, rest = self._read_chunked(c, rest)
        else:
            try:
                n = int(headers.get("content-length", "0"))
            except ValueError:
                return Raw(400, _error_obj(400, "bad Content-Length", "invalid_request_error"))
            if n > MAX_BODY:
                return Raw(413, _error_obj(413, "request body too large", "invalid_request_error"))
            while len(rest) < n:
                data = self._recv(c, 65536)
                if not data:
                    self._peer_closed(c)
                    raise _Abort()
                rest += data
            body = rest[:n]
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        rec = {"method": method, "path": target.split("?", 1)[0], "target": target,
               "version": version, "headers": headers, "raw_body": body, "body": parsed,
               "time": time.monotonic(), "wall": time.time(), "conn": c.index,
               "response": {"kind": None, "status": None, "reply": None}}
        with self._cond:
            self._requests.append(rec)
            self._cond.notify_all()
        return rec

    def _read_chunked(self, c, buf):
        body = b""

        def need(pred):
            nonlocal buf
            while not pred():
                data = self._recv(c, 65536)
                if not data:
                    raise _Abort()
                buf += data
        while True:
            need(lambda: b"\r\n" in buf)
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                need(lambda: b"\r\n\r\n" in b"\r\n" + buf)
                buf = (b"\r\n" + buf).split(b"\r\n\r\n", 1)[1]
                return body, buf
            need(lambda: len(buf) >= size + 2)
            body += buf[:size]
            buf = buf[size + 2:]
            if len(body) > MAX_BODY:
                raise _Abort()

    # -- deciding and answering -------------------------------------------------

    def _decide(self, req):
        """(Fault or None, item) for this request: a runtime fault that
        applies, else for chat the next script item (or the default)."""
        is_chat = req["method"] == "POST" and req["path"] == CHAT_PATH
        with self._lock:
            mode = self._active_mode()
            if mode.name not in ("ok", "refuse"):
                paths = mode.params.get("paths")
                if mode.name in TOOL_FAULTS:
                    applies = is_chat and (paths is None or CHAT_PATH in paths)
                else:
                    applies = paths is None or req["path"] in paths
                if applies:
                    return mode, None
            delay = float(mode.params.get("delay", 0) or 0) if mode.name == "ok" else 0.0
            if not is_chat:
                return Fault("ok", {"delay": delay}), None
            if self._script:
                item = self._script.popleft()
            else:
                item = mode.params.get("reply") if mode.name == "ok" else None
                if item is None:
                    item = self._default
        for _ in range(8):  # callables may return callables
            if callable(item) and not isinstance(item, (Reply, Raw, Fault)):
                item = item(req)
        if isinstance(item, Fault):
            if item.name == "loop":
                with self._lock:
                    self._set_mode_locked("loop", None, item.params)
                self._wake()
                return self._mode, None
            return item, None
        return Fault("ok", {"delay": delay}), item

    def _respond(self, c, req):
        fault, item = self._decide(req)
        name, p = fault.name, fault.params
        resp = req["response"]
        resp["kind"] = name if name != "ok" else "reply"
        if name == "ok":
            if p.get("delay"):
                self._sleep(c, float(p["delay"]))
            if item is None:
                item = p.get("reply")
            self._answer(c, req, item)
            return False
        if name == "hang":
            self._hold(c, p.get("seconds"), readable=True)
            return False
        if name in CONN_FAULTS:  # taken from the script after the request was read
            self._hold(c, p.get("seconds"), readable=True)
            return False
        if name == "http_500":
            self._send_simple(c, 500, _error_obj(500, p.get("message", "internal error"),
                                                 "server_error"), req)
            return False
        if name == "http_503_loading":
            self._send_simple(c, 503, _error_obj(503, "Loading model", "unavailable_error"), req)
            return False
        if name == "slow_drip":
            status, body, ctype, extra = self._render(req, p.get("reply"))
            resp["status"] = status
            data = _head(status, self._headers(len(body), ctype, extra)) + body
            interval = float(p.get("interval", 0.5))
            chunk = max(1, int(p.get("chunk", 1)))
            i = 0
            if p.get("headers_at_once"):
                i = len(data) - len(body)
                self._send(c, data[:i])
            while i < len(data):
                self._send(c, data[i:i + chunk])
                i += chunk
                if i < len(data):
                    self._sleep(c, interval)
            self._finish(c)
            return False
        if name == "reset_mid_body":
            status, body, ctype, extra = self._render(req, p.get("reply"))
            resp["status"] = status
            cut = max(1, min(len(body) - 1, int(len(body) * float(p.get("fraction", 0.5)))))
            self._send(c, _head(status, self._headers(len(body), ctype, extra)) + body[:cut])
            self._sleep(c, float(p.get("pause", 0.2)))
            return True  # SO_LINGER 0 close: RST
        if name in ("malformed_json", "truncated_json"):
            if name == "truncated_json" or p.get("truncated"):
                _status, body, _ctype, _extra = self._render(req, p.get("reply"))
                body = body[:len(body) // 2]
            else:
                body = p.get("body") or b"this is not JSON {"
                if isinstance(body, str):
                    body = body.encode()
            resp["status"] = 200
            self._send(c, _head(200, self._headers(len(body), "application/json")) + body)
            self._finish(c)
            return False
        if name == "oversized":
            self._oversized(c, req, p)
            return False
        if name in TOOL_FAULTS:
            self._answer(c, req, self._tool_fault(req, name, p))
            return False
        raise RuntimeError("fakemodel: mode %r not handled" % name)

    def _headers(self, length, ctype, extra=None):
        h = [("Content-Type", ctype)]
        if length is not None:
            h.append(("Content-Length", str(length)))
        h.append(("Connection", "close"))
        h.append(("Server", "fakemodel"))
        for k, v in (extra or {}).items():
            h.append((k, v))
        return h

    def _send_simple(self, c, status, obj, req=None):
        body, ctype = _body_bytes(obj)
        if req is not None:
            req["response"]["status"] = status
            req["response"]["reply"] = obj if isinstance(obj, (dict, list)) else None
        self._send(c, _head(status, self._headers(len(body), ctype)) + body)
        self._finish(c)

    def _finish(self, c):
        """Graceful close: FIN, then wait briefly for the client's close so
        that nothing it still sends turns our close into an RST."""
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                data = self._recv(c, 65536)
            except _Abort:
                return
            if not data:
                return

    def _answer(self, c, req, item):
        status, body, ctype, extra = self._render(req, item)
        req["response"]["status"] = status
        self._send(c, _head(status, self._headers(len(body), ctype, extra)) + body)
        self._finish(c)

    def _render(self, req, item):
        """(status, body bytes, content type, extra headers) of an item (a
        reply for chat; for the other endpoints their normal answer)."""
        path, method = req["path"], req["method"]
        resp = req["response"]
        if path == HEALTH_PATH and method == "GET":
            obj = {"status": "ok"}
            resp["kind"] = "endpoint"
        elif path == MODELS_PATH and method == "GET":
            obj = {"object": "list", "data": [{"id": self.model, "object": "model",
                                                "created": int(time.time()),
                                                "owned_by": "fakemodel"}]}
            resp["kind"] = "endpoint"
        elif path == CHAT_PATH and method == "POST":
            body = req["body"]
            if not isinstance(body, dict):
                item = Raw(400, _error_obj(400, "fakemodel: the request body is not a JSON object",
                                           "invalid_request_error"))
            elif body.get("stream"):
                item = Raw(400, _error_obj(400, "fakemodel: streaming is not supported",
                                           "invalid_request_error"))
            if item is None:
                with self._lock:
                    item = self._default
            if isinstance(item, Fault) or (callable(item) and not isinstance(item, (Reply, Raw))):
                item = FakeModel.text("done")  # a body for slow_drip & co.
            if isinstance(item, Raw):
                b, ctype = _body_bytes(item.body)
                resp["reply"] = item.body if isinstance(item.body, (dict, list)) else None
                return item.status, b, ctype, item.headers
            obj = item if isinstance(item, dict) else self._completion(req, item)
        else:
            obj = _error_obj(404, "File Not Found", "not_found_error")
            resp["kind"] = "not_found"
            resp["reply"] = obj
            return 404, json.dumps(obj).encode(), "application/json", {}
        resp["reply"] = obj
        return 200, json.dumps(obj).encode(), "application/json", {}

    def _next_id(self):
        with self._lock:
            self._ids += 1
            return self._ids

    def _completion(self, req, reply):
        body = req["body"] if isinstance(req["body"], dict) else {}
        msg = {"role": "assistant", "content": reply.content}
        out_text = reply.content or ""
        if reply.calls:
            calls = []
            for call in reply.calls:
                a = call["args"]
                if isinstance(a, str):
                    args = a
                elif call.get("args_as_string", True):
                    args = json.dumps(a)
                else:
                    args = a
                tc = {}
                if not call.get("omit_id"):
                    tc["id"] = call.get("id") or "call_fake_%d" % self._next_id()
                tc["type"] = "function"
                tc["function"] = {"name": call["name"], "arguments": args}
                calls.append(tc)
                out_text += call["name"] + json.dumps(a)
            msg["tool_calls"] = calls
        prompt = len(json.dumps(body.get("messages", []))) // 4 + 1
        completion = len(out_text) // 4 + 1
        return {
            "id": "chatcmpl-fake-%d" % self._next_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "system_fingerprint": "fakemodel",
            "choices": [{"index": 0, "message": msg, "logprobs": None,
                         "finish_reason": reply.finish_reason}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }

    def _tool_fault(self, req, name, p):
        tools = _tools_of(req["body"])
        names = [t[0] for t in tools]
        if name == "unknown_tool":
            n = p.get("name", "no_such_tool")
            while n in names:
                n += "_x"
            return FakeModel.tool_call(n, p.get("args", {}))

        def pick():
            want = p.get("name")
            if want is not None:
                for t in tools:
                    if t[0] == want:
                        return t
                return (want, {})
            for t in tools:
                props = t[1].get("properties")
                if isinstance(props, dict) and props:
                    return t
            return tools[0] if tools else ("fake_tool", {})

        if name == "invalid_args":
            tname, schema = pick()
            if "args" in p:
                args, why = p["args"], "args given"
            else:
                args, why = _invalid_args(schema, p.get("how"))
            req["response"]["why"] = why
            return FakeModel.tool_call(tname, args)
        if name in ("args_as_object", "missing_id"):
            tname, schema = pick()
            args = p["args"] if "args" in p else _valid_args(schema)
            if name == "args_as_object":
                return FakeModel.tool_call(tname, args, args_as_string=False)
            return FakeModel.tool_call(tname, args, omit_id=True)
        # loop: the same call every time
        with self._lock:
            if self._loop_call is None:
                tname, schema = pick()
                args = p["args"] if "args" in p else _valid_args(schema)
                cid = "call_fake_loop_%d" % self._next_id() if p.get("same_id") else None
                self._loop_call = (tname, args, cid)
            tname, args, cid = self._loop_call
        return FakeModel.tool_call(tname, args, id=cid)

    def _oversized(self, c, req, p):
        size = int(p.get("size", 64 * MiB))
        framing = p.get("framing", "content-length")
        chunk = max(1, int(p.get("chunk", 65536)))
        body = req["body"] if isinstance(req["body"], dict) else {}
        pre = ('{"id":"chatcmpl-fake-%d","object":"chat.completion","created":%d,"model":%s,'
               '"choices":[{"index":0,"message":{"role":"assistant","content":"'
               % (self._next_id(), int(time.time()), json.dumps(body.get("model") or self.model))
               ).encode()
        post = b'"},"finish_reason":"stop"}]}'
        pad = max(0, size - len(pre) - len(post))
        total = len(pre) + pad + len(post)
        req["response"]["status"] = 200
        req["response"]["size"] = total
        hdr = self._headers(total if framing == "content-length" else None, "application/json")
        if framing == "chunked":
            hdr.insert(1, ("Transfer-Encoding", "chunked"))
        self._send(c, _head(200, hdr))

        def out(data):
            if framing == "chunked":
                data = b"%x\r\n" % len(data) + data + b"\r\n"
            self._send(c, data)
        out(pre)
        block = b"a" * chunk
        while pad > 0:
            n = min(pad, chunk)
            out(block[:n])
            pad -= n
        out(post)
        if framing == "chunked":
            self._send(c, b"0\r\n\r\n")
        self._finish(c)


# --------------------------------------------------------------------------
# As a script.


def _item_from_json(x):
    if isinstance(x, dict):
        if "text" in x:
            return FakeModel.text(x["text"])
        if "tool_call" in x:
            t = x["tool_call"]
            return FakeModel.tool_call(t["name"], t.get("arguments", t.get("args", {})),
                                       id=t.get("id"),
                                       args_as_string=t.get("args_as_string", True))
        if "content_tool_call" in x:
            t = x["content_tool_call"]
            return FakeModel.content_tool_call(t["name"], t.get("arguments", {}),
                                               style=t.get("style", "tagged"))
        if "fault" in x:
            return FakeModel.fault(x["fault"], **x.get("params", {}))
        if "raw" in x:
            t = x["raw"]
            return FakeModel.raw(t["status"], t.get("body", ""), t.get("headers"))
    return x


def _stdin_commands(m):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if "set_mode" in cmd:
                m.set_mode(cmd["set_mode"], duration=cmd.get("duration"),
                           **cmd.get("params", {}))
            if "script" in cmd:
                m.script([_item_from_json(x) for x in cmd["script"]])
            if cmd.get("stats"):
                print(json.dumps({"mode": m.mode, "requests": len(m.requests),
                                  "connections": m.connections,
                                  "open_connections": m.open_connections,
                                  "script_left": m.script_left}), flush=True)
        except Exception as e:
            print(json.dumps({"error": str(e)}), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A fake OpenAI-compatible chat-completions "
                                             "server that injects faults.")
    ap.add_argument("--mode", default="ok", choices=MODES)
    ap.add_argument("--param", action="append", default=[], metavar="NAME=JSON",
                    help="a mode param; the value is JSON if it parses, else a string")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--model", default="fake-model")
    ap.add_argument("--default-text", default="done")
    a = ap.parse_args(argv)
    params = {}
    for kv in a.param:
        k, _, v = kv.partition("=")
        try:
            params[k] = json.loads(v)
        except ValueError:
            params[k] = v
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    m = FakeModel(mode=a.mode, default=FakeModel.text(a.default_text), model=a.model,
                  port=a.port, **params)
    try:
        print(m.url, flush=True)
        threading.Thread(target=_stdin_commands, args=(m,), daemon=True).start()
        while not stop.wait(0.5):
            pass
    finally:
        m.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
