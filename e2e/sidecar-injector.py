#!/usr/bin/env python3
"""A second mutating webhook for the end-to-end suite: it adds a log-shipper
sidecar to every pod it sees, the way Istio, Linkerd or Vault injectors add
theirs after other webhooks have run. pod-hardener, registered with
reinvocationPolicy: IfNeeded, must then be called again and harden the new
container without duplicating anything.

Usage: sidecar-injector.py PORT CERT KEY
"""
import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIDECAR = {
    "name": "log-shipper",
    "image": "docker.io/library/busybox:1.36",
    "command": ["sh", "-c", "sleep 3600"],
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        review = json.loads(self.rfile.read(length))
        request = review["request"]
        pod = request["object"]
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        response = {"uid": request["uid"], "allowed": True}
        if SIDECAR["name"] not in names:
            patch = [{"op": "add", "path": "/spec/containers/-", "value": SIDECAR}]
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        body = json.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("sidecar-injector: " + (fmt % args) + "\n")


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
