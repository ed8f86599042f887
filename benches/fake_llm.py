#!/usr/bin/env python3
"""A fake LLM API for measurements: speaks OpenAI chat completions and Gemini generateContent,
answers every request with one valid incident report, and counts tokens the way the bench
states (four characters of prompt text per token). Prints its port, then appends one JSON line
per request (prompt characters, tokens) to the log file given as the first argument."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = json.dumps({
    "title": "inventory-db connection pool exhausted",
    "severity": "Critical",
    "root_cause_service": "inventory-db",
    "impacted_services": ["inventory-db", "order-service", "payment-gateway"],
    "summary": "inventory-db refuses new connections because its pool is exhausted; "
               "order-service and payment-gateway fail on it.",
})
LOG = open(sys.argv[1], "a", buffering=1)


def prompt_text(path, body):
    if path.endswith("/chat/completions"):
        return "".join(m["content"] for m in body["messages"])
    parts = body["systemInstruction"]["parts"] + body["contents"][0]["parts"]
    return "".join(p["text"] for p in parts)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        text = prompt_text(self.path, body)
        usage = (len(text) + 3) // 4, (len(ANSWER) + 3) // 4
        LOG.write(json.dumps({"chars": len(text), "prompt": usage[0], "completion": usage[1]}) + "\n")
        if self.path.endswith("/chat/completions"):
            reply = {"choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": ANSWER}}],
                     "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}
        else:
            reply = {"candidates": [{"content": {"role": "model", "parts": [{"text": ANSWER}]},
                                     "finishReason": "STOP"}],
                     "usageMetadata": {"promptTokenCount": usage[0],
                                       "candidatesTokenCount": usage[1]}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
