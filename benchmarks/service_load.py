"""Load on loopback against a real server: does every answer come back within its budget?

Starts `uvicorn --factory service.api.app:create_app` on 127.0.0.1 (a fresh SQLite file, the fault hook
on for the last section only), then sends POST /v1/solve from N concurrent httpx clients, N rising.
Bounded: at most --count requests and --seconds per level. For each level: throughput of answered
solves, p50/p99 of (wall - time_limit_s) measured by the client (negative: early), the share of answers
within time_limit_s + 50 ms (target 100%), 503s (backpressure, allowed: refused at once, their
latency is shown) and any other 5xx (target 0).

Sections:
  tiny      paper instances, 4 nodes x 4 pods (CP-SAT proves them optimal in ~30 ms), limit 0.2 s
  full      512 pods on 64 nodes, 2 CP-SAT workers: the search uses its whole budget (0.3 s)
  faults    tiny, every 5th request carries X-Schedopt-Fault: hang (the worker hangs; the service
            must kill it at the deadline + grace and answer with the heuristic's plan)

    python -m benchmarks.service_load --levels 1,2,4,8,16 --count 100 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.common import pct, table, write
from solver.pods.generate import paper_instance

ROOT = Path(__file__).resolve().parents[1]
WITHIN_S = 0.050  # the target: within time_limit_s + 50 ms


@dataclass
class Level:
    name: str
    concurrency: int
    limit_s: float
    walls: list[float] = field(default_factory=list)  # answered (200) solves
    server_walls: list[float] = field(default_factory=list)  # the same, by the server's Server-Timing
    busy_walls: list[float] = field(default_factory=list)  # 503
    statuses: dict[int, int] = field(default_factory=dict)
    fallbacks: int = 0
    seconds: float = 0.0

    def row(self) -> list[object]:
        over = sorted(w - self.limit_s for w in self.walls)
        ok = len(self.walls)
        within = sum(o <= WITHIN_S for o in over)
        other_5xx = sum(n for s, n in self.statuses.items() if s >= 500 and s != 503)
        sent = sum(self.statuses.values())
        return [
            self.name,
            self.concurrency,
            sent,
            ok,
            f"{ok / self.seconds:.1f}" if self.seconds else "-",
            _ms(_quantile(over, 0.5)),
            _ms(_quantile(over, 0.99)),
            _ms(over[-1] if over else None),
            _ms(max(self.server_walls) - self.limit_s if self.server_walls else None),
            f"{pct(within, ok)}",
            self.statuses.get(503, 0),
            _ms(_quantile(sorted(self.busy_walls), 0.99)),
            other_5xx,
            self.fallbacks,
        ]


HEADER = [
    "workload",
    "clients",
    "sent",
    "200",
    "answers/s",
    "p50 wall-limit (ms)",
    "p99 wall-limit (ms)",
    "max wall-limit (ms)",
    "server: max wall-limit (ms)",
    "within limit+50ms",
    "503",
    "p99 503 latency (ms)",
    "other 5xx",
    "fallback answers",
]


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q * 100) - 1))]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:+.1f}"


def tiny_requests(limit_s: float) -> list[bytes]:
    out = []
    for seed in range(50):
        inst = paper_instance(4, 4, 2, 1.05, seed)
        body = {
            "kind": "pods",
            "instance": inst.model_dump(mode="json", exclude_defaults=True),
            "options": {"time_limit_s": limit_s, "workers": 1, "seed": seed},
        }
        out.append(json.dumps(body).encode())
    return out


def full_requests(limit_s: float) -> list[bytes]:
    data = json.loads((ROOT / "instances" / "pods" / "paper-n64-p8-k4-u105.json").read_text())
    data["options"] = {"time_limit_s": limit_s, "workers": 2}
    return [json.dumps(data).encode()]


async def run_level(
    url: str, level: Level, bodies: list[bytes], count: int, seconds: float, hang_every: int = 0
) -> Level:
    sent = 0
    stop_at = time.monotonic() + seconds
    lock = asyncio.Lock()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while True:
            async with lock:
                if sent >= count or time.monotonic() >= stop_at:
                    return
                i = sent
                sent += 1
            headers = {"content-type": "application/json"}
            if hang_every and i % hang_every == hang_every - 1:
                headers["X-Schedopt-Fault"] = "hang"
            t0 = time.monotonic()
            response = await http.post("/v1/solve", content=bodies[i % len(bodies)], headers=headers)
            wall = time.monotonic() - t0
            level.statuses[response.status_code] = level.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                level.walls.append(wall)
                level.server_walls.append(float(response.headers["server-timing"].split("dur=")[1]) / 1000)
                level.fallbacks += b'"status":"fallback"' in response.content  # no parsing in the hot loop
            elif response.status_code == 503:
                level.busy_walls.append(wall)

    limits = httpx.Limits(max_connections=level.concurrency, max_keepalive_connections=level.concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        t0 = time.monotonic()
        await asyncio.gather(*(client(http) for _ in range(level.concurrency)))
        level.seconds = time.monotonic() - t0
    return level


@contextmanager
def server(workers: int, faults: bool, grace_s: float) -> Iterator[str]:
    """A real uvicorn process on a free loopback port; yields its URL once it is listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="schedopt-load-")
    env = {
        **os.environ,
        "SCHEDOPT_DB_PATH": str(Path(tmp) / "jobs.sqlite"),
        "SCHEDOPT_WORKERS": str(workers),
        "SCHEDOPT_TEST_FAULTS": "1" if faults else "0",
        "SCHEDOPT_LOG_LEVEL": "warning",
        "SCHEDOPT_GRACE_S": str(grace_s),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info", "--no-access-log"]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # blocks until uvicorn reports; no polling
        if "Uvicorn running on" in line:
            break
    else:
        raise RuntimeError(f"the server exited with {proc.wait()}")
    drain = threading.Thread(target=lambda: [None for _ in proc.stderr or []], daemon=True)
    drain.start()  # keep reading its log so that it never blocks on a full pipe
    try:
        yield f"http://127.0.0.1:{port}"
        counters = [
            line
            for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines()
            if line.startswith(("schedopt_rejected_total", "schedopt_worker_restarts_total"))
        ]
        print("\n".join(counters), file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="1,2,4,8,16", help="concurrent clients per level")
    ap.add_argument("--count", type=int, default=100, help="requests per level at most")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per level at most")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="solver processes")
    ap.add_argument("--grace", type=float, default=0.03, help="SCHEDOPT_GRACE_S (default 0.03)")
    ap.add_argument("--sections", default="tiny,full,faults", help="which workloads to run")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    tiny, full = tiny_requests(0.2), full_requests(0.3)
    rows: list[Level] = []
    t0 = time.monotonic()
    sections = args.sections.split(",")
    with server(args.workers, faults=True, grace_s=args.grace) as url:
        for n in levels if "tiny" in sections else []:
            rows.append(asyncio.run(run_level(url, Level("tiny", n, 0.2), tiny, args.count, args.seconds)))
        for n in [n for n in levels if n <= 4] if "full" in sections else []:
            rows.append(
                asyncio.run(run_level(url, Level("full", n, 0.3), full, args.count // 2, args.seconds))
            )
        for n in [n for n in levels if 2 <= n <= 8] if "faults" in sections else []:
            level = Level("faults: 1 in 5 hangs", n, 0.2)
            rows.append(asyncio.run(run_level(url, level, tiny, args.count // 2, args.seconds, hang_every=5)))
    other_5xx = sum(n for r in rows for status, n in r.statuses.items() if status >= 500 and status != 503)
    late = sum(sum(w - r.limit_s > WITHIN_S for w in r.walls) for r in rows)
    on_time = "met" if late == 0 else f"MISSED ({late} late)"
    no_5xx = "met" if other_5xx == 0 else f"MISSED ({other_5xx})"
    verdict = f"Targets: every answer within time_limit_s + 50 ms: {on_time}; no 5xx but 503: {no_5xx}."
    intro = (
        f"`uvicorn` on 127.0.0.1 with {args.workers} solver workers (SCHEDOPT_WORKERS), grace "
        f"{1000 * args.grace:g} ms (SCHEDOPT_GRACE_S); the clients (httpx, asyncio) run on the same "
        "machine. wall = the client's time from sending the request to reading the whole answer; "
        "wall - limit < 0: the answer came early (the solver proved optimality or stopped its search). "
        "server: the same from the server's Server-Timing header (arrival to answer), without the network "
        "and the load generator's own delays. 503 = refused at once because no worker could start the "
        f"solve within its budget. Bounded: {args.count} requests or {args.seconds:g} s per level; the "
        f"whole run took {time.monotonic() - t0:.0f} s."
    )
    write(
        "service_load",
        "Service: load on loopback",
        f"{intro}\n\n{table(HEADER, [r.row() for r in rows])}\n\n{verdict}",
    )


if __name__ == "__main__":
    main()
