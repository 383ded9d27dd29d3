"""The accuracy corpus's Python stacks: real ORMs and drivers running labelled requests against
the throwaway PostgreSQL of crates/cli/tests/accuracy.rs.

    python corpus.py <stack> <dsn> <untagged|tagged> <labels.jsonl>

Stacks: `django` (Django ORM on psycopg 3, one persistent connection: CONN_MAX_AGE),
`asyncpg` (asyncpg with a pool of 3, two request streams at once, asyncio.gather fan-out),
`worker` (a job-queue worker on psycopg 3 claiming jobs with FOR UPDATE SKIP LOCKED); on
MariaDB (crates/cli/tests/accuracy_mariadb.rs): `django-mariadb` (the same Django requests on
PyMySQL through its MySQLdb shim, one persistent connection with CONN_HEALTH_CHECKS) and
`sqlalchemy` (SQLAlchemy's ORM on PyMySQL, a QueuePool of 3 with pre-ping, two request streams
in two threads, a Session per request, lookups fanned out over worker threads),
`worker-mariadb` (the `worker` jobs on PyMySQL: each claim a transaction of a SKIP LOCKED read
and an UPDATE, GET_LOCK polling); and
`sqlalchemy-pg`, the same SQLAlchemy requests on psycopg 3 against PostgreSQL.

Every statement of a request carries `/*qc_req='<id>'*/`: ground truth for the harness,
which querycomb's grouping ignores (only traceparent/route/controller/action group). In
`tagged` mode the comment also carries a sqlcommenter `traceparent` unique to the request.
Each request appends one JSON line to the labels file: its id, stack, scenario, and the
finding it must produce (`expect`, `n`) or none. Pauses between requests are 10–200 ms from
a seeded generator: deterministic runs, traffic like a busy keep-alive connection.
"""

import asyncio
import contextvars
import json
import random
import sys
import threading
import time

LABEL = contextvars.ContextVar("label", default=None)
MODE = "untagged"


def comment():
    label = LABEL.get()
    if label is None:
        return ""
    tags = [f"qc_req='{label['id']}'"]
    if MODE == "tagged":
        tags.append(f"traceparent='00-{label['trace']}-{label['span']}-01'")
    return " /*" + ",".join(tags) + "*/"


class Labels:
    def __init__(self, path, stack):
        self.out = open(path, "a", encoding="utf-8")
        self.stack = stack
        self.serial = 0
        self.rng = random.Random(f"{stack}-{MODE}")
        self.lock = threading.Lock()  # request streams on threads (the sqlalchemy stack)

    def start(self, scenario, expect=None, n=0):
        with self.lock:
            return self._start(scenario, expect, n)

    def _start(self, scenario, expect, n):
        self.serial += 1
        label = {
            "id": f"{self.stack}-{MODE[0]}-{self.serial}",
            "stack": self.stack,
            "mode": MODE,
            "scenario": scenario,
            "expect": expect,
            "n": n,
            "trace": "%032x" % self.rng.getrandbits(128),
            "span": "%016x" % self.rng.getrandbits(64),
        }
        self.out.write(json.dumps(label) + "\n")
        self.out.flush()
        LABEL.set(label)
        return label

    def pause(self):
        LABEL.set(None)
        return self.rng.uniform(0.010, 0.200)


# ---------------------------------------------------------------- Django ORM on psycopg 3


def django_stack(dsn, labels, engine="postgresql"):
    import django
    from django.conf import settings

    params = dict(p.split("=", 1) for p in dsn.split())
    database = {
        "ENGINE": f"django.db.backends.{engine}",
        "NAME": params["dbname"],
        "USER": params["user"],
        "PASSWORD": params.get("password", ""),
        "HOST": params["host"],
        "PORT": params["port"],
        "CONN_MAX_AGE": None,
    }
    if engine == "mysql":
        # PyMySQL as MySQLdb (pure Python, no C client library), and the health check that
        # Django documents with persistent connections: a ping before a request reuses it.
        import pymysql

        pymysql.install_as_MySQLdb()
        database["CONN_HEALTH_CHECKS"] = True
    settings.configure(DATABASES={"default": database}, INSTALLED_APPS=[], USE_TZ=True)
    django.setup()
    from django.core import signals
    from django.db import connection, models

    class Customer(models.Model):
        name = models.TextField()

        class Meta:
            app_label = "shop"
            db_table = "customers"
            managed = False

    class Order(models.Model):
        customer = models.ForeignKey(Customer, on_delete=models.DO_NOTHING)
        status = models.TextField()

        class Meta:
            app_label = "shop"
            db_table = "orders"
            managed = False

    class Post(models.Model):
        title = models.TextField()

        class Meta:
            app_label = "shop"
            db_table = "posts"
            managed = False

    class Comment(models.Model):
        post = models.ForeignKey(Post, on_delete=models.DO_NOTHING)
        body = models.TextField()

        class Meta:
            app_label = "shop"
            db_table = "comments"
            managed = False

    class Setting(models.Model):
        name = models.TextField(primary_key=True)
        value = models.TextField()

        class Meta:
            app_label = "shop"
            db_table = "settings"
            managed = False

    class Event(models.Model):
        kind = models.TextField()

        class Meta:
            app_label = "shop"
            db_table = "events"
            managed = False

    def tag_sql(execute, sql, params, many, context):
        return execute(sql + comment(), params, many, context)

    connection.execute_wrappers.append(tag_sql)

    # Start-up: schema introspection, as `inspectdb` and admin tooling do (tooling).
    labels.start("startup-introspection")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            connection.introspection.get_table_description(cursor, table)
            connection.introspection.get_constraints(cursor, table)
    time.sleep(labels.pause())

    offset = [0]

    def orders_page(k):
        offset[0] = (offset[0] + 17) % 300
        return Order.objects.filter(status="open").order_by("id")[offset[0]: offset[0] + k]

    def n_plus_one(k):
        labels.start("orm-lazy-fk", "n_plus_one", k)
        return [o.customer.name for o in orders_page(k)]

    def fixed(k):
        labels.start("orm-select-related")
        return [o.customer.name for o in orders_page(k).select_related("customer")]

    def prefetched(k):
        labels.start("orm-prefetch")
        orders = list(orders_page(k).prefetch_related("customer"))
        return [o.customer.name for o in orders]

    def chunked():
        labels.start("chunked-prefetch")
        ids = list(Order.objects.order_by("id").values_list("customer_id", flat=True)[:300])
        names = []
        for start in range(0, len(ids), 100):
            names += list(Customer.objects.filter(id__in=ids[start: start + 100]).values_list("name", flat=True))
        return names

    def keyset():
        labels.start("keyset-pagination")
        last = 0
        for _ in range(6):
            page = list(Order.objects.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:50])
            last = page[-1]

    def count_loop(k):
        labels.start("orm-count-per-row", "count_in_loop", k)
        return [p.comment_set.count() for p in Post.objects.order_by("id")[:k]]

    def count_fixed(k):
        labels.start("orm-annotate-count")
        ids = list(Post.objects.order_by("id").values_list("id", flat=True)[:k])
        return list(Comment.objects.filter(post_id__in=ids).values("post_id").annotate(n=models.Count("id")))

    def memo_missing():
        labels.start("orm-same-get", "repeated_identical", 6)
        return [Setting.objects.get(name="currency").value for _ in range(6)]

    def health():
        labels.start("health-check")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        Setting.objects.get(name="maintenance")

    def write_loop(k):
        labels.start("orm-create-per-row", "n_plus_one_write", k)
        for i in range(k):
            Event.objects.create(kind=f"click {i}")

    def bulk(k):
        labels.start("orm-bulk-create")
        Event.objects.bulk_create([Event(kind=f"view {i}") for i in range(k)])

    plan = []
    for k in (6, 9, 12, 7):
        plan += [lambda k=k: n_plus_one(k), lambda k=k: fixed(k), lambda k=k: prefetched(k),
                 health, health, lambda k=k: count_loop(k), lambda k=k: count_fixed(k),
                 chunked, keyset, memo_missing, health, lambda k=k: write_loop(k), lambda k=k: bulk(k)]
    for request in plan:
        # What Django's request handler sends around every request (connection upkeep).
        signals.request_started.send(sender=None)
        request()
        signals.request_finished.send(sender=None)
        time.sleep(labels.pause())
    connection.close()


# ------------------------------------------------------------------ asyncpg with a pool

CUSTOMER = "SELECT id, name FROM customers WHERE id = $1"
ORDERS = "SELECT id, customer_id FROM orders WHERE status = $1 ORDER BY id LIMIT $2 OFFSET $3"


async def asyncpg_stack(dsn, labels):
    import asyncpg

    params = dict(p.split("=", 1) for p in dsn.split())
    pool = await asyncpg.create_pool(
        host=params["host"], port=int(params["port"]), user=params["user"],
        password=params.get("password") or None, database=params["dbname"],
        min_size=3, max_size=3,
    )

    def q(sql):
        return sql + comment()

    async def n_plus_one(k, offset):
        labels.start("acquire-loop", "n_plus_one", k)
        async with pool.acquire() as conn:
            orders = await conn.fetch(q(ORDERS), "open", k, offset)
            for o in orders:
                await conn.fetchrow(q(CUSTOMER), o["customer_id"])

    async def fixed(k, offset):
        labels.start("acquire-any")
        async with pool.acquire() as conn:
            orders = await conn.fetch(q(ORDERS), "open", k, offset)
            ids = [o["customer_id"] for o in orders]
            await conn.fetch(q("SELECT id, name FROM customers WHERE id = ANY($1::int[])"), ids)

    async def fan_out(k, offset):
        labels.start("gather-fan-out", "n_plus_one", k)
        orders = await pool.fetch(q(ORDERS), "open", k, offset)
        await asyncio.gather(*(pool.fetchrow(q(CUSTOMER), o["customer_id"]) for o in orders))

    async def health():
        labels.start("health-check")
        await pool.fetchval(q("SELECT 1"))

    async def memo_missing():
        labels.start("same-setting", "repeated_identical", 5)
        async with pool.acquire() as conn:
            for _ in range(5):
                await conn.fetchval(q("SELECT value FROM settings WHERE name = $1"), "theme")

    async def stream(name, ks):
        rng = random.Random(name)
        for i, k in enumerate(ks):
            offset = (i * 31) % 300
            for request in (n_plus_one, fixed, fan_out):
                await request(k, offset)
                await asyncio.sleep(rng.uniform(0.010, 0.200))
                LABEL.set(None)
            for request in (health, health, memo_missing):
                await request()
                await asyncio.sleep(rng.uniform(0.010, 0.200))
                LABEL.set(None)

    await asyncio.gather(
        asyncio.create_task(stream("a", (6, 9, 12))),
        asyncio.create_task(stream("b", (8, 10, 7))),
    )
    await pool.close()


# ------------------------------------------------------------ a job-queue worker (psycopg 3)

CLAIM = (
    "UPDATE jobs SET state = 'running' WHERE id = (SELECT id FROM jobs WHERE state = 'queued' "
    "ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id, payload_id, kind"
)


def worker_stack(dsn, labels):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        # Enqueue: one multi-row insert (a batch, not a loop).
        labels.start("enqueue-batch")
        kinds = ["report" if i % 7 == 3 else "mail" for i in range(21)]
        values = ", ".join(f"('queued', {1 + i}, '{kind}')" for i, kind in enumerate(kinds))
        conn.execute("INSERT INTO jobs (state, payload_id, kind) VALUES " + values + comment())
        time.sleep(labels.pause())
        # Work until the queue is empty: jobs back to back, no pause between them.
        while True:
            label = labels.start("claim")
            row = conn.execute(CLAIM + comment()).fetchone()
            if row is None:
                break
            job_id, payload_id, kind = row
            conn.execute("SELECT data FROM payloads WHERE id = %s" + comment(), (payload_id,)).fetchone()
            if kind == "report":
                label["scenario"] = "report-job"
                # The report loads each order's items one by one: an N+1 inside one job.
                orders = conn.execute("SELECT id FROM orders WHERE customer_id <= %s ORDER BY id" + comment(), (8,)).fetchall()
                for (order_id,) in orders:
                    conn.execute("SELECT sku FROM items WHERE order_id = %s" + comment(), (order_id,)).fetchall()
                labels.out.write(json.dumps({"amend": label["id"], "scenario": "report-job", "expect": "n_plus_one", "n": len(orders)}) + "\n")
            else:
                label["scenario"] = "mail-job"
            conn.execute("UPDATE jobs SET state = 'done' WHERE id = %s" + comment(), (job_id,))
        # The queue is empty: poll it a few times, 20 ms apart.
        for _ in range(6):
            time.sleep(0.020)
            labels.start("empty-poll")
            conn.execute(CLAIM + comment()).fetchone()
        # Advisory-lock polling for a singleton task.
        for _ in range(6):
            labels.start("advisory-poll")
            conn.execute("SELECT pg_try_advisory_lock(%s)" + comment(), (42,)).fetchone()
        LABEL.set(None)

# ------------------------------------------------- a job-queue worker on MariaDB (PyMySQL)

# MariaDB has no UPDATE … RETURNING: a worker claims a job in a transaction, locking the
# oldest queued row it can (SKIP LOCKED, MariaDB 10.6+) and marking it.
CLAIM_MARIADB = (
    "SELECT id, payload_id, kind FROM jobs WHERE state = 'queued' "
    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)


def worker_mariadb_stack(dsn, labels):
    import pymysql

    params = dict(p.split("=", 1) for p in dsn.split())
    conn = pymysql.connect(
        host=params["host"], port=int(params["port"]), user=params["user"],
        password=params.get("password", ""), database=params["dbname"], autocommit=True,
    )
    with conn, conn.cursor() as cur:
        def run(sql, args=None):
            cur.execute(sql + comment(), args)
            return cur.fetchall()

        # Enqueue: one multi-row insert (a batch, not a loop).
        labels.start("enqueue-batch")
        kinds = ["report" if i % 7 == 3 else "mail" for i in range(21)]
        values = ", ".join(f"('queued', {1 + i}, '{kind}')" for i, kind in enumerate(kinds))
        run("INSERT INTO jobs (state, payload_id, kind) VALUES " + values)
        time.sleep(labels.pause())
        # Work until the queue is empty: jobs back to back, no pause between them.
        while True:
            label = labels.start("claim")
            conn.begin()
            rows = run(CLAIM_MARIADB)
            if rows:
                run("UPDATE jobs SET state = 'running' WHERE id = %s", (rows[0][0],))
            conn.commit()
            if not rows:
                break
            job_id, payload_id, kind = rows[0]
            run("SELECT data FROM payloads WHERE id = %s", (payload_id,))
            if kind == "report":
                label["scenario"] = "report-job"
                # The report loads each order's items one by one: an N+1 inside one job.
                orders = run("SELECT id FROM orders WHERE customer_id <= %s ORDER BY id", (8,))
                for (order_id,) in orders:
                    run("SELECT sku FROM items WHERE order_id = %s", (order_id,))
                labels.out.write(json.dumps({"amend": label["id"], "scenario": "report-job", "expect": "n_plus_one", "n": len(orders)}) + "\n")
            else:
                label["scenario"] = "mail-job"
            run("UPDATE jobs SET state = 'done' WHERE id = %s", (job_id,))
        # The queue is empty: poll it a few times, 20 ms apart, each claim in its transaction.
        for _ in range(6):
            time.sleep(0.020)
            labels.start("empty-poll")
            conn.begin()
            run(CLAIM_MARIADB)
            conn.commit()
        # A named lock polled for a singleton task (MySQL's advisory locks).
        for _ in range(6):
            labels.start("advisory-poll")
            run("SELECT GET_LOCK(%s, 0)", ("nightly-report",))
        LABEL.set(None)


# ------------------------------------------- SQLAlchemy ORM on PyMySQL with a QueuePool


def sqlalchemy_stack(dsn, labels, driver="mysql+pymysql"):
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import ForeignKey, String, Text, create_engine, event, func, select, text
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, joinedload, mapped_column, relationship, selectinload

    params = dict(p.split("=", 1) for p in dsn.split())
    # A pool of 3 shared by two request streams; pre-ping on check-out (MySQL's COM_PING,
    # PostgreSQL's `SELECT 1`) and the pool's rollback on check-in are SQLAlchemy's own
    # housekeeping.
    engine = create_engine(
        f"{driver}://{params['user']}:{params.get('password', '')}@{params['host']}:{params['port']}/{params['dbname']}",
        pool_size=3, max_overflow=0, pool_pre_ping=True,
    )

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def tag_sql(conn, cursor, statement, parameters, context, executemany):
        return statement + comment(), parameters

    class Base(DeclarativeBase):
        pass

    class Customer(Base):
        __tablename__ = "customers"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(Text)

    class Order(Base):
        __tablename__ = "orders"
        id: Mapped[int] = mapped_column(primary_key=True)
        customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
        status: Mapped[str] = mapped_column(String(16))
        customer: Mapped[Customer] = relationship()

    class Post(Base):
        __tablename__ = "posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(Text)

    class Comment(Base):
        __tablename__ = "comments"
        id: Mapped[int] = mapped_column(primary_key=True)
        post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
        body: Mapped[str] = mapped_column(Text)

    class Setting(Base):
        __tablename__ = "settings"
        name: Mapped[str] = mapped_column(String(64), primary_key=True)
        value: Mapped[str] = mapped_column(Text)

    class Event(Base):
        __tablename__ = "events"
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str] = mapped_column(Text)

    def orders_page(k, offset):
        return select(Order).where(Order.status == "open").order_by(Order.id).limit(k).offset(offset)

    def n_plus_one(s, k, offset):
        labels.start("lazy-load", "n_plus_one", k)
        return [o.customer.name for o in s.scalars(orders_page(k, offset))]

    def fan_out(s, k, offset):
        labels.start("thread-fan-out", "n_plus_one", k)
        ids = [o.customer_id for o in s.scalars(orders_page(k, offset))]
        s.close()  # the connection goes back to the pool before the lookups fan out

        def lookup(customer_id):
            with Session(engine) as piece:
                return piece.get(Customer, customer_id).name

        # Each lookup on a worker thread with a Session (a pooled connection) of its own,
        # in the request's context (its sqlcommenter tags).
        context = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=3) as workers:
            return list(workers.map(lambda i: context.copy().run(lookup, i), ids))

    def selectin(s, k, offset):
        labels.start("selectinload")
        return [o.customer.name for o in s.scalars(orders_page(k, offset).options(selectinload(Order.customer)))]

    def joined(s, k, offset):
        labels.start("joinedload")
        return [o.customer.name for o in s.scalars(orders_page(k, offset).options(joinedload(Order.customer)))]

    def count_loop(s, k, offset):
        labels.start("count-per-row", "count_in_loop", k)
        posts = s.scalars(select(Post).order_by(Post.id).limit(k)).all()
        return [s.scalar(select(func.count(Comment.id)).where(Comment.post_id == p.id)) for p in posts]

    def count_fixed(s, k, offset):
        labels.start("group-by-count")
        ids = s.scalars(select(Post.id).order_by(Post.id).limit(k)).all()
        return s.execute(select(Comment.post_id, func.count(Comment.id)).where(Comment.post_id.in_(ids)).group_by(Comment.post_id)).all()

    def chunked(s, k, offset):
        labels.start("chunked-in")
        ids = s.scalars(select(Order.customer_id).order_by(Order.id).limit(300)).all()
        names = []
        for start in range(0, len(ids), 100):
            names += s.scalars(select(Customer.name).where(Customer.id.in_(ids[start: start + 100]))).all()
        return names

    def keyset(s, k, offset):
        labels.start("keyset-pagination")
        last = 0
        for _ in range(6):
            last = s.scalars(select(Order.id).where(Order.id > last).order_by(Order.id).limit(50)).all()[-1]

    def memo_missing(s, k, offset):
        labels.start("same-setting", "repeated_identical", 5)
        return [s.scalar(select(Setting.value).where(Setting.name == "theme")) for _ in range(5)]

    def health(s, k, offset):
        labels.start("health-check")
        s.execute(text("SELECT 1"))

    def write_loop(s, k, offset):
        labels.start("add-flush-per-row", "n_plus_one_write", k)
        for i in range(k):
            s.add(Event(kind=f"click {i}"))
            s.flush()
        s.commit()

    def bulk(s, k, offset):
        labels.start("add-all")
        s.add_all([Event(kind=f"view {i}") for i in range(k)])
        s.commit()

    errors = []

    def stream(name, ks):
        try:
            rng = random.Random(f"{name}-{MODE}")
            for i, k in enumerate(ks):
                offset = (i * 31 + (7 if name == "b" else 0)) % 300
                for request in (n_plus_one, selectin, joined, fan_out, health, count_loop, count_fixed,
                                chunked, keyset, memo_missing, health, write_loop, bulk):
                    # A Session per request: a connection checked out of the pool (pinged),
                    # given back at the end (rolled back, unless the request committed).
                    with Session(engine) as s:
                        request(s, k, offset)
                    LABEL.set(None)
                    time.sleep(rng.uniform(0.010, 0.200))
        except Exception as e:  # the other stream must not hide it
            errors.append(e)
            raise

    threads = [threading.Thread(target=stream, args=args) for args in (("a", (6, 9, 12)), ("b", (8, 10, 7)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    if errors:
        raise errors[0]


def main():
    global MODE
    stack, dsn, MODE, labels_path = sys.argv[1:5]
    labels = Labels(labels_path, stack)
    if stack == "django":
        django_stack(dsn, labels)
    elif stack == "django-mariadb":
        django_stack(dsn, labels, engine="mysql")
    elif stack == "sqlalchemy":
        sqlalchemy_stack(dsn, labels)
    elif stack == "sqlalchemy-pg":
        sqlalchemy_stack(dsn, labels, driver="postgresql+psycopg")
    elif stack == "asyncpg":
        asyncio.run(asyncpg_stack(dsn, labels))
    elif stack == "worker":
        worker_stack(dsn, labels)
    elif stack == "worker-mariadb":
        worker_mariadb_stack(dsn, labels)
    else:
        sys.exit(f"unknown stack {stack}")


if __name__ == "__main__":
    main()
