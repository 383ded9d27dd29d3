// A bookshop on TypeORM 0.3 (EntitySchema, plain JavaScript), run under `querycomb run`
// (crates/cli/tests/advice_orms.rs). Each page runs in a transaction of its own, as many
// apps run a request, so each is one unit of work whatever the pauses between statements:
// - books, then each book's author by id (a many-to-one N+1),
// - authors, then each author's books by author id (a one-to-many N+1),
// - the fixed page: books with `relations: { author: true }` (one LEFT JOIN query).
//
// Usage: DATABASE_URL=postgres://user:pw@host:port/db node app.js
require("reflect-metadata");
const { DataSource, EntitySchema } = require("typeorm");

const Author = new EntitySchema({
  name: "Author",
  tableName: "author",
  columns: { id: { primary: true, type: "int" }, name: { type: "text" } },
  relations: { books: { type: "one-to-many", target: "Book", inverseSide: "author" } },
});

const Book = new EntitySchema({
  name: "Book",
  tableName: "book",
  columns: {
    id: { primary: true, type: "int" },
    title: { type: "text" },
    authorId: { type: "int" },
  },
  relations: {
    author: {
      type: "many-to-one",
      target: "Author",
      joinColumn: { name: "authorId" },
      inverseSide: "books",
    },
  },
  indices: [{ columns: ["authorId"] }],
});

function source(synchronize) {
  return new DataSource({
    type: "postgres",
    url: process.env.DATABASE_URL,
    entities: [Author, Book],
    synchronize,
    dropSchema: synchronize,
    poolSize: 1,
  });
}

/** Runs `page` in a transaction on a connection of its own. */
async function onItsOwnConnection(page) {
  const db = await source(false).initialize();
  try {
    return await db.transaction((manager) => page(manager));
  } finally {
    await db.destroy();
  }
}

async function main() {
  const n = Number(process.env.QUERYCOMB_SCALE || 8);
  const setup = await source(true).initialize();
  await setup.getRepository(Author).insert(
    Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `author ${i + 1}` })),
  );
  await setup.getRepository(Book).insert(
    Array.from({ length: n }, (_, i) => ({ id: i + 1, title: `book ${i + 1}`, authorId: i + 1 })),
  );
  await setup.destroy();

  const byAuthor = await onItsOwnConnection(async (db) => {
    const books = await db.getRepository(Book).find({ order: { id: "ASC" } });
    const lines = [];
    for (const book of books) {
      const author = await db.getRepository(Author).findOneBy({ id: book.authorId });
      lines.push(`${book.title} by ${author.name}`);
    }
    return lines;
  });
  const counts = await onItsOwnConnection(async (db) => {
    const authors = await db.getRepository(Author).find({ order: { id: "ASC" } });
    const out = [];
    for (const author of authors) {
      out.push((await db.getRepository(Book).findBy({ authorId: author.id })).length);
    }
    return out;
  });
  const joined = await onItsOwnConnection(async (db) => {
    const books = await db.getRepository(Book).find({ relations: { author: true }, order: { id: "ASC" } });
    return books.map((b) => `${b.title} by ${b.author.name}`);
  });
  if (byAuthor.length !== n || joined.join() !== byAuthor.join() || counts.some((c) => c !== 1)) {
    throw new Error(`pages disagree: ${byAuthor} / ${joined} / ${counts}`);
  }
  console.log("typeorm app done");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
