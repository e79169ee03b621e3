"""Services for the health and readiness tests (run by zei as real processes).

    healthsvc.py http PORT FLAG     serve GET: 200, or 503 while the file FLAG exists
    healthsvc.py tcp PORT           accept connections on 127.0.0.1:PORT
    healthsvc.py notify DELAY TEXT  after DELAY s: STATUS=TEXT then READY=1 on $NOTIFY_SOCKET
    healthsvc.py addr FILE          write $NOTIFY_SOCKET to FILE, never say READY=1
    healthsvc.py spy FILE           send READY=1 to the address in FILE (someone else's)
Each prints what it does; all but spy run until killed.
"""
import http.server
import os
import socket
import sys
import time


def send(address, message):
    if address.startswith("@"):
        address = "\0" + address[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(message.encode(), address)
    s.close()


def forever():
    while True:
        time.sleep(3600)


def main(mode, *args):
    if mode == "http":
        port, flag = int(args[0]), args[1]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                code = 503 if os.path.exists(flag) else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass
        server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        print("serving", port, flush=True)
        server.serve_forever()
    elif mode == "tcp":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(args[0])))
        s.listen(16)
        print("listening", flush=True)
        while True:
            c, _ = s.accept()
            c.close()
    elif mode == "notify":
        time.sleep(float(args[0]))
        send(os.environ["NOTIFY_SOCKET"], f"STATUS={args[1]}")
        send(os.environ["NOTIFY_SOCKET"], "READY=1")
        print("notified", flush=True)
        forever()
    elif mode == "addr":
        with open(args[0] + ".tmp", "w") as f:
            f.write(os.environ["NOTIFY_SOCKET"])
        os.rename(args[0] + ".tmp", args[0])
        print("address written", flush=True)
        forever()
    elif mode == "spy":
        while not os.path.exists(args[0]):
            time.sleep(0.02)
        with open(args[0]) as f:
            send(f.read(), "READY=1")
        print("sent READY=1 to someone else's socket", flush=True)
        forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
