#!/usr/bin/env python3
"""Makes the committed seed corpora under fuzz/seeds/<target>/ from real input:

- log readers: the real server logs in examples/ (written by PostgreSQL 15 and MariaDB
  running examples/*workload.sql), cut into pieces on line boundaries;
- sql_lexer: every statement of the workloads and of the logs;
- pg_frames: wire captures of real clients (psql in the simple protocol, psycopg in the
  extended protocol with prepared statements and a pipeline) talking to a throwaway
  PostgreSQL through a recording relay, laid out as the target reads them: one control
  byte that cuts the rest into client bytes (after the startup packet) and server bytes.

Run from the repository root after scripts/setup-test-deps.sh (it needs initdb/pg_ctl,
psql and the test venv's psycopg):  python3 fuzz/make-seeds.py
"""
import hashlib
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
EXAMPLES = ROOT / "examples"
PIECE = 4096


def save(target, data):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def pieces(path, size=PIECE):
    """The file cut into pieces of about `size` bytes, each ending at a line end."""
    data = path.read_bytes()
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end


def log_seeds():
    per_target = {
        "pg_stderr": ["postgresql-stderr.log"],
        "pg_csv": ["postgresql.csv"],
        "pg_json": ["postgresql.json"],
        "mysql_general": ["mariadb-general.log"],
        "mysql_slow": ["mariadb-slow.log"],
    }
    for target, names in per_target.items():
        for name in names:
            for piece in pieces(EXAMPLES / name):
                save(target, piece)
                save("log_readers", piece)


def sql_seeds():
    texts = []
    for name in ["workload.sql", "mariadb-workload.sql", "mariadb-schema.sql"]:
        texts += re.split(r";\s*\n", (EXAMPLES / name).read_text())
    log = (EXAMPLES / "postgresql-stderr.log").read_text()
    texts += re.findall(r"(?:statement|execute [^:]*): (.*)", log)
    for text in texts:
        text = text.strip()
        if text and not text.startswith("--") and not text.startswith("\\"):
            save("sql_lexer", text.encode())


class Relay:
    """Accepts one client, connects it to the server and records both directions."""

    def __init__(self, server_port):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.server_port = server_port
        self.client_bytes = bytearray()
        self.server_bytes = bytearray()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.server_port))

        def pump(src, dst, record):
            while True:
                data = src.recv(65536)
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                record += data
                dst.sendall(data)

        threads = [
            threading.Thread(target=pump, args=(client, server, self.client_bytes)),
            threading.Thread(target=pump, args=(server, client, self.server_bytes)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def frames_seed(client, server):
    """control byte + client messages (startup packet dropped) + server bytes, with the
    control byte cutting exactly between them (server padded with ReadyForQuery until some
    control byte does)."""
    length = int.from_bytes(client[:4], "big")
    client = bytes(client[length:])
    server = bytes(server)
    for _ in range(512):
        rest = len(client) + len(server)
        for control in range(256):
            if control * rest // 256 == len(client):
                return bytes([control]) + client + server
        server += b"Z\x00\x00\x00\x05I"
    raise RuntimeError("no control byte cuts the capture between its directions")


def capture(port, run):
    relay = Relay(port)
    run(relay.port)
    relay.thread.join(timeout=30)
    return frames_seed(relay.client_bytes, relay.server_bytes)


def frame_seeds():
    data = pathlib.Path(tempfile.mkdtemp(prefix="qc-seeds-"))
    shutil.chown(data, "postgres") if os.geteuid() == 0 else None
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(as_pg + ["initdb", "-D", str(data / "pg"), "-A", "trust", "-U", "postgres"],
                   check=True, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(as_pg + ["pg_ctl", "-D", str(data / "pg"), "-w", "-l", str(data / "log"),
                            "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=0", "-U", "postgres", "-d", "postgres"]

        def run_psql(relay_port):
            subprocess.run(psql + ["-h", "127.0.0.1", "-p", str(relay_port),
                                   "-f", str(EXAMPLES / "workload.sql")],
                           env={**os.environ, "PGSSLMODE": "disable"},
                           check=True, stdout=subprocess.DEVNULL)

        save("pg_frames", capture(port, run_psql))

        python = ROOT / "target/e2e/django-venv/bin/python"
        script = (
            "import psycopg, sys\n"
            "with psycopg.connect(sys.argv[1], prepare_threshold=0) as c:\n"
            "    c.execute('CREATE TEMP TABLE t (id int PRIMARY KEY, name text)')\n"
            "    c.execute('INSERT INTO t SELECT g, %s FROM generate_series(1, 20) g', ['x'])\n"
            "    for i in range(1, 8):\n"
            "        c.execute('SELECT name FROM t WHERE id = %s', [i]).fetchall()\n"
            "    with c.pipeline():\n"
            "        for i in range(1, 4):\n"
            "            c.execute('UPDATE t SET name = %s WHERE id = %s', ['y', i])\n"
            "    with c.cursor(name='big') as cur:\n"
            "        cur.execute('SELECT * FROM t')\n"
            "        cur.fetchmany(5)\n"
            "    with c.cursor().copy('COPY t TO STDOUT') as copy:\n"
            "        for _ in copy: pass\n"
        )

        def run_psycopg(relay_port):
            subprocess.run([str(python), "-c", script,
                            f"host=127.0.0.1 port={relay_port} user=postgres dbname=postgres sslmode=disable"],
                           check=True)

        save("pg_frames", capture(port, run_psycopg))
    finally:
        subprocess.run(as_pg + ["pg_ctl", "-D", str(data / "pg"), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    shutil.rmtree(SEEDS, ignore_errors=True)
    log_seeds()
    sql_seeds()
    frame_seeds()
    for folder in sorted(SEEDS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")
