# The bookshop client of the Ruby suites (crates/cli/tests/run_ruby.rs): the schema
# (authors, books 1–8 each by its own author) is made by the test before the run. Nothing
# is tagged: querycomb's RSpec and minitest hooks name each test with no change here.
require 'pg'

module Shop
  def self.connect
    PG.connect(ENV.fetch('DATABASE_URL'))
  end

  # One query per book for its author: the N+1.
  def self.page_one_by_one(conn)
    conn.exec('SELECT id, title, author_id FROM books ORDER BY id').map do |book|
      author = conn.exec_params('SELECT name FROM authors WHERE id = $1', [book['author_id']])
      "#{book['title']} by #{author[0]['name']}"
    end
  end

  # The same page in one join.
  def self.page_joined(conn)
    conn.exec('SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author_id ORDER BY b.id')
        .map { |r| "#{r['title']} by #{r['name']}" }
  end
end
