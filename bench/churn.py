"""A busy machine for the suite to pass on: thousands of outgoing connections opened and closed, and a core kept busy.

    .venv/bin/python bench/churn.py --seconds 3600          # beside `CI=true bash .ci/run` (issue 34)

Each connection goes to a listener of its own on 127.0.0.1, so every one takes an ephemeral port of the
machine's range, the range a server of the suite would be given by a bind to port 0; closed by the client
first, each also leaves a TIME_WAIT behind. A second thread spins in Python, as another tenant of the machine
would. It prints, every 10 s, the connections made and the ports it has seen, and stops after --seconds, on
Ctrl-C or on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time


def listen() -> tuple[socket.socket, int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    return server, server.getsockname()[1]


def accept_forever(server: socket.socket, stop: threading.Event) -> None:
    server.settimeout(0.5)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        conn.close()


def spin(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x = (x * 31 + i) % 1_000_003


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--per-second", type=int, default=400, help="outgoing connections a second (default 400)")
    parser.add_argument("--no-spin", action="store_true", help="connections only, no busy core")
    args = parser.parse_args()
    # Stopped by SIGTERM as by Ctrl-C (a job started in the background of a script ignores SIGINT).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stop = threading.Event()
    server, port = listen()
    threading.Thread(target=accept_forever, args=(server, stop), daemon=True).start()
    if not args.no_spin:
        threading.Thread(target=spin, args=(stop,), daemon=True).start()
    made = failed = 0
    ports: set[int] = set()
    started = last = time.monotonic()
    try:
        while time.monotonic() - started < args.seconds:
            tick = time.monotonic()
            for _ in range(args.per_second // 10):
                client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    client.connect(("127.0.0.1", port))
                    ports.add(client.getsockname()[1])
                    made += 1
                except OSError:
                    failed += 1
                finally:
                    client.close()
            time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                print(
                    f"{last - started:6.0f} s: {made:,} connections ({failed:,} refused), {len(ports):,} ports used",
                    flush=True,
                )
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.close()
    print(f"done: {made:,} connections ({failed:,} refused), {len(ports):,} different ports", flush=True)


if __name__ == "__main__":
    main()
