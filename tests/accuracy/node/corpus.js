// The accuracy corpus's Node stacks: node-postgres with a pool, and a GraphQL resolver stack
// (graphql-js, with and without DataLoader), running labelled requests against the throwaway
// PostgreSQL of crates/cli/tests/accuracy.rs; and the pool stack on mysql2 against the
// throwaway MariaDB of crates/cli/tests/accuracy_mariadb.rs.
//
//   node corpus.js <pg-pool|graphql|mysql2-pool> <connection-url> <untagged|tagged> <labels.jsonl>
//
// Ground truth as in ../python/corpus.py: every statement of a request carries
// /*qc_req='<id>'*/ (ignored by querycomb's grouping), plus a sqlcommenter traceparent in
// tagged mode; one JSON line per request says which finding it must produce, if any.
'use strict';

const fs = require('node:fs');
const { AsyncLocalStorage } = require('node:async_hooks');
const { Pool } = require('pg');

const [stack, url, mode, labelsPath] = process.argv.slice(2);
const current = new AsyncLocalStorage();

// A seeded generator (mulberry32): deterministic ids and pauses.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(stack === 'graphql' ? 7 : 3 + (mode === 'tagged' ? 100 : 0));
const hex = (digits) =>
  Array.from({ length: digits }, () => Math.floor(random() * 16).toString(16)).join('');

let serial = 0;
function label(scenario, expect = null, n = 0) {
  serial += 1;
  const l = {
    id: `${stack}-${mode[0]}-${serial}`,
    stack, mode, scenario, expect, n,
    trace: hex(32),
    span: hex(16),
  };
  fs.appendFileSync(labelsPath, JSON.stringify(l) + '\n');
  return l;
}
function comment() {
  const l = current.getStore();
  if (!l) return '';
  const tags = [`qc_req='${l.id}'`];
  if (mode === 'tagged') tags.push(`traceparent='00-${l.trace}-${l.span}-01'`);
  return ` /*${tags.join(',')}*/`;
}
const q = (sql) => sql + comment();
const pause = () => new Promise((r) => setTimeout(r, 10 + Math.floor(random() * 190)));
const request = (l, body) => current.run(l, body);

const ORDERS = 'SELECT id, customer_id FROM orders WHERE status = $1 ORDER BY id LIMIT $2 OFFSET $3';
const CUSTOMER = 'SELECT id, name FROM customers WHERE id = $1';

// Two request streams over one pool, each running every handler of a pool stack (`pg-pool`,
// `mysql2-pool`) in turn, with seeded pauses between requests.
async function poolStreams(handlers) {
  async function stream(ks, offsetBase) {
    for (const [i, k] of ks.entries()) {
      const offset = (offsetBase + i * 37) % 300;
      await request(label('checkout-loop', 'n_plus_one', k), () => handlers.checkoutLoop(k, offset));
      await pause();
      await request(label('checkout-batch'), () => handlers.checkoutBatch(k, offset));
      await pause();
      await request(label('promise-all-fan-out', 'n_plus_one', k), () => handlers.fanOut(k, offset));
      await pause();
      for (let h = 0; h < 3; h++) {
        await request(label('health-check'), () => handlers.health());
        await pause();
      }
      await request(label('keyset-pagination'), () => handlers.keyset());
      await pause();
    }
  }
  await Promise.all([stream([6, 9, 12], 0), stream([8, 10, 7], 150)]);
}

async function pgPool(pool) {
  const handlers = {
    // A handler that checks a client out and loops over it.
    async checkoutLoop(k, offset) {
      const client = await pool.connect();
      try {
        const { rows } = await client.query(q(ORDERS), ['open', k, offset]);
        for (const o of rows) await client.query(q(CUSTOMER), [o.customer_id]);
      } finally {
        client.release();
      }
    },
    async checkoutBatch(k, offset) {
      const client = await pool.connect();
      try {
        const { rows } = await client.query(q(ORDERS), ['open', k, offset]);
        await client.query(q('SELECT id, name FROM customers WHERE id = ANY($1::int[])'), [
          rows.map((o) => o.customer_id),
        ]);
      } finally {
        client.release();
      }
    },
    // Promise.all over the pool: the children run at once on every pooled connection.
    async fanOut(k, offset) {
      const { rows } = await pool.query(q(ORDERS), ['open', k, offset]);
      await Promise.all(rows.map((o) => pool.query(q(CUSTOMER), [o.customer_id])));
    },
    async health() {
      await pool.query(q('SELECT 1'));
    },
    async keyset() {
      let last = 0;
      for (let i = 0; i < 6; i++) {
        const { rows } = await pool.query(q('SELECT id FROM orders WHERE id > $1 ORDER BY id LIMIT 50'), [last]);
        last = rows[rows.length - 1].id;
      }
    },
  };
  await poolStreams(handlers);
}

// mysql2 against MariaDB (crates/cli/tests/accuracy_mariadb.rs): the pg-pool handlers in
// mysql2's words. `execute` runs server-side prepared statements (a Prepare per connection
// and statement, then Execute), the way mysql2 recommends; the batch expands its id list
// with `query`'s `IN (?)`. The pool resets nothing when a connection goes back.
const ORDERS_MYSQL = 'SELECT id, customer_id FROM orders WHERE status = ? ORDER BY id LIMIT ? OFFSET ?';
const CUSTOMER_MYSQL = 'SELECT id, name FROM customers WHERE id = ?';

async function mysql2Pool(pool) {
  const handlers = {
    async checkoutLoop(k, offset) {
      const conn = await pool.getConnection();
      try {
        const [rows] = await conn.execute(q(ORDERS_MYSQL), ['open', String(k), String(offset)]);
        for (const o of rows) await conn.execute(q(CUSTOMER_MYSQL), [o.customer_id]);
      } finally {
        conn.release();
      }
    },
    async checkoutBatch(k, offset) {
      const conn = await pool.getConnection();
      try {
        const [rows] = await conn.execute(q(ORDERS_MYSQL), ['open', String(k), String(offset)]);
        await conn.query(q('SELECT id, name FROM customers WHERE id IN (?)'), [rows.map((o) => o.customer_id)]);
      } finally {
        conn.release();
      }
    },
    // Promise.all over the pool: the children run at once on every pooled connection.
    async fanOut(k, offset) {
      const [rows] = await pool.execute(q(ORDERS_MYSQL), ['open', String(k), String(offset)]);
      await Promise.all(rows.map((o) => pool.execute(q(CUSTOMER_MYSQL), [o.customer_id])));
    },
    async health() {
      await pool.query(q('SELECT 1'));
    },
    async keyset() {
      let last = 0;
      for (let i = 0; i < 6; i++) {
        const [rows] = await pool.execute(q('SELECT id FROM orders WHERE id > ? ORDER BY id LIMIT 50'), [last]);
        last = rows[rows.length - 1].id;
      }
    },
  };
  await poolStreams(handlers);
}

async function graphqlStack(pool) {
  const {
    graphql, GraphQLSchema, GraphQLObjectType, GraphQLList, GraphQLInt, GraphQLString,
  } = require('graphql');
  const DataLoader = require('dataloader');

  const Customer = new GraphQLObjectType({
    name: 'Customer',
    fields: { id: { type: GraphQLInt }, name: { type: GraphQLString } },
  });
  const Order = new GraphQLObjectType({
    name: 'Order',
    fields: {
      id: { type: GraphQLInt },
      customer: {
        type: Customer,
        // Per-request context: one checked-out client, and a loader when batching is on.
        resolve: async (order, _args, ctx) => {
          if (ctx.loader) return ctx.loader.load(order.customer_id);
          const { rows } = await ctx.db.query(q(CUSTOMER), [order.customer_id]);
          return rows[0];
        },
      },
      itemCount: {
        type: GraphQLInt,
        resolve: async (order, _args, ctx) => {
          if (ctx.counts) return ctx.counts.load(order.id);
          const { rows } = await ctx.db.query(q('SELECT count(*) AS n FROM items WHERE order_id = $1'), [order.id]);
          return Number(rows[0].n);
        },
      },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        orders: {
          type: new GraphQLList(Order),
          args: { first: { type: GraphQLInt }, offset: { type: GraphQLInt } },
          resolve: async (_root, { first, offset }, ctx) =>
            (await ctx.db.query(q(ORDERS), ['open', first, offset])).rows,
        },
      },
    }),
  });

  async function run(source, batched) {
    const db = await pool.connect();
    try {
      const ctx = { db };
      if (batched) {
        ctx.loader = new DataLoader(async (ids) => {
          const { rows } = await db.query(q('SELECT id, name FROM customers WHERE id = ANY($1::int[])'), [ids]);
          return ids.map((id) => rows.find((r) => r.id === id) || null);
        });
        ctx.counts = new DataLoader(async (ids) => {
          const { rows } = await db.query(
            q('SELECT order_id, count(*) AS n FROM items WHERE order_id = ANY($1::int[]) GROUP BY order_id'),
            [ids],
          );
          return ids.map((id) => Number((rows.find((r) => r.order_id === id) || { n: 0 }).n));
        });
      }
      const result = await graphql({ schema, source, contextValue: ctx });
      if (result.errors) throw new Error(JSON.stringify(result.errors));
    } finally {
      db.release();
    }
  }

  for (const [i, k] of [6, 9, 12, 8].entries()) {
    const offset = i * 41;
    const names = `{ orders(first: ${k}, offset: ${offset}) { id customer { name } } }`;
    const counts = `{ orders(first: ${k}, offset: ${offset}) { id itemCount } }`;
    await request(label('resolver-per-row', 'n_plus_one', k), () => run(names, false));
    await pause();
    await request(label('dataloader'), () => run(names, true));
    await pause();
    await request(label('count-resolver-per-row', 'count_in_loop', k), () => run(counts, false));
    await pause();
    await request(label('count-dataloader'), () => run(counts, true));
    await pause();
  }
}

async function main() {
  if (stack === 'mysql2-pool') {
    const mysql = require('mysql2/promise');
    const pool = mysql.createPool({ uri: url, connectionLimit: 4 });
    try {
      await mysql2Pool(pool);
    } finally {
      await pool.end();
    }
    return;
  }
  const pool = new Pool({ connectionString: url, max: 4 });
  try {
    if (stack === 'pg-pool') await pgPool(pool);
    else if (stack === 'graphql') await graphqlStack(pool);
    else throw new Error(`unknown stack ${stack}`);
  } finally {
    await pool.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
