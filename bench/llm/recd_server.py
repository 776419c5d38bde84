"""recd on one database, queried line by line over its Unix socket: shared by the explanation benchmarks."""

import json
import os
import socket as sockets
import subprocess
import time


class RecdServer:
    """Starts `binary` on `db` at `socket_path` with `extra` arguments and `environment`; `ask` sends one query."""

    def __init__(self, binary, db, socket_path, extra=(), environment=None):
        self.path = str(socket_path)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.process = subprocess.Popen(
            [binary, "--db", str(db), "--socket", self.path, "--log-level", "warning", *extra], env=environment)
        for _ in range(600):
            if os.path.exists(self.path):
                break
            time.sleep(0.1)
        self.socket = sockets.socket(sockets.AF_UNIX)
        self.socket.connect(self.path)
        self.reader = self.socket.makefile("r")

    def ask(self, query):
        self.socket.sendall((json.dumps({"q": query}) + "\n").encode())
        return json.loads(self.reader.readline())

    def close(self):
        self.process.terminate()
        self.process.wait()
