#!/usr/bin/env python3
"""Makes the committed seed corpora under fuzz/seeds/<target>/ from real input:

- log readers: the real server logs in examples/ (written by PostgreSQL 15 and MariaDB
  running examples/*workload.sql), cut into pieces on line boundaries;
- mysql_table (the log-table readers): real rows of MariaDB 10.11's mysql.general_log and
  mysql.slow_log, kept trimmed in fuzz/samples/ (the CSV engine's general_log.CSV and
  slow_log.CSV from the accuracy corpus's run, about 170 rows each, the one row with a
  password left out), cut on line boundaries, and the same rows as `mysql --batch` exports
  (tab-separated, with a header line, in the table's column order or another, or without
  a header, and with the statement in hex as MySQL 8's client prints a BLOB), plus a few
  rows whose values hold what each form escapes;
- sql_lexer: every statement of the workloads and of the logs;
- pg_frames: wire captures of real clients (psql in the simple protocol, psycopg in the
  extended protocol with prepared statements and a pipeline) talking to a throwaway
  PostgreSQL through a recording relay, laid out as the target reads them: one control
  byte that cuts the rest into client bytes (after the startup packet) and server bytes.

Run from the repository root after scripts/setup-test-deps.sh (it needs initdb/pg_ctl,
psql and the test venv's psycopg):  python3 fuzz/make-seeds.py
Only the mysql_table seeds (they need nothing but fuzz/samples/):
    python3 fuzz/make-seeds.py mysql_table
"""
import hashlib
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
EXAMPLES = ROOT / "examples"
SAMPLES = ROOT / "fuzz" / "samples"
PIECE = 4096
TABLE_PIECE = 2048


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


GENERAL_COLUMNS = ["event_time", "user_host", "thread_id", "server_id", "command_type",
                   "argument"]
SLOW_COLUMNS = ["start_time", "user_host", "query_time", "lock_time", "rows_sent",
                "rows_examined", "db", "last_insert_id", "insert_id", "server_id", "sql_text",
                "thread_id", "rows_affected"]
CSV_ESCAPES = {"n": "\n", "r": "\r", "\"": "\"", "\\": "\\"}


def csv_row(line):
    """The fields of one row of the CSV engine's file: quoted strings with \\" \\\\ \\n
    \\r escaped, bare numbers."""
    fields = []
    i = 0
    while i < len(line):
        if line[i] == '"':
            value = []
            i += 1
            while line[i] != '"':
                if line[i] == "\\":
                    value.append(CSV_ESCAPES.get(line[i + 1], "\\" + line[i + 1]))
                    i += 2
                else:
                    value.append(line[i])
                    i += 1
            fields.append("".join(value))
            i += 1
        else:
            end = line.find(",", i)
            end = len(line) if end < 0 else end
            fields.append(line[i:end])
            i = end
        i += 1  # the comma
    return fields


def csv_line(fields):
    """A row as the CSV engine writes it (numbers bare, strings quoted and escaped)."""
    out = []
    for field in fields:
        if re.fullmatch(r"-?[0-9]+", field):
            out.append(field)
        else:
            escaped = (field.replace("\\", "\\\\").replace('"', '\\"')
                       .replace("\n", "\\n").replace("\r", "\\r"))
            out.append('"' + escaped + '"')
    return ",".join(out) + "\n"


def batch_line(fields):
    """A row as `mysql --batch` prints it: tab-separated, \\t \\n \\\\ \\0 escaped; None is
    NULL."""
    def escape(field):
        if field is None:
            return "NULL"
        return (field.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\0", "\\0"))
    return "\t".join(escape(f) for f in fields) + "\n"


def batch_exports(columns, rows):
    """Three `mysql --batch` exports of about TABLE_PIECE bytes, from the start, the middle
    and the last third of the rows: with the header in the table's order, with the header in
    another order (a SELECT naming its columns), and without a header (--skip-column-names)."""
    order = list(reversed(range(len(columns))))
    forms = [
        lambda row: row,
        lambda row: [row[i] for i in order],
        lambda row: row,
    ]
    headers = [batch_line(columns), batch_line([columns[i] for i in order]), ""]
    for n, (form, header) in enumerate(zip(forms, headers)):
        chunk = header
        for row in rows[n * len(rows) // len(forms):]:
            chunk += batch_line(form(row))
            if len(chunk) >= TABLE_PIECE:
                break
        yield chunk.encode()


def table_seeds():
    """mysql_table: the real log-table rows in fuzz/samples/ cut on line boundaries, the same
    rows as `mysql --batch` exports, and real rows edited to hold what each form escapes."""
    samples = [
        ("mariadb-general_log.CSV", GENERAL_COLUMNS),
        ("mariadb-slow_log.CSV", SLOW_COLUMNS),
    ]
    for name, columns in samples:
        # log_readers gets the first piece and the exports: enough to reach these readers;
        # mysql_table explores them
        for n, piece in enumerate(pieces(SAMPLES / name, TABLE_PIECE)):
            save("mysql_table", piece)
            if n == 0:
                save("log_readers", piece)
        rows = [csv_row(line) for line in (SAMPLES / name).read_text().splitlines()]
        assert all(len(row) == len(columns) for row in rows), name
        for export in batch_exports(columns, rows):
            save("mysql_table", export)
            save("log_readers", export)
        # a tab, a backslash, a double quote, a carriage return and a newline in the
        # statement (and a tab in the slow log's database), in both forms; a NUL in the
        # export (the CSV file gets none), and NULL for the slow log's db and insert_id
        text = columns.index("argument" if "argument" in columns else "sql_text")
        edited = []
        queries = [row for row in rows
                   if "command_type" not in columns or row[columns.index("command_type")] == "Query"]
        for row, value in zip(queries[4:9], [
            "select 'a\tb', 'c:\\dir\\', \"quoted\" from t",
            "insert into t values ('line1\r\nline2')",
            "select '\\\\', '\\\"', '\\n'",
            "select 1\n  from dual -- trailing \\",
            "select 'nul\0byte'",
        ]):
            row = list(row)
            row[text] = value
            if "db" in columns:
                row[columns.index("db")] = "my\tdb"
            edited.append(row)
        save("mysql_table", "".join(csv_line([f.replace("\0", "") for f in row])
                                     for row in edited).encode())
        nulls = [[None if c in ("db", "insert_id") else f for c, f in zip(columns, row)]
                 for row in edited if "db" in columns]
        save("mysql_table", (batch_line(columns)
                             + "".join(batch_line(row) for row in edited + nulls)).encode())
        # MySQL 8's client with --binary-as-hex (its default in interactive use) prints the
        # BLOB statement column as 0x and hex digits
        hexed = [row[:text] + ["0x" + row[text].encode().hex().upper()] + row[text + 1:]
                 for row in queries[:12]]
        save("mysql_table", (batch_line(columns)
                             + "".join(batch_line(row) for row in hexed)).encode())


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
    if sys.argv[1:] == ["mysql_table"]:
        shutil.rmtree(SEEDS / "mysql_table", ignore_errors=True)
        table_seeds()
        folder = SEEDS / "mysql_table"
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")
        sys.exit(0)
    shutil.rmtree(SEEDS, ignore_errors=True)
    log_seeds()
    table_seeds()
    sql_seeds()
    frame_seeds()
    for folder in sorted(SEEDS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")
