// A bookshop on TypeORM 0.3 (EntitySchema, plain JavaScript), run under `querycomb run`
// (crates/cli/tests/advice_orms.rs). Each page runs in a transaction of its own, as many
// apps run a request, so each is one unit of work whatever the pauses between statements.
// Every loop has its fixed twin, which must not be a finding:
// - books, then each book's author by id (a many-to-one N+1) / `relations: { author: true }`,
// - authors, then each author's books by author id (a one-to-many N+1) / `relations: { books:
//   true }` with `relationLoadStrategy: "query"`,
// - books, then each book's tags through the join table (a many-to-many N+1, TypeORM's
//   RelationQueryBuilder) / `relations: { tags: true }` with `relationLoadStrategy: "query"`,
// - authors, then a count of each one's books (a count per parent) / one grouped query,
// - a review saved per book (a write per row) / one save of all of them,
// - each book's title updated by id (an update per row) / one upsert of all of them,
// - each review deleted by id (a delete per row) / one delete of all their ids.
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

const Tag = new EntitySchema({
  name: "Tag",
  tableName: "tag",
  columns: { id: { primary: true, type: "int" }, name: { type: "text" } },
});

const Review = new EntitySchema({
  name: "Review",
  tableName: "review",
  columns: {
    id: { primary: true, type: "int", generated: "increment" },
    bookId: { type: "int" },
    stars: { type: "int" },
  },
  indices: [{ columns: ["bookId"] }],
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
    tags: { type: "many-to-many", target: "Tag", joinTable: true },
  },
  indices: [{ columns: ["authorId"] }],
});

function source(synchronize) {
  return new DataSource({
    type: "postgres",
    url: process.env.DATABASE_URL,
    entities: [Author, Book, Tag, Review],
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
  await setup.getRepository(Tag).insert([1, 2, 3].map((id) => ({ id, name: `tag ${id}` })));
  await setup
    .createQueryBuilder()
    .insert()
    .into("book_tags_tag")
    .values(
      Array.from({ length: n }, (_, i) => [1, 2, 3].slice(0, 1 + (i % 3)).map((tagId) => ({ bookId: i + 1, tagId }))).flat(),
    )
    .execute();
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
  const loaded = await onItsOwnConnection(async (db) => {
    const authors = await db.getRepository(Author).find({
      relations: { books: true },
      relationLoadStrategy: "query",
      order: { id: "ASC" },
    });
    return authors.map((a) => a.books.length);
  });
  if (byAuthor.length !== n || joined.join() !== byAuthor.join() || counts.join() !== loaded.join()) {
    throw new Error(`pages disagree: ${byAuthor} / ${joined} / ${counts} / ${loaded}`);
  }

  const tagsEach = await onItsOwnConnection(async (db) => {
    const books = await db.getRepository(Book).find({ order: { id: "ASC" } });
    const out = [];
    for (const book of books) {
      out.push((await db.createQueryBuilder().relation(Book, "tags").of(book).loadMany()).length);
    }
    return out;
  });
  const tagsLoaded = await onItsOwnConnection(async (db) => {
    const books = await db.getRepository(Book).find({
      relations: { tags: true },
      relationLoadStrategy: "query",
      order: { id: "ASC" },
    });
    return books.map((b) => b.tags.length);
  });
  if (tagsEach.join() !== tagsLoaded.join() || tagsEach.reduce((a, b) => a + b) <= n) {
    throw new Error(`tags disagree: ${tagsEach} / ${tagsLoaded}`);
  }

  const countsEach = await onItsOwnConnection(async (db) => {
    const authors = await db.getRepository(Author).find({ order: { id: "ASC" } });
    const out = [];
    for (const author of authors) {
      out.push(await db.getRepository(Book).countBy({ authorId: author.id }));
    }
    return out;
  });
  const countsGrouped = await onItsOwnConnection(async (db) => {
    const rows = await db
      .getRepository(Book)
      .createQueryBuilder("book")
      .select("book.authorId", "authorId")
      .addSelect("COUNT(*)", "n")
      .groupBy("book.authorId")
      .orderBy("book.authorId")
      .getRawMany();
    return rows.map((r) => Number(r.n));
  });
  if (countsEach.join() !== countsGrouped.join()) {
    throw new Error(`counts disagree: ${countsEach} / ${countsGrouped}`);
  }

  await onItsOwnConnection(async (db) => {
    for (const book of await db.getRepository(Book).find({ order: { id: "ASC" } })) {
      await db.getRepository(Review).save({ bookId: book.id, stars: 5 });
    }
  });
  await onItsOwnConnection(async (db) => {
    const books = await db.getRepository(Book).find({ order: { id: "ASC" } });
    await db.getRepository(Review).save(books.map((b) => ({ bookId: b.id, stars: 4 })));
  });
  const reviews = await onItsOwnConnection((db) => db.getRepository(Review).count());
  if (reviews !== 2 * n) {
    throw new Error(`${reviews} reviews`);
  }

  await onItsOwnConnection(async (db) => {
    for (const book of await db.getRepository(Book).find({ order: { id: "ASC" } })) {
      await db.getRepository(Book).update(book.id, { title: `${book.title} (2nd ed.)` });
    }
  });
  await onItsOwnConnection(async (db) => {
    const books = await db.getRepository(Book).find({ order: { id: "ASC" } });
    await db
      .getRepository(Book)
      .upsert(books.map((b) => ({ id: b.id, title: `${b.title} (3rd ed.)`, authorId: b.authorId })), ["id"]);
  });
  const editions = await onItsOwnConnection((db) => db.getRepository(Book).find());
  if (!editions.every((b) => b.title.endsWith("(2nd ed.) (3rd ed.)"))) {
    throw new Error(`titles: ${editions.map((b) => b.title)}`);
  }

  await onItsOwnConnection(async (db) => {
    for (const review of await db.getRepository(Review).find({ where: { stars: 5 }, order: { id: "ASC" } })) {
      await db.getRepository(Review).delete(review.id);
    }
  });
  await onItsOwnConnection(async (db) => {
    const ids = (await db.getRepository(Review).findBy({ stars: 4 })).map((r) => r.id);
    await db.getRepository(Review).delete(ids);
  });
  const left = await onItsOwnConnection((db) => db.getRepository(Review).count());
  if (left !== 0) {
    throw new Error(`${left} reviews left`);
  }
  console.log("typeorm app done");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
