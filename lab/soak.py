"""A bounded soak of ``lunggate serve`` on loopback: resident memory under sustained load.

The server runs as its own process (its memory is what is measured, from
/proc/PID/status); concurrent clients post the bundled samples round after round,
and the server's resident set size is read after each round. A server whose memory
is held flat grows in the first rounds (caches, compiled models, allocator pools)
and then stops; the report gives the growth over the last half of the rounds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from lunggate.core.data import image_files
from lunggate.core.paths import SAMPLES_DIR


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def soak(rounds: int = 6, per_round: int = 96, clients: int = 16, startup_s: float = 300) -> dict:
    """Serve, load, measure; returns RSS per round, latency and any non-200 answers."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lunggate.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LUNGGATE_API_KEY": ""},
    )
    url = f"http://127.0.0.1:{port}"
    files = [p.read_bytes() for p in image_files([SAMPLES_DIR])]
    try:
        deadline = time.time() + startup_s
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).json()["models_loaded"]:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)
        start_rss = rss_mb(server.pid)

        def post(k: int) -> tuple[int, float]:
            begin = time.perf_counter()
            response = httpx.post(
                f"{url}/v1/predict", files={"file": ("x.png", files[k % len(files)])}, timeout=120
            )
            return response.status_code, (time.perf_counter() - begin) * 1000

        memory, latencies, failures = [], [], 0
        with ThreadPoolExecutor(clients) as pool:
            for r in range(rounds):
                answers = list(pool.map(post, range(r * per_round, (r + 1) * per_round)))
                failures += sum(code != 200 for code, _ in answers)
                latencies += [ms for _, ms in answers]
                memory.append(round(rss_mb(server.pid), 1))
    finally:
        server.terminate()
        server.wait(30)
    half = memory[len(memory) // 2 :]
    return {
        "requests": rounds * per_round,
        "clients": clients,
        "non_200": failures,
        "rss_mb_at_start": round(start_rss, 1),
        "rss_mb_per_round": memory,
        "rss_growth_mb_last_half": round(half[-1] - half[0], 1),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1),
    }
