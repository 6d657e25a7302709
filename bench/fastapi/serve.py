"""`uvicorn app:app --workers N`, with one fix: the listening socket is made with IPPROTO_TCP.

uvicorn's supervisor binds the socket with `proto` 0, and asyncio enables TCP_NODELAY only on
accepted sockets whose `proto` is IPPROTO_TCP, so with `--workers` every keep-alive response after
the first waits ~40 ms for the client's delayed ACK on Linux (Kludex/uvicorn#3149, open). The
benchmark would measure that bug rather than the app. Otherwise this is what `uvicorn.run` does.

Usage: python serve.py HOST PORT WORKERS
"""

import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess


def main() -> None:
    host, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = uvicorn.Config("app:app", host=host, port=port, workers=workers, log_level="warning", access_log=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
