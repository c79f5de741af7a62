#!/usr/bin/env python3
"""Load on `biotag serve` against `biotag annotate` offline, same sentences, same model, same run.

A standard-library asyncio HTTP/1.1 client on 127.0.0.1 (keep-alive connections, request bytes
built before the clock starts, answers read by Content-Length), bounded in time. Phases:

1. offline   `biotag annotate` over the sentences repeated --rounds times (its own records/s).
2. closed    C clients (each --clients value), each posting one to three sentences at a time and
             the next as soon as its answer is back: sentences/s, against the offline figure.
3. unloaded  one client, one request at a time: the latency a lone request sees (p50).
4. half      open loop (Poisson arrivals) at half the best closed-loop rate: p50 and p99.
5. overload  open loop at twice that rate for --overload-seconds: 429s and how fast they come,
             the server's resident memory, every request either 200 or 429, healthy after.
6. sigterm   closed loop, SIGTERM in the middle: every answer 200 or 503, exit status 0.

Prints a JSON summary (and writes it to --out). Example:
    python3 bench/serve_load.py --biotag .build/release/biotag --tsv ../shared/data/bioner/disease/test.tsv
"""

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def sentences_of(tsv):
    """The sentences of an IOB file: blocks separated by blank lines, words joined by spaces."""
    blocks = open(tsv, encoding="utf-8").read().strip().split("\n\n")
    return [" ".join(line.split("\t")[0] for line in block.splitlines()) for block in blocks]


def requests_of(sentences, rounds, seed):
    """The sentences `rounds` times over, cut into requests of one to three sentences."""
    rng = random.Random(seed)
    out = []
    for _ in range(rounds):
        i = 0
        while i < len(sentences):
            n = rng.randint(1, 3)
            out.append(sentences[i:i + n])
            i += n
    return out


def http_request(port, path, payload):
    body = json.dumps(payload).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


answered = [0]  # answers to POST /v1/annotate received, all phases


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def send(self, raw):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(raw)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed before an answer")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        body = await self.reader.readexactly(length)
        if raw.startswith(b"POST /v1/annotate "):
            answered[0] += 1
        if close:
            self.close()
        return status, body

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def closed_loop(port, work, clients, on_answer=None):
    """`clients` clients take requests from `work` until it is empty. Returns (seconds, latencies, statuses)."""
    queue = list(reversed(work))
    latencies, statuses = [], {}

    async def client():
        connection = Connection(port)
        while queue:
            raw, count = queue.pop()
            started = time.perf_counter()
            try:
                status, _ = await connection.send(raw)
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as error:
                statuses[type(error).__name__] = statuses.get(type(error).__name__, 0) + 1
                connection.close()
                continue
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if on_answer:
                on_answer(status, count)
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies, statuses


async def open_loop(port, work, rate, seconds, seed, sample=None):
    """Poisson arrivals at `rate` requests/s for `seconds`, each on an idle pooled connection or a
    new one. Returns per-status latency lists and error counts."""
    rng = random.Random(seed)
    idle, tasks = [], []
    by_status, errors = {}, {}

    async def one(raw):
        connection = idle.pop() if idle else Connection(port)
        started = time.perf_counter()
        try:
            status, _ = await connection.send(raw)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as error:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            connection.close()
            return
        by_status.setdefault(status, []).append(time.perf_counter() - started)
        idle.append(connection)

    end = time.perf_counter() + seconds
    next_at, index = time.perf_counter(), 0
    while next_at < end:
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(work[index % len(work)][0])))
        index += 1
        next_at += rng.expovariate(rate)
        if sample:
            sample()
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return by_status, errors, index


def summary_of(latencies):
    return {"n": len(latencies), "p50_ms": round(1000 * percentile(latencies, 50), 2) if latencies else None,
            "p99_ms": round(1000 * percentile(latencies, 99), 2) if latencies else None,
            "max_ms": round(1000 * max(latencies), 2) if latencies else None}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, port, log):
    command = [args.biotag, "serve", "--host", "127.0.0.1", "--port", str(port)] + args.serve_args.split()
    server = subprocess.Popen(command, stdout=log, stderr=log)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(100):
                    return server
        except OSError:
            pass
        if server.poll() is not None:
            sys.exit(f"biotag serve exited with {server.returncode} before it was ready")
        time.sleep(0.1)
    server.kill()
    sys.exit("biotag serve was not ready within 30 s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--biotag", default=".build/release/biotag")
    parser.add_argument("--tsv", default="../shared/data/bioner/disease/test.tsv")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the sentences per measurement")
    parser.add_argument("--clients", default="32,64")
    parser.add_argument("--half-seconds", type=float, default=30)
    parser.add_argument("--overload-seconds", type=float, default=60)
    parser.add_argument("--serve-args", default="", help="extra `biotag serve` options (the pipeline's, as for annotate)")
    parser.add_argument("--annotate-args", default="", help="extra `biotag annotate` options")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--phases", default="offline,closed,unloaded,half,overload,sigterm",
                        help="which to run (half needs closed for its rate unless --rate is given)")
    parser.add_argument("--rate", type=float, help="the best closed-loop sentences/s, when closed is not run")
    parser.add_argument("--out")
    args = parser.parse_args()
    # Hundreds of connections at once in the overload phase, for the client and the server it starts.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    sentences = sentences_of(args.tsv)
    result = {"cpu": platform.processor() or open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t"),
              "cores": os.cpu_count(), "sentences": len(sentences), "rounds": args.rounds}

    phases_wanted = set(args.phases.split(","))
    # 1. Offline.
    if "offline" in phases_wanted:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for r in range(args.rounds):
                for i, text in enumerate(sentences):
                    f.write(json.dumps({"id": f"{r}-{i}", "text": text}) + "\n")
            path = f.name
        run = subprocess.run([args.biotag, "annotate", path, "-o", "/dev/null"] + args.annotate_args.split(), capture_output=True, text=True)
        os.unlink(path)
        if run.returncode != 0:
            sys.exit("biotag annotate failed:\n" + run.stderr)
        rate_text = run.stderr.strip().splitlines()[-1].rsplit("(", 1)[1].split()[0]
        result["offline_sentences_per_s"] = float(rate_text)

    port = free_port()
    log_path = (args.out or os.path.join(tempfile.gettempdir(), "serve_load")) + ".server.log"
    log = open(log_path, "w")
    server = start_server(args, port, log)
    work = [(http_request(port, "/v1/annotate", {"texts": chunk}), len(chunk)) for chunk in requests_of(sentences, args.rounds, args.seed)]
    one_round = [(http_request(port, "/v1/annotate", {"texts": chunk}), len(chunk)) for chunk in requests_of(sentences, 1, args.seed + 1)]

    async def phases():
        await closed_loop(port, one_round[:64], 8)  # warm-up
        # 2. Closed loop.
        result["closed"] = {}
        best = args.rate or 0
        for clients in [int(c) for c in args.clients.split(",")] if "closed" in phases_wanted else []:
            seconds, latencies, statuses = await closed_loop(port, work, clients)
            done = sum(count for _, count in work)
            rate = done / seconds
            best = max(best, rate)
            result["closed"][clients] = {"sentences_per_s": round(rate, 1), "ratio_to_offline": round(rate / result.get("offline_sentences_per_s", float("nan")), 3),
                                         "statuses": {str(k): v for k, v in statuses.items()}, **summary_of(latencies)}
        # 3. Unloaded latency.
        _, latencies, _ = await closed_loop(port, one_round[:200], 1)
        result["unloaded"] = summary_of(latencies)
        # 4. Half the best rate, in requests/s.
        per_request = sum(count for _, count in one_round) / len(one_round)
        half = best / 2 / per_request
        if "half" in phases_wanted:
            by_status, errors, sent = await open_loop(port, one_round, half, args.half_seconds, args.seed)
            result["half_load"] = {"requests_per_s": round(half, 1), "sent": sent, "errors": errors,
                                   "statuses": {str(k): len(v) for k, v in by_status.items()}, **summary_of(by_status.get(200, []))}
            result["half_load"]["p99_over_unloaded_p50"] = round(result["half_load"]["p99_ms"] / result["unloaded"]["p50_ms"], 2)
        # 5. Overload: twice the best rate.
        if "overload" in phases_wanted:
            rss = {"before_kb": rss_kb(server.pid), "max_kb": 0}

            def sample():
                rss["max_kb"] = max(rss["max_kb"], rss_kb(server.pid))

            by_status, errors, sent = await open_loop(port, one_round, 4 * half, args.overload_seconds, args.seed + 2, sample)
            rss["after_kb"] = rss_kb(server.pid)
            rss["growth"] = round(rss["max_kb"] / rss["before_kb"] - 1, 3)
            health, _ = await Connection(port).send(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            after, _ = await Connection(port).send(work[0][0])
            result["overload"] = {"requests_per_s": round(4 * half, 1), "sent": sent, "errors": errors,
                                  "statuses": {str(k): len(v) for k, v in by_status.items()},
                                  "accepted": summary_of(by_status.get(200, [])), "refused_429": summary_of(by_status.get(429, [])),
                                  "rss": rss, "health_after": health, "annotate_after": after}
        # 6. SIGTERM under load.
        if "sigterm" not in phases_wanted:
            server.send_signal(signal.SIGTERM)
            result["sigterm"] = {"statuses": {}}
            return
        answers = {}
        stop_at = time.perf_counter() + 3
        signalled = {}

        def on_answer(status, count):
            answers[status] = answers.get(status, 0) + 1
            if not signalled and time.perf_counter() > stop_at:
                signalled["at"] = time.perf_counter()
                server.send_signal(signal.SIGTERM)

        _, _, statuses = await closed_loop(port, work, 32, on_answer)
        result["sigterm"] = {"statuses": {str(k): v for k, v in statuses.items()}}

    asyncio.run(phases())
    try:
        code = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        code = "killed after 60 s"
    result["sigterm"]["exit_status"] = code
    log.close()
    # Every request the server read is one line of its log: as many as the client got answers
    # for means that no request the server accepted went unanswered.
    logged = sum(1 for line in open(log_path) if "path=/v1/annotate " in line)
    result["annotate_requests"] = {"answered_to_client": answered[0], "logged_by_server": logged}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        open(args.out, "w").write(text + "\n")


if __name__ == "__main__":
    main()
