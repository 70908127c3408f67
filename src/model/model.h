/* The model server client: one chat turn against an OpenAI-compatible
 * `/v1/chat/completions` endpoint (Ollama, llama.cpp's llama-server, vLLM,
 * LM Studio), with tools, and a parser for its reply that is tolerant of
 * how the servers and their models differ and strict where a mistake would
 * matter (names, sizes, counts). docs/model.md is the longer tour.
 *
 * What is sent (POST {url}/chat/completions, Content-Type application/json,
 * no Expect: 100-continue, no compression asked for):
 *
 *     {"model": NAME, "messages": [...], "tools": [...], "tool_choice": "auto",
 *      "stream": false, "temperature": 0}
 *
 * ("tools" and "tool_choice" are left out when tools is NULL or empty.)
 *
 * What is read from a 200 reply (everything else is ignored):
 *
 *     {"choices": [{"message": {"content": "..." | null | [text parts],
 *                               "tool_calls": [{"id": "...",
 *                                               "type": "function",
 *                                               "function": {"name": "...",
 *                                                            "arguments": "{...}" | {...}}}]},
 *                   "finish_reason": "stop" | "tool_calls" | ...}]}
 *
 * Tolerated: arguments as a JSON string (parsed) or as an object; a string
 * that holds a JSON string that holds an object (parsed twice); "" or null
 * arguments ({}); a missing or unusable id (made up: "call_1", "call_2"...,
 * unique within the reply); a missing "type"; content as an array of text
 * parts; a tool call written into the content text by a model whose server
 * did not parse it (below). Strict (CAIRN_E_PROTO): the body must be a JSON
 * object without duplicate keys, with choices[0].message an object; a tool
 * name is 1 to MODEL_NAME_MAX bytes of [A-Za-z0-9_.-]; at most
 * MODEL_CALLS_MAX calls; arguments text at most MODEL_ARGS_MAX bytes.
 * Content longer than MODEL_CONTENT_MAX bytes is cut there (at a UTF-8
 * character boundary), not refused.
 *
 * Tool calls recovered from the content, when the message has no
 * tool_calls (a leading <think>...</think> block is kept in the content but
 * not searched):
 *   - <tool_call>{"name": N, "arguments": {...}}</tool_call>, any number
 *     (Hermes / Qwen style; a last one left unclosed is accepted too);
 *   - the whole content one JSON object {"name": N, "arguments" or
 *     "parameters": {...}} (keys "type" and "id" allowed, nothing else);
 *   - a ```json fenced block holding such an object, any number.
 * A recovered call has from_content set; the content keeps the text
 * outside the recovered calls, trimmed. Text that looks like a call but
 * does not parse, or names an invalid tool name, stays text.
 *
 * Errors of model_chat() and model_probe() (err->msg names the server's
 * URL, without any user:password, and says what to do):
 *   CAIRN_E_DOWN     connection refused, host not resolved, network
 *                    unreachable, or no connection within the connect
 *                    timeout;
 *   -ETIMEDOUT       the deadline passed (the server accepted but never
 *                    answered, never read the request, or was still
 *                    sending), or a reply that had started arriving too
 *                    slowly to finish by the deadline was cut early;
 *   CAIRN_E_UNAVAIL  HTTP 503 (the server's message, e.g. "Loading model");
 *   CAIRN_E_PROTO    any other HTTP status but 200 (with the server's
 *                    message), a connection closed or reset before the
 *                    reply was complete, TLS failures, a reply that is not
 *                    JSON or breaks a rule above;
 *   CAIRN_E_TOOBIG   a reply over max_body (reading stops at the cap, or at
 *                    once when Content-Length says so);
 *   CAIRN_E_INVALID  the caller's mistake: no URL or name, a URL that is not
 *                    http:// or https://, messages not an array;
 *   -ELIBACC         libcurl cannot be loaded ("cannot load libcurl.so.4:
 *                    ...; install libcurl4"): it is loaded on the first
 *                    call, not at exec (curldl.h).
 *
 * Ownership: every string and JSON value in a struct model_reply belongs to
 * the reply until model_reply_release(). Threading: every function may be
 * called from any thread, also at once (one libcurl handle per call;
 * libcurl is loaded and globally initialised once, under pthread_once; no
 * signals are used). model_chat() and model_probe() block for at most their deadline. */
#ifndef CAIRN_MODEL_H
#define CAIRN_MODEL_H

#include "common/err.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_NAME_MAX 128                        /* bytes of a tool name */
#define MODEL_CALLS_MAX 16                        /* tool calls in one reply */
#define MODEL_ARGS_MAX (64u * 1024)               /* bytes of one call's arguments */
#define MODEL_CONTENT_MAX (256u * 1024)           /* bytes of content kept */
#define MODEL_ID_MAX 128                          /* bytes of a tool call id kept */
#define MODEL_CONNECT_TIMEOUT_DEFAULT_MS 2000     /* model_config.connect_timeout_ms */
#define MODEL_BODY_MAX_DEFAULT (4u * 1024 * 1024) /* model_config.max_body */

/* Where the server is and how far to trust it. The caller owns the strings. */
struct model_config {
	const char *url;         /* base URL incl. /v1, e.g. "http://127.0.0.1:11434/v1";
				    trailing slashes are ignored */
	const char *name;        /* model name sent as "model" */
	long connect_timeout_ms; /* <= 0: MODEL_CONNECT_TIMEOUT_DEFAULT_MS */
	size_t max_body;         /* response cap in bytes; 0: MODEL_BODY_MAX_DEFAULT */
	/* When not NULL and set (non-zero) by another thread, a call under way
	 * ends (-ECANCELED) at libcurl's next progress check, within about a
	 * second: the daemon's stop. */
	const atomic_int *cancel;
};

/* One tool call of a reply. */
struct model_tool_call {
	char *id;             /* the server's (1 to MODEL_ID_MAX printable ASCII bytes, unique in
				 the reply), or made up ("call_1"...) when missing or unusable */
	char *name;           /* 1 to MODEL_NAME_MAX bytes of [A-Za-z0-9_.-] */
	json_t *arguments;    /* an object; NULL when the arguments were not a JSON object */
	char *arguments_text; /* when arguments is NULL: the arguments as received (a
				 string's text, or other JSON as compact text), for the
				 message that asks the model to repair them; else NULL */
	bool from_content;    /* recovered from the content text */
};

/* A parsed reply. */
struct model_reply {
	char *content; /* never NULL; "" when none (content with a recovered tool call
			  keeps the rest of the text) */
	struct model_tool_call *calls; /* n_calls of them; NULL when none */
	size_t n_calls;                /* at most MODEL_CALLS_MAX */
	char *finish_reason;           /* never NULL; "" when none */
	/* The message to append to the conversation as the assistant's turn:
	 * {"role": "assistant", "content": content, "tool_calls": [{"id",
	 * "type": "function", "function": {"name", "arguments": compact JSON
	 * text}}]} (tool_calls only when there are calls). Arguments that were
	 * not an object are sent back as "{}" (servers that render the history
	 * through a template parse them, and fail on anything else); the
	 * repair message should quote arguments_text. Never NULL on success. */
	json_t *assistant_message;
};

/* One chat turn: POSTs {model, messages, tools, tool_choice: "auto", stream:
 * false, temperature: 0} to {cfg->url}/chat/completions and parses the 200
 * reply with model_parse_reply().
 *
 * messages is a JSON array of chat messages (sent as is); tools is NULL or a
 * JSON array of {"type": "function", "function": {name, description,
 * parameters}} (sent as is; left out with tool_choice when NULL or empty).
 * deadline_ns is an absolute clock_mono_ns() time: connecting, sending and
 * receiving all end by then (a deadline already past fails at once). The
 * connection gets min(connect timeout, time left). A reply whose body has
 * started arriving is also cut early, with -ETIMEDOUT, once it has been
 * arriving for a second at a rate that cannot finish it by the deadline
 * (or, with no Content-Length, under 1 KiB/s): see docs/model.md "Timeouts"
 * for why this is not libcurl's low-speed limit.
 *
 * Returns 0 with *out filled (release with model_reply_release()), or a
 * negative code (the header's list) with err filled and *out empty. Blocks
 * until done, at most until the deadline. Any thread, also at once. */
int model_chat(const struct model_config *cfg, const json_t *messages, const json_t *tools,
	       uint64_t deadline_ns, struct model_reply *out, struct cairn_err *err);

/* Parses the body of a 200 reply of /chat/completions (len bytes at body,
 * not necessarily NUL-terminated). Pure: no I/O, no global state. Returns 0
 * with *out filled, or CAIRN_E_PROTO with err filled (err->field names the
 * part at fault, e.g. "tool_calls[2].function.name") and *out empty. Any
 * thread. */
int model_parse_reply(const char *body, size_t len, struct model_reply *out, struct cairn_err *err);

/* An active health probe: GET {cfg->url}/models; success is HTTP 200 with a
 * JSON object, within timeout_ms (<= 0: the connect timeout). Returns 0 or
 * a negative code as model_chat() (CAIRN_E_PROTO for a 200 that is not a
 * JSON object). Blocks at most timeout_ms. Any thread. */
int model_probe(const struct model_config *cfg, long timeout_ms, struct cairn_err *err);

/* Frees everything r holds and zeroes it. A zeroed reply is fine. */
void model_reply_release(struct model_reply *r);

#endif
