# A bookshop on ActiveRecord (Debian's ruby-activerecord, with ruby-pg), run under
# `querycomb run` (crates/cli/tests/advice_orms.rs). Each page runs in a transaction of its
# own, as a Rails request often does, so each is one unit of work:
# - books, then each book's author (a belongs_to N+1),
# - authors, then each author's books (a has_many N+1),
# - the fixed page: books with includes(:author) (one query for the authors).
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
end

class Author < ActiveRecord::Base
  has_many :books
end

class Book < ActiveRecord::Base
  belongs_to :author
end

n = Integer(ENV.fetch("QUERYCOMB_SCALE", "8"))
Author.transaction do
  (1..n).each do |i|
    author = Author.create!(name: "author #{i}")
    Book.create!(title: "book #{i}", author: author)
  end
end

def page(&block)
  ActiveRecord::Base.transaction(&block)
end

lazy = page { Book.order(:id).map { |b| "#{b.title} by #{b.author.name}" } }
counts = page { Author.order(:id).map { |a| a.books.to_a.length } }
eager = page { Book.includes(:author).order(:id).map { |b| "#{b.title} by #{b.author.name}" } }
raise "pages disagree: #{lazy} / #{eager} / #{counts}" unless lazy == eager && lazy.length == n && counts.all?(1)
puts "rails app done"
