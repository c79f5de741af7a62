#!/usr/bin/env python3
"""The work queue under fire: N `biotag worker` processes share one PostgreSQL catalog while one of
them, chosen at random, is killed with SIGKILL every few seconds and started again. At the end every
record must be annotated exactly once and the entity rows must equal a single-process SQLite run
of the same input (`biotag annotate --store`), row for row; no batch may be left leased.

    python3 bench/queue_chaos.py --records /tmp/q20k.jsonl --out chaos.json

The PostgreSQL server is a throwaway one (Tests/postgres/server.sh) unless --store is given."""
import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--biotag", default=".build/release/biotag")
parser.add_argument("--records", required=True, help="JSON lines input (bench/queue_records.py makes one)")
parser.add_argument("--workers", type=int, default=4)
parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills")
parser.add_argument("--lease", type=float, default=15.0)
parser.add_argument("--batch-size", type=int, default=100)
parser.add_argument("--store", help="PostgreSQL URL (default: a throwaway server)")
parser.add_argument("--reference", help="SQLite catalog of the same input made earlier (default: made here)")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", help="write the figures as JSON here")
args = parser.parse_args()
random.seed(args.seed)
biotag = os.path.abspath(args.biotag)
work = tempfile.mkdtemp(prefix="biotag-chaos-")
os.chmod(work, 0o755)  # the server runs as the postgres user when this runs as root
server_dir = None


def status(url):
    return json.loads(subprocess.run([biotag, "status", "--store", url, "--json"], check=True, capture_output=True, text=True).stdout)


def psql_rows(url, sql):
    parts = urllib.parse.urlparse(url)
    host = urllib.parse.parse_qs(parts.query).get("host", [parts.hostname])[0]
    command = ["psql", "-X", "-A", "-t", "-F", "\t", "-U", parts.username or "postgres", "-d", parts.path.lstrip("/"), "-c", sql]
    if host:
        command[1:1] = ["-h", host]
    if parts.port:
        command[1:1] = ["-p", str(parts.port)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


# Entity rows as content: record key, passage, type, span, text, score, whether merged into another
# row, and the concepts; ids (which differ between databases) left out.
ENTITY_SQL = """
SELECT r.key, e.passage, e.type, e.start, e."end", e.text, {score}, CASE WHEN e.merged_into IS NULL THEN 0 ELSE 1 END,
       COALESCE((SELECT {concat} FROM entity_concept c WHERE c.entity_id = e.id), '')
FROM entity e JOIN record r ON r.id = e.record_id"""


def postgres_entities(url):
    sql = ENTITY_SQL.format(score="to_char(e.score, 'FM0.000000')", concat="string_agg(c.concept_id, ';' ORDER BY c.position)")
    return sorted(psql_rows(url, sql))


def sqlite_entities(path):
    sql = ENTITY_SQL.format(score="printf('%.6f', e.score)", concat="group_concat(c.concept_id, ';')").replace(
        "FROM entity_concept c WHERE c.entity_id = e.id", "FROM (SELECT * FROM entity_concept WHERE entity_id = e.id ORDER BY position) c")
    with sqlite3.connect(path) as db:
        return sorted(tuple(str(v) for v in row) for row in db.execute(sql))


try:
    url = args.store
    if not url:
        server_dir = os.path.join(work, "pg")
        url = subprocess.run(["Tests/postgres/server.sh", "start", server_dir], check=True, capture_output=True, text=True).stdout.strip()
    reference = args.reference
    if not reference:
        reference = os.path.join(work, "reference.db")
        started = time.time()
        subprocess.run([biotag, "annotate", args.records, "--store", reference, "--quiet"], check=True)
        print(f"reference: one SQLite process in {time.time() - started:.1f} s", file=sys.stderr)

    subprocess.run([biotag, "enqueue", "--store", url, "--batch-size", str(args.batch_size), args.records], check=True)
    batches = status(url)["pending"]
    logs = open(os.path.join(work, "workers.log"), "w")

    def start(index):
        return subprocess.Popen([biotag, "worker", "--store", url, "--lease", str(args.lease), "--max-attempts", "10", "--poll", "1",
                                 "--threads", "1", "--workers", "1", "--name", f"w{index}-{time.time_ns()}"], stdout=logs, stderr=logs)

    workers = [start(i) for i in range(args.workers)]
    started = time.time()
    kills = 0
    next_kill = started + args.kill_every
    while True:
        time.sleep(0.5)
        current = status(url)
        if current["pending"] + current["leased"] == 0:
            break
        if time.time() >= next_kill:
            index = random.randrange(args.workers)
            if workers[index].poll() is None:
                workers[index].send_signal(signal.SIGKILL)
                workers[index].wait()
                kills += 1
            workers[index] = start(index)
            next_kill += args.kill_every
    elapsed = time.time() - started
    for worker in workers:
        worker.wait(timeout=120)
    final = status(url)
    pg = postgres_entities(url)
    ref = sqlite_entities(reference)
    annotated = int(psql_rows(url, "SELECT COUNT(*) FROM annotated")[0][0])
    distinct = int(psql_rows(url, "SELECT COUNT(DISTINCT record_id) FROM annotated")[0][0])
    records = sum(1 for _ in open(args.records))
    with sqlite3.connect(reference) as db:
        ref_annotated = db.execute("SELECT COUNT(*) FROM annotated").fetchone()[0]
    duplicates = int(psql_rows(url, """SELECT COUNT(*) FROM (SELECT record_id, run_id, passage, type, start, "end" FROM entity
                                       GROUP BY 1, 2, 3, 4, 5, 6 HAVING COUNT(*) > 1) d""")[0][0])
    attempts = psql_rows(url, "SELECT attempts, COUNT(*) FROM batch GROUP BY attempts ORDER BY attempts")
    result = {
        "records": records, "batches": batches, "workers": args.workers, "kill_every_s": args.kill_every, "kills": kills,
        "seconds": round(elapsed, 1), "status": final,
        "batch_attempts": {a: int(n) for a, n in attempts},
        "annotated_rows": annotated, "annotated_records": distinct, "reference_annotated_rows": ref_annotated,
        "entity_rows": len(pg), "reference_entity_rows": len(ref), "duplicate_entity_rows": duplicates,
        "entity_rows_equal": pg == ref,
    }
    if pg != ref:
        only_pg, only_ref = sorted(set(pg) - set(ref)), sorted(set(ref) - set(pg))
        result["only_postgres"] = [list(r) for r in only_pg[:10]]
        result["only_reference"] = [list(r) for r in only_ref[:10]]
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as out:
            json.dump(result, out, indent=2)
    ok = (pg == ref and final["leased"] == 0 and final["pending"] == 0 and final["failed"] == 0 and annotated == records == distinct and duplicates == 0)
    sys.exit(0 if ok else 1)
finally:
    if server_dir:
        subprocess.run(["Tests/postgres/server.sh", "stop", server_dir], check=False)
