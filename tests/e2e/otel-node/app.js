// A small node-postgres "shop" traced by the real @opentelemetry/instrumentation-pg, for
// querycomb's trace tests (crates/cli/tests/traces_node.rs). Each "request" is a server span
// named after its route; the database spans under it come from the instrumentation.
//
//   DATABASE_URL=postgres://... QC_EXPORT=<how> node app.js
//
// QC_EXPORT: json-file:PATH   one OTLP/JSON ExportTraceServiceRequest per line (what the
//                             Collector's file exporter writes), by the SDK's own serializer
//            proto-file:PATH  binary requests, each after its length as 4 big-endian bytes
//            http-json:URL | http-proto:URL | grpc:URL   the SDK's OTLP exporters
// QC_PROCESSOR: batch (default) or simple (one export per span: traces arrive in pieces).
// QC_HTTP_LOOP=1: also run an authors API (traced by @opentelemetry/instrumentation-http)
//   and a request that calls it once per book: an N+1 over HTTP.
// QC_GRAPHQL=1: also run a graphql-js API (traced by @opentelemetry/instrumentation-graphql)
//   at `POST /api`: `{ authors { name books { title } } }`, whose `books` resolver runs one
//   query per author (an N+1 in resolvers), then the same query through a DataLoader (the
//   fixed twin). No sqlcommenter tags and no `graphql` in the route: the resolver spans are
//   the only sign that the loop ran in GraphQL resolvers.
'use strict';

const fs = require('fs');
const api = require('@opentelemetry/api');
const { NodeTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg');

function fileExporter(path, serialize) {
  return {
    export(spans, done) {
      try {
        fs.appendFileSync(path, serialize(spans));
        done({ code: 0 });
      } catch (error) {
        done({ code: 1, error });
      }
    },
    shutdown() { return Promise.resolve(); },
    forceFlush() { return Promise.resolve(); },
  };
}

function exporter(spec) {
  const at = spec.indexOf(':');
  const kind = spec.slice(0, at);
  const target = spec.slice(at + 1);
  const { JsonTraceSerializer, ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
  switch (kind) {
    case 'json-file':
      return fileExporter(target, (spans) => Buffer.concat([Buffer.from(JsonTraceSerializer.serializeRequest(spans)), Buffer.from('\n')]));
    case 'proto-file':
      return fileExporter(target, (spans) => {
        const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans));
        const length = Buffer.alloc(4);
        length.writeUInt32BE(body.length);
        return Buffer.concat([length, body]);
      });
    case 'http-json': {
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
      return new OTLPTraceExporter({ url: target });
    }
    case 'http-proto': {
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
      return new OTLPTraceExporter({ url: target });
    }
    case 'grpc': {
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
      return new OTLPTraceExporter({ url: target });
    }
    default:
      throw new Error(`QC_EXPORT: unknown kind ${kind}`);
  }
}

const out = exporter(process.env.QC_EXPORT || '');
const processor = process.env.QC_PROCESSOR === 'simple' ? new SimpleSpanProcessor(out) : new BatchSpanProcessor(out);
// The SDK's default resource (telemetry.sdk.name, .language: nodejs, .version), as the
// NodeSDK sets it, with the service's name.
const provider = new NodeTracerProvider({
  resource: defaultResource().merge(resourceFromAttributes({ 'service.name': 'shop-api' })),
  spanProcessors: [processor],
});
provider.register();
const httpLoop = process.env.QC_HTTP_LOOP === '1';
const instrumentations = [new PgInstrumentation()];
if (httpLoop) {
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  instrumentations.push(new HttpInstrumentation());
}
const graphqlApi = process.env.QC_GRAPHQL === '1';
if (graphqlApi) {
  const { GraphQLInstrumentation } = require('@opentelemetry/instrumentation-graphql');
  instrumentations.push(new GraphQLInstrumentation());
}
registerInstrumentations({ instrumentations });

// After the instrumentation is registered, so that it patches the driver.
const { Pool } = require('pg');
const tracer = api.trace.getTracer('querycomb-e2e');

/// One request: a server span for `route`, `handler` running inside it.
function request(route, handler, method = 'GET') {
  return tracer.startActiveSpan(`${method} ${route}`, { kind: api.SpanKind.SERVER, attributes: { 'http.route': route, 'http.request.method': method } }, async (span) => {
    try {
      await handler();
    } finally {
      span.end();
    }
  });
}

async function main() {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 8 });
  // Eight open connections, so that the fan-out below runs all its queries at once.
  const warm = await Promise.all(Array.from({ length: 8 }, () => pool.connect()));
  warm.forEach((c) => c.release());

  // N+1: the books, then each book's author, one query per book.
  await request('/books', async () => {
    const client = await pool.connect();
    try {
      const books = await client.query('SELECT id, title, author_id FROM books ORDER BY id');
      for (const book of books.rows) {
        await client.query('SELECT id, name FROM authors WHERE id = $1', [book.author_id]);
      }
    } finally {
      client.release();
    }
  });

  // The fixed twin: one batched query for all the authors.
  await request('/books-fixed', async () => {
    const client = await pool.connect();
    try {
      const books = await client.query('SELECT id, title, author_id FROM books ORDER BY id');
      const ids = books.rows.map((b) => b.author_id);
      await client.query('SELECT id, name FROM authors WHERE id = ANY($1)', [ids]);
    } finally {
      client.release();
    }
  });

  // A concurrent N+1 (fan-out): the same loop, all eight lookups sent in one go, each on
  // its own connection.
  await request('/books-concurrent', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => pool.connect()));
    try {
      const books = await clients[0].query('SELECT id, title, author_id FROM books ORDER BY title');
      await Promise.all(books.rows.map((b, i) => clients[i].query('SELECT name FROM authors WHERE id = $1', [b.author_id])));
    } finally {
      clients.forEach((c) => c.release());
    }
  });

  if (httpLoop) {
    await booksThroughTheApi(pool);
  }
  if (graphqlApi) {
    await booksThroughGraphql(pool);
  }

  await pool.end();
  await provider.shutdown();
}

/// An authors API on a free port, and a request that calls it once per book.
async function booksThroughTheApi(pool) {
  const http = require('http');
  const server = http.createServer(async (req, res) => {
    const id = Number(req.url.split('/').pop());
    const result = await pool.query('SELECT a.name FROM authors a WHERE a.id = $1', [id]);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(result.rows[0] || null));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const get = (path) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
  await request('/books-api', async () => {
    const books = await pool.query('SELECT id, title, author_id FROM books ORDER BY id');
    for (const book of books.rows) {
      await get(`/authors/${book.author_id}`);
    }
  });
  await new Promise((resolve) => server.close(resolve));
  console.log(`authors API on port ${port}`);
}

/// A graphql-js schema whose `Author.books` resolver asks the request's context for an
/// author's books, and two requests to it: each author's books by its own query (the N+1),
/// then through a request-scoped DataLoader (one `= ANY($1)` query for every author).
async function booksThroughGraphql(pool) {
  // After the instrumentation is registered, so that it patches graphql-js.
  const { graphql, GraphQLSchema, GraphQLObjectType, GraphQLList, GraphQLString } = require('graphql');
  const DataLoader = require('dataloader');
  const Book = new GraphQLObjectType({ name: 'Book', fields: { title: { type: GraphQLString } } });
  const Author = new GraphQLObjectType({
    name: 'Author',
    fields: {
      name: { type: GraphQLString },
      books: { type: new GraphQLList(Book), resolve: (author, _args, ctx) => ctx.booksOf(author.id) },
    },
  });
  const Query = new GraphQLObjectType({
    name: 'Query',
    fields: {
      authors: {
        type: new GraphQLList(Author),
        resolve: async (_root, _args, ctx) => (await ctx.client.query('SELECT id, name FROM authors ORDER BY id')).rows,
      },
    },
  });
  const schema = new GraphQLSchema({ query: Query });
  const source = 'query AuthorsWithBooks { authors { name books { title } } }';
  // One request: a checked-out client, the context the resolvers share, one execution.
  const serve = (route, booksOf) => request(route, async () => {
    const client = await pool.connect();
    try {
      const result = await graphql({ schema, source, contextValue: { client, booksOf: booksOf(client) } });
      if (result.errors) {
        throw new Error(result.errors.map((e) => e.message).join('; '));
      }
    } finally {
      client.release();
    }
  }, 'POST');
  // N+1: the resolver runs once per author, one query each.
  await serve('/api', (client) => async (id) => (await client.query('SELECT id, title FROM books WHERE author_id = $1', [id])).rows);
  // The fixed twin: the resolver asks a DataLoader, which loads every author's books at once.
  await serve('/api-batched', (client) => {
    const loader = new DataLoader(async (ids) => {
      const { rows } = await client.query('SELECT id, title, author_id FROM books WHERE author_id = ANY($1)', [ids]);
      return ids.map((id) => rows.filter((b) => b.author_id === id));
    });
    return (id) => loader.load(id);
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
