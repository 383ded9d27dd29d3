# A bookshop on ActiveRecord (Debian's ruby-activerecord, with ruby-pg), run under
# `querycomb run` (crates/cli/tests/advice_orms.rs). Each page runs in a transaction of its
# own, as a Rails request often does, so each is one unit of work. Every loop has its fixed
# twin, which must not be a finding:
# - books, then each book's author (a belongs_to N+1) / includes(:author),
# - authors, then each author's books (a has_many N+1) / preload(:books),
# - books, then each book's tags through taggings (a has_many :through N+1) / preload(:tags),
# - authors, then a count of each one's books (a count per parent) / group(:author_id).count,
# - a review created per book (a write per row) / insert_all.
#
# Usage: DATABASE_URL=postgres://user:pw@host:port/db ruby app.rb
require "active_record"

ActiveRecord::Base.establish_connection(ENV.fetch("DATABASE_URL"))
ActiveRecord::Migration.verbose = false
ActiveRecord::Schema.define do
  create_table :authors, force: :cascade do |t|
    t.string :name, null: false
  end
  create_table :books, force: :cascade do |t|
    t.string :title, null: false
    t.references :author, null: false, foreign_key: true
  end
  create_table :tags, force: :cascade do |t|
    t.string :name, null: false
  end
  create_table :taggings, force: :cascade do |t|
    t.references :book, null: false, foreign_key: true
    t.references :tag, null: false, foreign_key: true
  end
  create_table :reviews, force: :cascade do |t|
    t.references :book, null: false, foreign_key: true
    t.integer :stars, null: false
  end
end

class Author < ActiveRecord::Base
  has_many :books
end

class Book < ActiveRecord::Base
  belongs_to :author
  has_many :taggings
  has_many :tags, through: :taggings
  has_many :reviews
end

class Tag < ActiveRecord::Base
end

class Tagging < ActiveRecord::Base
  belongs_to :book
  belongs_to :tag
end

class Review < ActiveRecord::Base
  belongs_to :book
end

n = Integer(ENV.fetch("QUERYCOMB_SCALE", "8"))
# The rows in one INSERT per table: the setup is no loop.
Author.insert_all((1..n).map { |i| { id: i, name: "author #{i}" } })
Book.insert_all((1..n).map { |i| { id: i, title: "book #{i}", author_id: i } })
Tag.insert_all((1..3).map { |i| { id: i, name: "tag #{i}" } })
Tagging.insert_all((1..n).flat_map { |i| (1..(1 + i % 3)).map { |t| { book_id: i, tag_id: t } } })

def page(&block)
  ActiveRecord::Base.transaction(&block)
end

def same(lazy, fixed)
  raise "pages disagree: #{lazy} / #{fixed}" unless lazy == fixed
end

books = -> { Book.order(:id) }
authors = -> { Author.order(:id) }
lazy = page { books.call.map { |b| "#{b.title} by #{b.author.name}" } }
same(lazy, page { books.call.includes(:author).map { |b| "#{b.title} by #{b.author.name}" } })
raise "#{lazy.length} books" unless lazy.length == n

lazy = page { authors.call.map { |a| a.books.to_a.length } }
same(lazy, page { authors.call.preload(:books).map { |a| a.books.to_a.length } })

lazy = page { books.call.map { |b| b.tags.to_a.length } }
same(lazy, page { books.call.preload(:tags).map { |b| b.tags.to_a.length } })

lazy = page { authors.call.map { |a| a.books.count } }
counts = page { Book.group(:author_id).count }
same(lazy, authors.call.map { |a| counts.fetch(a.id, 0) })

page { books.call.each { |b| Review.create!(book: b, stars: 5) } }
page { Review.insert_all(books.call.map { |b| { book_id: b.id, stars: 4 } }) }
raise "reviews" unless Review.count == 2 * n
puts "rails app done"
