// The loops of every relation kind, each with its fixed twin, written the way a Sequelize
// user writes them: crates/cli/tests/advice_orms.rs runs this file under `querycomb run` and
// checks the fix querycomb names for each loop and that no twin is a finding. The budgeted
// suite of crates/cli/tests/run_node.rs is test/books.test.js alone.
//
// Each test is one unit of work: querycomb's node:test preload names the test that ran each
// statement, so no tagging is needed here.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { Sequelize, DataTypes, Op, fn, col } = require('sequelize');

const N = 8;

const sequelize = new Sequelize(process.env.DATABASE_URL, {
  dialect: 'postgres',
  logging: false,
  pool: { max: 1 },
});
const define = (name, attributes) => sequelize.define(name, attributes, { timestamps: false });
const Writer = define('writer', { name: DataTypes.TEXT });
const Novel = define('novel', { title: DataTypes.TEXT });
const Genre = define('genre', { name: DataTypes.TEXT });
const Rating = define('rating', { stars: DataTypes.INTEGER });
Writer.hasMany(Novel);
Novel.belongsTo(Writer);
Novel.belongsToMany(Genre, { through: 'novel_genres' });
Genre.belongsToMany(Novel, { through: 'novel_genres' });
Novel.hasMany(Rating);

before(async () => {
  await sequelize.sync({ force: true });
  const writers = await Writer.bulkCreate(
    Array.from({ length: N }, (_, i) => ({ name: `writer ${i + 1}` })),
  );
  const novels = await Novel.bulkCreate(
    writers.map((w, i) => ({ title: `novel ${i + 1}`, writerId: w.id })),
  );
  const genres = await Genre.bulkCreate([1, 2, 3].map((i) => ({ name: `genre ${i}` })));
  await sequelize.models.novel_genres.bulkCreate(
    novels.flatMap((n, i) => genres.slice(0, 1 + (i % 3)).map((g) => ({ novelId: n.id, genreId: g.id }))),
  );
});

after(async () => {
  await sequelize.close();
});

test('novels per writer n+1', async () => {
  const counts = [];
  for (const writer of await Writer.findAll({ order: [['id', 'ASC']] })) {
    counts.push((await writer.getNovels()).length);
  }
  assert.deepStrictEqual(counts, Array(N).fill(1));
});

test('novels per writer included', async () => {
  const writers = await Writer.findAll({
    include: [{ model: Novel, separate: true }],
    order: [['id', 'ASC']],
  });
  assert.deepStrictEqual(writers.map((w) => w.novels.length), Array(N).fill(1));
});

test('genres per novel n+1', async () => {
  let total = 0;
  for (const novel of await Novel.findAll({ order: [['id', 'ASC']] })) {
    total += (await novel.getGenres()).length;
  }
  assert.ok(total > N);
});

test('genres per novel included', async () => {
  const novels = await Novel.findAll({ include: [Genre], order: [['id', 'ASC']] });
  assert.ok(novels.reduce((sum, n) => sum + n.genres.length, 0) > N);
});

test('novel counts n+1', async () => {
  const counts = [];
  for (const writer of await Writer.findAll({ order: [['id', 'ASC']] })) {
    counts.push(await writer.countNovels());
  }
  assert.deepStrictEqual(counts, Array(N).fill(1));
});

test('novel counts grouped', async () => {
  const rows = await Novel.findAll({
    attributes: ['writerId', [fn('COUNT', col('id')), 'n']],
    group: ['writerId'],
    raw: true,
  });
  assert.deepStrictEqual(rows.map((r) => Number(r.n)), Array(N).fill(1));
});

test('ratings created per row', async () => {
  for (const novel of await Novel.findAll({ order: [['id', 'ASC']] })) {
    await Rating.create({ novelId: novel.id, stars: 5 });
  }
  assert.strictEqual(await Rating.count(), N);
});

test('ratings bulk created', async () => {
  const novels = await Novel.findAll({ order: [['id', 'ASC']] });
  await Rating.bulkCreate(novels.map((n) => ({ novelId: n.id, stars: 4 })));
  assert.strictEqual(await Rating.count(), 2 * N);
});

test('novel titles saved per row', async () => {
  for (const novel of await Novel.findAll({ order: [['id', 'ASC']] })) {
    novel.title = `${novel.title} (2nd ed.)`;
    await novel.save();
  }
  assert.strictEqual(await Novel.count({ where: { title: { [Op.endsWith]: '(2nd ed.)' } } }), N);
});

test('novel titles updated at once', async () => {
  const novels = await Novel.findAll({ order: [['id', 'ASC']] });
  await Novel.bulkCreate(
    novels.map((n) => ({ id: n.id, writerId: n.writerId, title: `${n.title} (3rd ed.)` })),
    { updateOnDuplicate: ['title'] },
  );
  assert.strictEqual(await Novel.count({ where: { title: { [Op.endsWith]: '(3rd ed.)' } } }), N);
});

test('ratings destroyed per row', async () => {
  for (const rating of await Rating.findAll({ where: { stars: 5 }, order: [['id', 'ASC']] })) {
    await rating.destroy();
  }
  assert.strictEqual(await Rating.count({ where: { stars: 5 } }), 0);
});

test('ratings destroyed at once', async () => {
  const ids = (await Rating.findAll({ where: { stars: 4 } })).map((r) => r.id);
  await Rating.destroy({ where: { id: ids } });
  assert.strictEqual(await Rating.count({ where: { stars: 4 } }), 0);
});
