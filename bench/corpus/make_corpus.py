#!/usr/bin/env python3
"""Generates bench/corpus/orm-queries.jsonl: realistic ORM-generated SQL for the
fingerprinting benchmark and the agreement check against pg_query.

Each line is a JSON object {"sql": ..., "dialect": "postgres"|"mysql", "shape": ...}.
`shape` names the template a query came from; every template yields several variants
that differ only in literal values, bind numbers, list lengths or comments, so a good
fingerprint puts all variants of one shape in one group. A few templates are deliberate
near-twins of another (same columns in another order, other cast type, other table under
the same alias, partition tables) so the check can show where fingerprinters disagree.

Deterministic: a fixed seed, no clock, no environment. Stdlib only.
    python3 bench/corpus/make_corpus.py            # writes next to this script
    python3 bench/corpus/make_corpus.py -o FILE    # or to FILE ("-" for stdout)
"""

import argparse
import json
import random
import sys
from pathlib import Path

SEED = 20261121
VARIANTS = 24  # per template; list-length templates vary lengths across variants

PG = "postgres"
MY = "mysql"


class Gen:
    """Holds the random source and small helpers for realistic literal values."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def id(self):
        return self.rng.randint(1, 2_000_000)

    def ids(self, n):
        return self.rng.sample(range(1, 5_000_000), n)

    def word(self):
        return self.rng.choice(
            ["paid", "pending", "shipped", "refunded", "draft", "active", "archived", "o'brien"]
        )

    def email(self):
        return f"user{self.rng.randint(1, 99999)}@example.{self.rng.choice(['com', 'org', 'io'])}"

    def ts(self):
        return (
            f"2026-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
            f"T{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}:"
            f"{self.rng.randint(0, 59):02d}.{self.rng.randint(0, 999999):06d}+00:00"
        )

    def money(self):
        return f"{self.rng.randint(0, 9999)}.{self.rng.randint(0, 99):02d}"

    def hex(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def traceparent(self):
        return f"00-{self.hex(32)}-{self.hex(16)}-01"

    def list_len(self, variant, lengths):
        return lengths[variant % len(lengths)]


def sq(s):
    """A SQL string literal with standard quote doubling."""
    return "'" + s.replace("'", "''") + "'"


def my_sq(s):
    """A MySQL string literal as Sequelize escapes it (backslash style)."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dj(table, cols):
    return ", ".join(f'"{table}"."{c}"' for c in cols)


ORDER_COLS = ["id", "customer_id", "status", "total", "currency", "created_at", "updated_at"]
POST_COLS = ["id", "author_id", "title", "slug", "body", "published", "created_at"]
USER_COLS = ["id", "password", "last_login", "is_superuser", "username", "email", "is_active"]


# ---------------------------------------------------------------- Django (psycopg2 interpolates)

def django_lookup(g, v):
    return f'SELECT {dj("shop_order", ORDER_COLS)} FROM "shop_order" WHERE "shop_order"."customer_id" = {g.id()} LIMIT 21'


def django_get_by_pk(g, v):
    return f'SELECT {dj("auth_user", USER_COLS)} FROM "auth_user" WHERE "auth_user"."id" = {g.id()} LIMIT 21'


def django_prefetch_in(g, v):
    n = g.list_len(v, [1, 2, 7, 20, 64, 100])
    ids = ", ".join(str(i) for i in g.ids(n))
    cols = dj("shop_orderitem", ["id", "order_id", "product_id", "quantity", "unit_price"])
    return f'SELECT {cols} FROM "shop_orderitem" WHERE "shop_orderitem"."order_id" IN ({ids})'


def django_orderitem_eq(g, v):
    # the N+1 child that django_prefetch_in batches: the same query with `=` instead of IN
    cols = dj("shop_orderitem", ["id", "order_id", "product_id", "quantity", "unit_price"])
    return f'SELECT {cols} FROM "shop_orderitem" WHERE "shop_orderitem"."order_id" = {g.id()}'


def django_subquery_blog(g, v):
    # Django aliases subquery tables U0, U1, ...: the same alias over different tables
    return (
        f'SELECT {dj("auth_user", ["id", "username"])} FROM "auth_user" WHERE "auth_user"."id" IN '
        f'(SELECT U0."user_id" FROM "blog_membership" U0 WHERE U0."team_id" = {g.id()})'
    )


def django_subquery_shop(g, v):
    return (
        f'SELECT {dj("auth_user", ["id", "username"])} FROM "auth_user" WHERE "auth_user"."id" IN '
        f'(SELECT U0."user_id" FROM "shop_membership" U0 WHERE U0."team_id" = {g.id()})'
    )


def django_count(g, v):
    return f'SELECT COUNT(*) AS "__count" FROM "blog_comment" WHERE "blog_comment"."post_id" = {g.id()}'


def django_exists(g, v):
    return f'SELECT 1 AS "a" FROM "shop_cart" WHERE "shop_cart"."user_id" = {g.id()} LIMIT 1'


def django_select_related(g, v):
    cols = dj("blog_post", POST_COLS) + ", " + dj("auth_user", ["id", "username", "email"])
    return (
        f'SELECT {cols} FROM "blog_post" INNER JOIN "auth_user" ON ("blog_post"."author_id" = "auth_user"."id") '
        f'WHERE ("blog_post"."published" AND "blog_post"."created_at" >= {sq(g.ts())}::timestamptz) '
        f'ORDER BY "blog_post"."created_at" DESC LIMIT 20 OFFSET {20 * g.rng.randint(0, 40)}'
    )


def django_bulk_create(g, v):
    rows = g.list_len(v, [50, 50, 12, 50, 3, 50])
    values = ", ".join(
        f"({sq(g.rng.choice(['click', 'view', 'buy']))}, {sq(json.dumps({'x': g.id()}))}::jsonb, {sq(g.ts())}::timestamptz)"
        for _ in range(rows)
    )
    return f'INSERT INTO "shop_event" ("kind", "payload", "created_at") VALUES {values} RETURNING "shop_event"."id"'


def django_update(g, v):
    return f'UPDATE "shop_product" SET "stock" = {g.rng.randint(0, 500)}, "updated_at" = {sq(g.ts())}::timestamptz WHERE "shop_product"."id" = {g.id()}'


def django_commented(g, v):
    route = g.rng.choice(["%5Eorders/%3Cint%3Apk%3E/%24", "%5Eorders/%24"])
    comment = (
        f"/*controller='order_detail',db_driver='django.db.backends.postgresql',"
        f"framework='django%3A5.2',route='{route}',traceparent='{g.traceparent()}'*/"
    )
    return f'SELECT {dj("shop_order", ORDER_COLS)} FROM "shop_order" WHERE "shop_order"."id" = {g.id()} LIMIT 21 {comment}'


def django_filter_status(g, v):
    return (
        f'SELECT {dj("shop_order", ORDER_COLS)} FROM "shop_order" WHERE ("shop_order"."customer_id" = {g.id()} '
        f'AND "shop_order"."status" = {sq(g.word())}) ORDER BY "shop_order"."created_at" DESC'
    )


# ---------------------------------------------------------------- Rails (prepared statements, binds)

def rails_find(g, v):
    return 'SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2'


def rails_find_commented(g, v):
    if v % 2:
        return f'SELECT "posts".* FROM "posts" WHERE "posts"."id" = $1 LIMIT $2 /*application:Blog,controller:posts,action:{g.rng.choice(["show", "edit"])}*/'
    return f"SELECT \"posts\".* FROM \"posts\" WHERE \"posts\".\"id\" = $1 LIMIT $2 /*action='show',application='Blog',controller='posts'*/"


def rails_preload_in(g, v):
    n = g.list_len(v, [1, 3, 10, 25, 100, 42])
    binds = ", ".join(f"${i}" for i in range(1, n + 1))
    return f'SELECT "comments".* FROM "comments" WHERE "comments"."post_id" IN ({binds})'


def rails_literal_where(g, v):
    return f'SELECT "posts".* FROM "posts" WHERE "posts"."author_id" = {g.id()} ORDER BY "posts"."created_at" DESC LIMIT 10'


def rails_insert(g, v):
    return (
        'INSERT INTO "line_items" ("order_id", "product_id", "quantity", "created_at", "updated_at") '
        'VALUES ($1, $2, $3, $4, $5) RETURNING "id"'
    )


def rails_count(g, v):
    return 'SELECT COUNT(*) FROM "comments" WHERE "comments"."post_id" = $1'


def rails_insert_all(g, v):
    rows = g.list_len(v, [50, 50, 50, 7])
    values = ",".join(
        f"({sq(g.rng.choice(['signup', 'login', 'logout']))}, {g.id()}, {sq(g.ts())}, {sq(g.ts())})"
        for _ in range(rows)
    )
    return (
        f'INSERT INTO "events" ("name","user_id","created_at","updated_at") VALUES {values} '
        f'ON CONFLICT  DO NOTHING RETURNING "id"'
    )


def rails_update(g, v):
    return 'UPDATE "users" SET "sign_in_count" = $1, "last_sign_in_at" = $2, "updated_at" = $3 WHERE "users"."id" = $4'


def rails_exists(g, v):
    return 'SELECT 1 AS one FROM "memberships" WHERE "memberships"."user_id" = $1 AND "memberships"."team_id" = $2 LIMIT $3'


# ---------------------------------------------------------------- SQLAlchemy

def sqla_pyformat(g, v):
    # what psycopg2 receives from SQLAlchemy before it interpolates (seen in app-side traces)
    return (
        "SELECT users.id AS users_id, users.name AS users_name, users.email AS users_email "
        "FROM users WHERE users.id = %(pk_1)s"
    )


def sqla_asyncpg_cast(g, v):
    # SQLAlchemy 2 + asyncpg renders binds as $n with explicit casts
    return (
        "SELECT addresses.id, addresses.email_address, addresses.user_id FROM addresses "
        "WHERE addresses.user_id = $1::INTEGER"
    )


def sqla_postcompile_in(g, v):
    n = g.list_len(v, [1, 4, 16, 100, 9])
    binds = ", ".join(f"${i}::INTEGER" for i in range(1, n + 1))
    return (
        "SELECT addresses.user_id AS addresses_user_id, addresses.id AS addresses_id, "
        f"addresses.email_address AS addresses_email_address FROM addresses WHERE addresses.user_id IN ({binds})"
    )


def sqla_selectin_literal(g, v):
    n = g.list_len(v, [2, 5, 30, 100, 11])
    ids = ", ".join(str(i) for i in g.ids(n))
    return (
        "SELECT addresses.user_id AS addresses_user_id, addresses.id AS addresses_id, "
        f"addresses.email_address AS addresses_email_address FROM addresses WHERE addresses.user_id IN ({ids})"
    )


def sqla_anon_subquery(g, v):
    return (
        "SELECT count(*) AS count_1 FROM (SELECT orders.id AS orders_id, orders.total AS orders_total "
        f"FROM orders WHERE orders.status = {sq(g.word())} AND orders.total > {g.money()}) AS anon_1"
    )


# ---------------------------------------------------------------- Hibernate 6

def hib_find(g, v):
    return "select o1_0.id,o1_0.customer_id,o1_0.status,o1_0.total from orders o1_0 where o1_0.customer_id=?"


def hib_join_fetch(g, v):
    return (
        "select p1_0.id,p1_0.title,c1_0.post_id,c1_0.id,c1_0.body from post p1_0 "
        "left join post_comment c1_0 on p1_0.id=c1_0.post_id where p1_0.id=?"
    )


def hib_batch_in(g, v):
    n = g.list_len(v, [2, 4, 8, 16, 32, 25])
    return "select c1_0.post_id,c1_0.id,c1_0.body from post_comment c1_0 where c1_0.post_id in (" + ",".join("?" * n) + ")"


def hib_batch_any(g, v):
    return "select c1_0.post_id,c1_0.id,c1_0.body from post_comment c1_0 where c1_0.post_id = any (?)"


def hib_insert(g, v):
    return "insert into order_line (order_id,product_id,quantity,id) values (?,?,?,?)"


def hib_users_alias(g, v):
    # as pgjdbc sends Hibernate's SQL to the server: `?` numbered as `$n`
    return "select u1_0.id,u1_0.name,u1_0.email from users u1_0 where u1_0.id=$1"


def hib_archive_alias(g, v):
    # same alias as hib_users_alias, other table: must stay a different shape
    return "select u1_0.id,u1_0.name,u1_0.email from users_archive u1_0 where u1_0.id=$1"


def hib_jdbc_numbered(g, v):
    # the same statement as the PG JDBC driver sends it (server log / proxy view)
    return "select o1_0.id,o1_0.customer_id,o1_0.status,o1_0.total from orders o1_0 where o1_0.customer_id=$1"


# ---------------------------------------------------------------- Sequelize

def seq_mysql_find(g, v):
    return f"SELECT `id`, `name`, `email`, `createdAt`, `updatedAt` FROM `Users` AS `User` WHERE `User`.`id` = {g.id()};"


def seq_mysql_in(g, v):
    n = g.list_len(v, [1, 6, 20, 100])
    ids = ", ".join(str(i) for i in g.ids(n))
    return f"SELECT `id`, `body`, `postId` FROM `Comments` AS `Comment` WHERE `Comment`.`postId` IN ({ids});"


def seq_mysql_string(g, v):
    return f"SELECT `id`, `name` FROM `Users` AS `User` WHERE `User`.`email` = {my_sq(g.email())} AND `User`.`status` = {my_sq(g.word())} LIMIT 1;"


def seq_mysql_insert(g, v):
    return (
        "INSERT INTO `Comments` (`id`,`body`,`postId`,`createdAt`,`updatedAt`) VALUES "
        f"(DEFAULT,{my_sq(g.word() + ' comment')},{g.id()},'2026-11-21 18:00:{g.rng.randint(10, 59)}','2026-11-21 18:00:{g.rng.randint(10, 59)}');"
    )


def seq_mysql_limit_offset(g, v):
    return f"SELECT `id`, `title` FROM `Posts` AS `Post` ORDER BY `Post`.`createdAt` DESC LIMIT {g.rng.randint(0, 500)}, 20;"


def seq_mysql_upsert(g, v):
    return (
        "INSERT INTO `Counters` (`name`,`value`) VALUES "
        f"({my_sq('page_' + str(g.id()))},{g.rng.randint(1, 9)}) ON DUPLICATE KEY UPDATE `value`=VALUES(`value`);"
    )


def seq_pg_find(g, v):
    return f'SELECT "id", "title", "userId", "createdAt", "updatedAt" FROM "Posts" AS "Post" WHERE "Post"."userId" = {g.id()};'


def seq_pg_insert(g, v):
    return (
        'INSERT INTO "Comments" ("id","body","postId","createdAt","updatedAt") VALUES (DEFAULT,$1,$2,$3,$4) '
        'RETURNING "id","body","postId","createdAt","updatedAt";'
    )


def seq_pg_commented(g, v):
    # Sequelize's sqlcommenter plugin puts the comment after the `;`
    return (
        f'SELECT "id", "title" FROM "Posts" AS "Post" WHERE "Post"."id" = {g.id()}; '
        f"/*route='%2Fposts%2F%3Aid',traceparent='{g.traceparent()}'*/"
    )


# ---------------------------------------------------------------- hand-written and tool SQL

def cte_recent(g, v):
    return (
        "WITH recent AS (SELECT customer_id, max(created_at) AS last_order FROM orders "
        f"WHERE created_at > now() - interval '{g.rng.randint(1, 90)} days' GROUP BY customer_id) "
        "SELECT c.id, c.email, r.last_order FROM customers c JOIN recent r ON r.customer_id = c.id "
        f"WHERE c.region = {sq(g.rng.choice(['eu', 'us', 'apac']))} ORDER BY r.last_order DESC LIMIT 50"
    )


def cte_recursive(g, v):
    return (
        "WITH RECURSIVE tree AS (SELECT id, parent_id, name, 1 AS depth FROM categories WHERE id = "
        f"{g.id()} UNION ALL SELECT c.id, c.parent_id, c.name, t.depth + 1 FROM categories c "
        "JOIN tree t ON c.parent_id = t.id) SELECT id, name, depth FROM tree ORDER BY depth"
    )


def join_report(g, v):
    return (
        "SELECT p.id, p.name, sum(li.quantity) AS sold, sum(li.quantity * li.unit_price) AS revenue "
        "FROM products p JOIN line_items li ON li.product_id = p.id JOIN orders o ON o.id = li.order_id "
        f"WHERE o.created_at BETWEEN {sq(g.ts()[:10])} AND {sq(g.ts()[:10])} AND o.status <> 'refunded' "
        f"GROUP BY p.id, p.name HAVING sum(li.quantity) > {g.rng.randint(1, 50)} ORDER BY revenue DESC LIMIT 100"
    )


def select_order_a(g, v):
    return f"SELECT id, name, email FROM customers WHERE id = {g.id()}"


def select_order_b(g, v):
    # select_order_a with its select list in another order: a different result shape
    return f"SELECT email, name, id FROM customers WHERE id = {g.id()}"


def coalesce_a(g, v):
    return f"SELECT coalesce(nickname, full_name) AS display FROM profiles WHERE user_id = {g.id()}"


def coalesce_b(g, v):
    # coalesce_a with its arguments swapped: a different value
    return f"SELECT coalesce(full_name, nickname) AS display FROM profiles WHERE user_id = {g.id()}"


def cast_date(g, v):
    return f"SELECT id, kind FROM events WHERE created_at >= {sq(g.ts()[:10])}::date"


def cast_timestamptz(g, v):
    # cast_date with another cast type: different semantics (midnight UTC vs session zone)
    return f"SELECT id, kind FROM events WHERE created_at >= {sq(g.ts())}::timestamptz"


def any_array_literal(g, v):
    n = g.list_len(v, [1, 3, 50, 100])
    return "SELECT id, total FROM orders WHERE customer_id = ANY(ARRAY[" + ", ".join(str(i) for i in g.ids(n)) + "])"


def any_param(g, v):
    return "SELECT id, total FROM orders WHERE customer_id = ANY($1)"


def eq_param(g, v):
    # the N+1 child whose batched form is any_param: they must not merge
    return "SELECT id, total FROM orders WHERE customer_id = $1"


def in_strings(g, v):
    n = g.list_len(v, [100, 100, 5, 60])
    skus = ", ".join(sq(f"SKU-{g.rng.randint(10000, 99999)}") for _ in range(n))
    return f"SELECT id, sku, price FROM products WHERE sku IN ({skus}) AND active = true"


def partition_a(g, v):
    return f"SELECT count(*) FROM measurements_2026_10 WHERE sensor_id = {g.id()}"


def partition_b(g, v):
    return f"SELECT count(*) FROM measurements_2026_11 WHERE sensor_id = {g.id()}"


def and_order_a(g, v):
    return f"SELECT id FROM tickets WHERE project_id = {g.id()} AND assignee_id = {g.id()}"


def and_order_b(g, v):
    return f"SELECT id FROM tickets WHERE assignee_id = {g.id()} AND project_id = {g.id()}"


def jsonb_ops(g, v):
    return (
        f"SELECT id FROM documents WHERE data @> {sq(json.dumps({'owner': g.id()}))}::jsonb "
        f"AND data ? {sq(g.rng.choice(['tags', 'labels']))} AND data #>> '{{meta,lang}}' = 'en'"
    )


def escape_strings(g, v):
    word = g.word().replace("'", "\\'")  # a backslash escape, legal inside E'..'
    return f"SELECT id FROM notes WHERE body LIKE E'%\\\\{word}%' AND flags & B'1010' = B'{g.rng.randint(0, 1)}010' AND score > -{g.rng.randint(1, 99)}.5e-3"


def dollar_quoted(g, v):
    return f"SELECT id FROM scripts WHERE source = $body$select {g.id()}; -- '{g.word()}'$body$ OR source = $${g.word()}$$"


def multiline_report(g, v):
    return (
        "SELECT\n    date_trunc('day', created_at) AS day,\n    count(*) AS n\nFROM\n    orders\n"
        f"WHERE\n    created_at > now() - interval '{g.rng.randint(1, 30)} days'\n    AND status = {sq(g.word())}\n"
        "GROUP BY 1\nORDER BY 1"
    )


def keyword_case(g, v):
    verb = ["SELECT", "select", "Select"][v % 3]
    where = ["WHERE", "where", "Where"][v % 3]
    return f"{verb} id, title FROM posts {where} slug = {sq('post-' + str(g.id()))}"


def datadog_prepended(g, v):
    return (
        f"/*dddbs='shop-db',dde='prod',ddps='web',ddpv='1.{g.rng.randint(0, 9)}.0',"
        f"traceparent='{g.traceparent()}'*/ SELECT id, status FROM orders WHERE id = {g.id()}"
    )


def upsert_pg(g, v):
    return (
        f"INSERT INTO page_views (path, day, views) VALUES ({sq('/p/' + str(g.id()))}, {sq(g.ts()[:10])}, 1) "
        "ON CONFLICT (path, day) DO UPDATE SET views = page_views.views + EXCLUDED.views RETURNING views"
    )


def delete_returning(g, v):
    return f"DELETE FROM sessions WHERE expires_at < now() - interval '1 hour' AND user_id = {g.id()} RETURNING id"


SHORT = [
    "BEGIN", "COMMIT", "ROLLBACK", "SELECT 1", "SELECT now()", "SHOW server_version",
    "SET search_path TO public", "DEALLOCATE ALL", "SAVEPOINT active_record_1",
    "RELEASE SAVEPOINT active_record_1", "SELECT pg_advisory_lock(42)", "FETCH 100 FROM c1",
]


def short(g, v):
    return SHORT[v % len(SHORT)]


TEMPLATES = [
    (PG, f) for f in [
        django_lookup, django_get_by_pk, django_prefetch_in, django_orderitem_eq,
        django_subquery_blog, django_subquery_shop, django_count, django_exists,
        django_select_related, django_bulk_create, django_update, django_commented, django_filter_status,
        rails_find, rails_find_commented, rails_preload_in, rails_literal_where, rails_insert,
        rails_count, rails_insert_all, rails_update, rails_exists,
        sqla_pyformat, sqla_asyncpg_cast, sqla_postcompile_in, sqla_selectin_literal, sqla_anon_subquery,
        hib_find, hib_join_fetch, hib_batch_in, hib_batch_any, hib_insert, hib_users_alias,
        hib_archive_alias, hib_jdbc_numbered,
        seq_pg_find, seq_pg_insert, seq_pg_commented,
        cte_recent, cte_recursive, join_report, select_order_a, select_order_b, coalesce_a, coalesce_b,
        cast_date, cast_timestamptz, any_array_literal, any_param, eq_param, in_strings,
        partition_a, partition_b, and_order_a, and_order_b, jsonb_ops, escape_strings, dollar_quoted,
        multiline_report, keyword_case, datadog_prepended, upsert_pg, delete_returning, short,
    ]
] + [
    (MY, f) for f in [
        seq_mysql_find, seq_mysql_in, seq_mysql_string, seq_mysql_insert, seq_mysql_limit_offset,
        seq_mysql_upsert,
    ]
]


# templates that emit the very statement of another template in another syntax
SAME_SHAPE = {"hib_jdbc_numbered": "hib_find"}


def shape_name(template, v):
    if template is short:
        return f"short.{SHORT[v % len(SHORT)]}"
    return SAME_SHAPE.get(template.__name__, template.__name__)


def records():
    """All corpus records, interleaved by variant so timing loops see mixed shapes."""
    g = Gen(SEED)
    for v in range(VARIANTS):
        for dialect, template in TEMPLATES:
            yield {"sql": template(g, v), "dialect": dialect, "shape": shape_name(template, v)}


def main():
    default_out = Path(__file__).with_name("orm-queries.jsonl")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(default_out))
    args = parser.parse_args()
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    with out:
        for record in records():
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
