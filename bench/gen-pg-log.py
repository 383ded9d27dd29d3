#!/usr/bin/env python3
"""Generates a large, realistic PostgreSQL 15 stderr log for the `analyze` benchmark.

Server settings it imitates (the line formats match examples/postgresql-stderr.log, which
a real PostgreSQL 15 wrote):
    log_line_prefix = '%m [%p] %q%u@%d '
    log_statement = all
    log_min_duration_statement = 0
    log_connections = on, log_disconnections = on

Traffic: many pooled sessions interleaved statement by statement, each serving a stream
of requests from one of four applications:
  - a Django shop on psycopg2 (simple protocol, literals inline, sqlcommenter tags),
  - a Rails blog with prepared statements (extended protocol, named a1.. statements:
    parse logged once per session, then bind/execute with `DETAIL:  parameters:`),
  - a Hibernate/pgjdbc service (extended protocol, `<unnamed>` statements),
  - a psycopg 3 worker (auto-prepared `_pg3_n` statements after 5 runs), and reporting
    sessions sending multi-line statements (TAB continuation lines).
Requests include N+1 reads, count-in-loop, N+1 writes, repeated identical lookups, and
their clean twins (prefetch with one IN list, GROUP BY counts, multi-row INSERT), plus
occasional errors (ERROR + STATEMENT).

Deterministic for a given --seed and --size-mb. Stdlib only.
    python3 bench/gen-pg-log.py --size-mb 500 -o bench/out/pg-500mb.log
"""

import argparse
import random
import sys

START_EPOCH_MS = 1_795_219_200_000  # 2026-11-21 00:00:00 UTC
DAYS_BEFORE_MONTH = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]


def civil_from_days(days):
    """(year, month, day) for days since 1970-01-01 (Howard Hinnant's algorithm)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (m <= 2), m, d)


class Clock:
    """Monotonic log time; formats `%m` (milliseconds, UTC), caching the second."""

    def __init__(self):
        self.ms = START_EPOCH_MS
        self.cached_second = None
        self.second_text = ""

    def advance(self, ms):
        self.ms += ms

    def stamp(self):
        second, millis = divmod(self.ms, 1000)
        if second != self.cached_second:
            self.cached_second = second
            days, rest = divmod(second, 86400)
            y, m, d = civil_from_days(days)
            hh, rest = divmod(rest, 3600)
            mm, ss = divmod(rest, 60)
            self.second_text = f"{y:04d}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}"
        return f"{self.second_text}.{millis:03d} UTC"


class Rand:
    """Fast deterministic values: precomputed duration strings, cheap integers."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.durations = [f"{self.rng.lognormvariate(-2.3, 1.1):.3f}" for _ in range(8191)]
        self.di = 0

    def dur(self):
        self.di = (self.di + 7) % len(self.durations)
        return self.durations[self.di]

    def id(self, hi=2_000_000):
        return self.rng.randrange(1, hi)

    def n(self, lo, hi):
        return self.rng.randint(lo, hi)

    def pick(self, seq):
        return self.rng.choice(seq)

    def hex(self, digits):
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def chance(self, p):
        return self.rng.random() < p


# ------------------------------------------------------------------ statement emitters
# Each yields (severity, message) records for one statement as PostgreSQL 15 logs it
# with log_statement=all and log_min_duration_statement=0 both on.

def simple(r, sql):
    """Simple protocol: the statement, then a `duration:` line with no text."""
    yield "LOG", "statement: " + sql
    yield "LOG", f"duration: {r.dur()} ms"


def params_detail(values):
    return "parameters: " + ", ".join(f"${i} = '{v}'" for i, v in enumerate(values, 1))


def extended(r, sql, values, name="<unnamed>", parse=True):
    """Extended protocol: parse (only when preparing), bind + DETAIL, execute + DETAIL,
    then the execute's `duration:` line."""
    detail = params_detail(values) if values else None
    if parse:
        yield "LOG", f"duration: {r.dur()} ms  parse {name}: {sql}"
    yield "LOG", f"duration: {r.dur()} ms  bind {name}: {sql}"
    if detail:
        yield "DETAIL", detail
    yield "LOG", f"execute {name}: {sql}"
    if detail:
        yield "DETAIL", detail
    yield "LOG", f"duration: {r.dur()} ms"


# ------------------------------------------------------------------ Django shop (simple)

ORDER_COLS = '"shop_order"."id", "shop_order"."customer_id", "shop_order"."status", "shop_order"."total", "shop_order"."created_at"'
ITEM_COLS = '"shop_orderitem"."id", "shop_orderitem"."order_id", "shop_orderitem"."product_id", "shop_orderitem"."quantity", "shop_orderitem"."unit_price"'


def django_tags(r, route):
    return (
        f" /*controller='{route[0]}',db_driver='django.db.backends.postgresql',"
        f"framework='django%3A5.2',route='{route[1]}',traceparent='00-{r.hex(32)}-{r.hex(16)}-01'*/"
    )


def django_request(r):
    kind = r.n(0, 9)
    tagged = r.chance(0.6)
    route = r.pick([("orders", "%5Eorders/%24"), ("dashboard", "%5Edashboard/%24"), ("posts", "%5Eposts/%24")])
    tag = django_tags(r, route) if tagged else ""
    customer = r.id()
    yield from simple(r, f'SELECT "auth_user"."id", "auth_user"."username", "auth_user"."email" FROM "auth_user" WHERE "auth_user"."id" = {r.id()} LIMIT 21{tag}')
    orders = [r.id(50_000_000) for _ in range(r.n(5, 25))]
    if kind <= 2:  # N+1 read: items per order
        yield from simple(r, f'SELECT {ORDER_COLS} FROM "shop_order" WHERE "shop_order"."customer_id" = {customer} ORDER BY "shop_order"."created_at" DESC LIMIT 25{tag}')
        for order in orders:
            yield from simple(r, f'SELECT {ITEM_COLS} FROM "shop_orderitem" WHERE "shop_orderitem"."order_id" = {order}{tag}')
    elif kind <= 4:  # clean twin: prefetch_related, one IN list
        yield from simple(r, f'SELECT {ORDER_COLS} FROM "shop_order" WHERE "shop_order"."customer_id" = {customer} ORDER BY "shop_order"."created_at" DESC LIMIT 25{tag}')
        ids = ", ".join(map(str, orders))
        yield from simple(r, f'SELECT {ITEM_COLS} FROM "shop_orderitem" WHERE "shop_orderitem"."order_id" IN ({ids}){tag}')
    elif kind == 5:  # count in loop
        posts = [r.id() for _ in range(r.n(5, 20))]
        yield from simple(r, f'SELECT "blog_post"."id", "blog_post"."title" FROM "blog_post" ORDER BY "blog_post"."created_at" DESC LIMIT 20{tag}')
        for post in posts:
            yield from simple(r, f'SELECT COUNT(*) AS "__count" FROM "blog_comment" WHERE "blog_comment"."post_id" = {post}{tag}')
    elif kind == 6:  # N+1 write inside a transaction
        yield from simple(r, "BEGIN")
        for _ in range(r.n(5, 15)):
            yield from simple(r, f'UPDATE "shop_product" SET "stock" = {r.n(0, 500)} WHERE "shop_product"."id" = {r.id()}{tag}')
        yield from simple(r, "COMMIT")
    else:  # dashboard of different queries
        yield from simple(r, f'SELECT COUNT(*) AS "__count" FROM "shop_order" WHERE "shop_order"."status" = \'pending\'{tag}')
        yield from simple(r, f'SELECT SUM("shop_order"."total") AS "total__sum" FROM "shop_order" WHERE "shop_order"."created_at" >= \'2026-11-{r.n(1, 20):02d}T00:00:00+00:00\'::timestamptz{tag}')
        yield from simple(r, f'SELECT "shop_product"."id", "shop_product"."name" FROM "shop_product" WHERE "shop_product"."stock" < {r.n(1, 10)} ORDER BY "shop_product"."stock" ASC LIMIT 10{tag}')
        if r.chance(0.02):  # logged as a statement, then the error; no duration line
            bad = 'SELECT "shop_order"."totl" FROM "shop_order" LIMIT 1'
            yield "LOG", "statement: " + bad
            yield "ERROR", "column shop_order.totl does not exist at character 8"
            yield "STATEMENT", bad


# ------------------------------------------------------------------ Rails (named prepared)

RAILS = {
    "user": 'SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2',
    "posts": 'SELECT "posts".* FROM "posts" WHERE "posts"."author_id" = $1 ORDER BY "posts"."created_at" DESC LIMIT $2',
    "comments": 'SELECT "comments".* FROM "comments" WHERE "comments"."post_id" = $1',
    "author": 'SELECT "authors".* FROM "authors" WHERE "authors"."id" = $1 LIMIT $2',
    "insert": 'INSERT INTO "audit_events" ("user_id", "action", "created_at") VALUES ($1, $2, $3) RETURNING "id"',
    "setting": 'SELECT "settings".* FROM "settings" WHERE "settings"."key" = $1 LIMIT $2',
}


class RailsSession:
    """Rails keeps one named prepared statement (a1, a2, ...) per SQL per connection."""

    def __init__(self):
        self.names = {}

    def run(self, r, key, values, comment=""):
        sql = RAILS[key] + comment
        name = self.names.get(sql)
        fresh = name is None
        if fresh:
            name = f"a{len(self.names) + 1}"
            self.names[sql] = name
        yield from extended(r, sql, values, name=name, parse=fresh)

    def request(self, r):
        kind = r.n(0, 9)
        comment = f" /*application:Blog,controller:posts,action:{r.pick(['index', 'show'])}*/" if r.chance(0.5) else ""
        yield from self.run(r, "user", [r.id(), 1], comment)
        posts = [r.id() for _ in range(r.n(5, 20))]
        yield from self.run(r, "posts", [r.id(), 20], comment)
        if kind <= 3:  # N+1 comments per post
            for post in posts:
                yield from self.run(r, "comments", [post], comment)
        elif kind == 4:  # the same author looked up per post: repeated identical
            author = r.id()
            for _ in posts:
                yield from self.run(r, "author", [author, 1], comment)
        elif kind == 5:  # MN+1: comments and author per post, interleaved
            for post in posts:
                yield from self.run(r, "comments", [post], comment)
                yield from self.run(r, "author", [r.id(), 1], comment)
        elif kind == 6:  # N+1 writes
            yield from simple(r, "BEGIN")
            for post in posts:
                yield from self.run(r, "insert", [post, "viewed", f"2026-11-21 10:{r.n(10, 59)}:00"], comment)
            yield from simple(r, "COMMIT")
        else:  # clean: one batched preload
            binds = ", ".join(f"${i}" for i in range(1, len(posts) + 1))
            sql = f'SELECT "comments".* FROM "comments" WHERE "comments"."post_id" IN ({binds}){comment}'
            yield from extended(r, sql, posts)
            yield from self.run(r, "setting", ["theme", 1], comment)


# ------------------------------------------------------------------ Hibernate (unnamed)

def hibernate_request(r):
    kind = r.n(0, 5)
    yield from extended(r, "select o1_0.id,o1_0.customer_id,o1_0.status,o1_0.total from orders o1_0 where o1_0.customer_id=$1", [r.id()])
    lines = [r.id() for _ in range(r.n(5, 30))]
    if kind <= 2:  # lazy loading: N+1
        for line in lines:
            yield from extended(r, "select l1_0.id,l1_0.order_id,l1_0.sku,l1_0.qty from order_line l1_0 where l1_0.order_id=$1", [line])
    elif kind == 3:  # @BatchSize(16): chunks, clean
        for start in range(0, len(lines), 16):
            chunk = lines[start:start + 16]
            yield from extended(r, "select l1_0.id,l1_0.order_id,l1_0.sku,l1_0.qty from order_line l1_0 where l1_0.order_id = any ($1)", ["{" + ",".join(map(str, chunk)) + "}"])
    else:  # join fetch, clean
        yield from extended(r, "select o1_0.id,l1_0.order_id,l1_0.id,l1_0.sku,l1_0.qty from orders o1_0 left join order_line l1_0 on o1_0.id=l1_0.order_id where o1_0.id=$1", [r.id()])


# ------------------------------------------------------------------ psycopg 3 worker

class Psycopg3Session:
    """psycopg 3 prepares a statement server-side after it ran 5 times (`_pg3_n`)."""

    def __init__(self):
        self.runs = {}
        self.prepared = {}

    def run(self, r, sql, values):
        if sql in self.prepared:
            yield from extended(r, sql, values, name=self.prepared[sql], parse=False)
            return
        count = self.runs.get(sql, 0) + 1
        self.runs[sql] = count
        if count >= 5:
            name = f"_pg3_{len(self.prepared)}"
            self.prepared[sql] = name
            yield from extended(r, sql, values, name=name, parse=True)
        else:
            yield from extended(r, sql, values)

    def request(self, r):
        job = r.id()
        yield from simple(r, "BEGIN")
        yield from self.run(r, "SELECT id, payload FROM jobs WHERE id = $1 FOR UPDATE SKIP LOCKED", [job])
        if r.chance(0.5):  # N+1 insert loop
            for i in range(r.n(5, 40)):
                yield from self.run(r, "INSERT INTO line_items (job_id, position, sku) VALUES ($1, $2, $3)", [job, i, f"SKU-{r.n(10000, 99999)}"])
        else:  # clean: one multi-row insert
            rows = r.n(5, 40)
            values = ", ".join(f"(${3 * i + 1}, ${3 * i + 2}, ${3 * i + 3})" for i in range(rows))
            params = []
            for i in range(rows):
                params += [job, i, f"SKU-{r.n(10000, 99999)}"]
            yield from extended(r, f"INSERT INTO line_items (job_id, position, sku) VALUES {values}", params)
        yield from self.run(r, "UPDATE jobs SET done_at = now() WHERE id = $1", [job])
        yield from simple(r, "COMMIT")


# ------------------------------------------------------------------ reporting (multi-line)

def report_request(r):
    days = r.n(1, 30)
    yield from simple(
        r,
        "SELECT\n\t    date_trunc('day', o.created_at) AS day,\n\t    count(*) AS orders,\n\t"
        "    sum(o.total) AS revenue\n\tFROM orders o\n\tJOIN customers c ON c.id = o.customer_id\n\t"
        f"WHERE o.created_at > now() - interval '{days} days'\n\t  AND c.region = '{r.pick(['eu', 'us', 'apac'])}'\n\t"
        "GROUP BY 1\n\tORDER BY 1;",
    )
    yield from simple(r, "WITH recent AS (\n\t    SELECT customer_id, max(created_at) AS last_order FROM orders GROUP BY customer_id\n\t)\n\t"
                      f"SELECT count(*) FROM recent WHERE last_order < now() - interval '{days} days';")


# ------------------------------------------------------------------ sessions and the log

APPS = [
    # (weight, user, database, application_name, kind)
    (40, "shop", "shop", "shop-web", "django"),
    (30, "blog", "blog", "blog-puma", "rails"),
    (15, "billing", "billing", "billing-svc", "hibernate"),
    (10, "worker", "shop", "shop-worker", "psycopg3"),
    (5, "analyst", "shop", "metabase", "report"),
]


IDLE = "IDLE"  # pseudo-severity: the session is idle for `message` milliseconds


def session_records(r, kind):
    """Records of one pooled session: many requests back to back, then it closes."""
    state = RailsSession() if kind == "rails" else Psycopg3Session() if kind == "psycopg3" else None
    for request in range(r.n(20, 400)):
        if request:
            # think time between requests on a pooled connection: what ends a request
            # when the SQL carries no tags
            yield IDLE, r.n(300, 4000)
        if kind == "django":
            yield from django_request(r)
        elif kind == "rails":
            yield from state.request(r)
        elif kind == "hibernate":
            yield from hibernate_request(r)
        elif kind == "psycopg3":
            yield from state.request(r)
        else:
            yield from report_request(r)


class Session:
    def __init__(self, r, pid, clock):
        weights = [a[0] for a in APPS]
        _, user, db, app, kind = r.rng.choices(APPS, weights)[0]
        self.pid = pid
        self.user, self.db, self.app = user, db, app
        self.host = f"10.0.{r.n(0, 9)}.{r.n(2, 250)}"
        self.port = r.n(30000, 60000)
        self.started = clock.ms
        self.prefix = f" [{pid}] {user}@{db} "
        self.records = session_records(r, kind)
        self.idle_until = 0


def write_log(out, size_bytes, seed, concurrency):
    r = Rand(seed)
    clock = Clock()
    next_pid = 10_000
    sessions = []
    written = 0
    buf = []
    buffered = 0

    def emit(line):
        nonlocal buffered
        buf.append(line)
        buffered += len(line)

    def open_session():
        nonlocal next_pid
        next_pid += r.n(1, 7)
        s = Session(r, next_pid, clock)
        stamp = clock.stamp()
        emit(f"{stamp} [{s.pid}] [unknown]@[unknown] LOG:  connection received: host={s.host} port={s.port}\n")
        emit(f"{stamp} [{s.pid}] {s.user}@{s.db} LOG:  connection authorized: user={s.user} database={s.db} application_name={s.app}\n")
        return s

    def close_session(s):
        elapsed = clock.ms - s.started
        hours, rest = divmod(elapsed, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        emit(
            f"{clock.stamp()} [{s.pid}] {s.user}@{s.db} LOG:  disconnection: session time: "
            f"{hours}:{minutes:02d}:{rest / 1000:06.3f} user={s.user} database={s.db} host={s.host} port={s.port}\n"
        )

    for _ in range(concurrency):
        sessions.append(open_session())
    rng = r.rng
    while written + buffered < size_bytes:
        index = rng.randrange(len(sessions))
        s = sessions[index]
        if s.idle_until > clock.ms:
            clock.advance(rng.randrange(0, 2))
            continue
        # one statement's records stay together: PostgreSQL writes them from one backend
        clock.advance(rng.randrange(0, 3))
        stamp = clock.stamp()
        try:
            severity, message = next(s.records)
            if severity == IDLE:
                s.idle_until = clock.ms + message
                continue
            while True:
                emit(f"{stamp}{s.prefix}{severity}:  {message}\n")
                if severity == "LOG" and message.startswith("duration: ") and "  " not in message[10:]:
                    break  # a bare duration line ends a statement
                if severity == "STATEMENT":
                    break
                severity, message = next(s.records)
        except StopIteration:
            close_session(s)
            sessions[index] = open_session()
        if buffered >= 1 << 20:
            out.write("".join(buf))
            written += buffered
            buf.clear()
            buffered = 0
    out.write("".join(buf))
    return written + buffered


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=500, help="stop after this many MB (10^6 bytes)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--sessions", type=int, default=64, help="concurrent sessions interleaved")
    parser.add_argument("-o", "--output", default="-")
    args = parser.parse_args()
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="\n")
    with out:
        total = write_log(out, int(args.size_mb * 1e6), args.seed, args.sessions)
    print(f"gen-pg-log: wrote {total / 1e6:.1f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
