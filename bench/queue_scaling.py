#!/usr/bin/env python3
"""Records/s of the ways to annotate one input on this machine, in the same run, rounds alternating:
one `biotag annotate --store` process into SQLite, and `biotag worker`s sharing a PostgreSQL queue
(1 worker x 2 threads, 2 workers x 1 thread, 1 worker with annotate's defaults). For the queue it
also reports where a batch's time goes: PostgreSQL's own execution time per batch
(pg_stat_statements) against the workers' time per batch.

    python3 bench/queue_scaling.py --records /tmp/q4k.jsonl --rounds 3 --out scaling.json"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--biotag", default=".build/release/biotag")
parser.add_argument("--records", required=True)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=100)
parser.add_argument("--out")
args = parser.parse_args()
biotag = os.path.abspath(args.biotag)
work = tempfile.mkdtemp(prefix="biotag-scaling-")
os.chmod(work, 0o755)
records = sum(1 for _ in open(args.records))
characters = sum(len(json.loads(line)["text"]) for line in open(args.records))


def psql(url, database, sql):
    parts = urllib.parse.urlparse(url)
    host = urllib.parse.parse_qs(parts.query)["host"][0]
    return subprocess.run(["psql", "-X", "-A", "-t", "-h", host, "-p", str(parts.port or 5432), "-U", "postgres", "-d", database, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def sqlite_run(round_):
    path = os.path.join(work, f"sqlite-{round_}.db")
    started = time.time()
    subprocess.run([biotag, "annotate", args.records, "--store", path, "--quiet"], check=True)
    return {"seconds": time.time() - started}


def queue_run(server, round_, processes, threads, workers):
    database = f"q_{processes}_{threads}_{workers}_{round_}"
    psql(server, "biotag", f"CREATE DATABASE {database}")
    url = server.replace("/biotag?", f"/{database}?")
    psql(server, database, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    subprocess.run([biotag, "enqueue", "--store", url, "--batch-size", str(args.batch_size), args.records], check=True, capture_output=True)
    psql(server, database, "SELECT pg_stat_statements_reset()")
    logs = [os.path.join(work, f"{database}-{i}.log") for i in range(processes)]
    started = time.time()
    running = [subprocess.Popen([biotag, "worker", "--store", url, "--threads", str(threads), "--workers", str(workers), "--poll", "0.5"],
                                stderr=open(log, "w")) for log in logs]
    for process in running:
        if process.wait() != 0:
            sys.exit(f"a worker failed: {open(logs[running.index(process)]).read()[-2000:]}")
    seconds = time.time() - started
    # PostgreSQL's own time in this database's statements (planning + execution), per batch.
    database_ms = float(psql(server, database, f"""SELECT COALESCE(SUM(total_exec_time + total_plan_time), 0) FROM pg_stat_statements s
                                                    JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '{database}'"""))
    batches = int(psql(server, database, "SELECT COUNT(*) FROM batch WHERE state = 'done'"))
    annotating, storing = [], []
    for log in logs:
        for line in open(log):
            if " s annotating, " in line:
                annotate_s, store_s = line.split("entities, ")[1].split(" s annotating, ")
                annotating.append(float(annotate_s))
                storing.append(float(store_s.split(" s storing")[0]))
    return {"seconds": seconds, "batches": batches, "database_ms_per_batch": database_ms / max(1, batches),
            "worker_annotate_s_per_batch": statistics.mean(annotating), "worker_store_s_per_batch": statistics.mean(storing)}


configurations = [("sqlite: 1 annotate process (threads 1, workers 2)", None),
                  ("postgres: 1 worker x 2 threads (--threads 2 --workers 1)", (1, 2, 1)),
                  ("postgres: 2 workers x 1 thread (--threads 1 --workers 1 each)", (2, 1, 1)),
                  ("postgres: 1 worker, annotate's defaults (--threads 1 --workers 2)", (1, 1, 2))]
server_dir = os.path.join(work, "pg")
server = subprocess.run(["Tests/postgres/server.sh", "start", server_dir], check=True, capture_output=True, text=True).stdout.strip()
try:
    results = {name: [] for name, _ in configurations}
    for round_ in range(args.rounds):
        for name, shape in configurations:
            result = sqlite_run(round_) if shape is None else queue_run(server, round_, *shape)
            result["records_per_second"] = records / result["seconds"]
            results[name].append(result)
            print(f"round {round_ + 1}: {name}: {result['records_per_second']:.1f} records/s", file=sys.stderr)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    summary = {"cpu": cpu, "cores": os.cpu_count(), "records": records, "characters": characters, "rounds": args.rounds,
               "batch_size": args.batch_size, "configurations": {}}
    reference = statistics.median(r["records_per_second"] for r in results[configurations[0][0]])
    for name, runs in results.items():
        entry = {"records_per_second_median": statistics.median(r["records_per_second"] for r in runs),
                 "records_per_second": [round(r["records_per_second"], 1) for r in runs]}
        entry["ratio_to_sqlite"] = entry["records_per_second_median"] / reference
        for key in ("database_ms_per_batch", "worker_annotate_s_per_batch", "worker_store_s_per_batch"):
            if key in runs[0]:
                entry[key + "_median"] = statistics.median(r[key] for r in runs)
        summary["configurations"][name] = entry
    print(json.dumps(summary, indent=2))
    if args.out:
        json.dump(summary, open(args.out, "w"), indent=2)
finally:
    subprocess.run(["Tests/postgres/server.sh", "stop", server_dir], check=False)
