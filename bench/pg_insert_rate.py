#!/usr/bin/env python3
"""Where PostgreSQL would saturate: entity rows per second into the catalog's own `entity` table
(its primary key, three indexes and foreign keys), inserted three ways through psql over the
Unix socket, each in one transaction: one INSERT per row (what `biotag worker` sends today, one
statement per entity), INSERTs of 1,000 rows each, and COPY. A throwaway server
(Tests/postgres/server.sh); the rows imitate real entities (types, spans, texts, scores).

    python3 bench/pg_insert_rate.py --rows 100000 --out inserts.json"""
import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import urllib.parse

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--biotag", default=".build/release/biotag")
parser.add_argument("--rows", type=int, default=100000)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--out")
args = parser.parse_args()
work = tempfile.mkdtemp(prefix="biotag-inserts-")
os.chmod(work, 0o755)
random.seed(3)
types = ["disease", "chemical", "gene", "species", "cell", "anatomy", "cellular_component", "cell_type"]
words = ["breast cancer", "cisplatin", "BRCA1", "mice", "HeLa", "liver", "nucleus", "T cells", "tumor necrosis factor", "p53"]
rows = []
for i in range(args.rows):
    text = random.choice(words)
    start = random.randrange(0, 1500)
    rows.append((1 + i // 8, random.choice(types), start, start + len(text), text, text.lower(), round(random.random(), 4)))
records = rows[-1][0]


def quote(text):
    return "'" + text.replace("'", "''") + "'"


columns = 'record_id, run_id, passage, type, start, "end", text, normalized, score'
values = [f"({r[0]}, 1, 0, {quote(r[1])}, {r[2]}, {r[3]}, {quote(r[4])}, {quote(r[5])}, {r[6]})" for r in rows]
files = {
    "insert, one row per statement": "BEGIN;\n" + "".join(f"INSERT INTO entity ({columns}) VALUES {v};\n" for v in values) + "COMMIT;\n",
    "insert, 1000 rows per statement": "BEGIN;\n" + "".join(f"INSERT INTO entity ({columns}) VALUES " + ",".join(values[i:i + 1000]) + ";\n"
                                                         for i in range(0, len(values), 1000)) + "COMMIT;\n",
}
tsv = os.path.join(work, "rows.tsv")
with open(tsv, "w") as out:
    for r in rows:
        out.write(f"{r[0]}\t1\t0\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t{r[6]}\n")
files["copy"] = f"BEGIN;\n\\copy entity ({columns}) FROM '{tsv}'\nCOMMIT;\n"

server_dir = os.path.join(work, "pg")
url = subprocess.run(["Tests/postgres/server.sh", "start", server_dir], check=True, capture_output=True, text=True).stdout.strip()
host = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["host"][0]
port = str(urllib.parse.urlparse(url).port or 5432)


def psql(sql=None, file=None):
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", "postgres", "-d", "biotag"]
    command += ["-f", file] if file else ["-c", sql]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})


try:
    # The catalog's tables (biotag creates them on connect), one run, and the records the rows name.
    subprocess.run([os.path.abspath(args.biotag), "status", "--store", url], check=True, stdout=subprocess.DEVNULL)
    psql("INSERT INTO run (model_name, model_version, tasks, settings, started_at) VALUES ('m', '1', '', '{}', 0)")
    psql(f"INSERT INTO record (key, fingerprint, passages, added_at) SELECT 'r' || g, '', '[]', 0 FROM generate_series(1, {records}) g")
    results = {}
    for round_ in range(args.rounds):
        for name, body in files.items():
            path = os.path.join(work, "load.sql")
            with open(path, "w") as out:
                out.write(body)
            psql("TRUNCATE entity CASCADE")
            psql("CHECKPOINT")
            started = time.time()
            psql(file=path)
            results.setdefault(name, []).append(args.rows / (time.time() - started))
    summary = {"rows": args.rows, "rounds": args.rounds,
               "rows_per_second_median": {name: round(statistics.median(v)) for name, v in results.items()},
               "rows_per_second": {name: [round(x) for x in v] for name, v in results.items()}}
    print(json.dumps(summary, indent=2))
    if args.out:
        json.dump(summary, open(args.out, "w"), indent=2)
finally:
    subprocess.run(["Tests/postgres/server.sh", "stop", server_dir], check=False)
