# The accuracy corpus's Ruby stack: ActiveRecord 6.1 (Debian's ruby-activerecord, with
# ruby-pg) as a threaded Rails server runs it, against the throwaway PostgreSQL of
# crates/cli/tests/accuracy.rs.
#
#   ruby corpus.rb activerecord <connection-url> <untagged|tagged> <labels.jsonl>
#
# Two request streams on two threads (a Puma server with two threads) share a pool of three
# connections. Each request does what Rails' executor does around an action: it checks a
# connection out of the pool (ActiveRecord pings it with `SELECT 1` first), enables the
# query cache, and returns the connection at the end. ActiveRecord prepares every statement
# with binds before it executes it (named prepared statements, its default), opens a
# transaction around every `create!`, and reads each table's columns from pg_attribute the
# first time a model is used. Nothing is sent when a connection goes back to the pool, so
# requests on one connection are delimited by pauses only.
#
# Ground truth as in ../python/corpus.py: every statement of a request carries
# /*qc_req='<id>'*/ (ignored by querycomb's grouping), plus a sqlcommenter traceparent in
# tagged mode, appended where ActiveRecord hands SQL to the driver; one JSON line per request
# says which finding it must produce, if any.
require "json"
require "active_record"
require "active_record/connection_adapters/postgresql_adapter"

STACK, URL, MODE, LABELS = ARGV
raise "usage: ruby corpus.rb activerecord <url> <untagged|tagged> <labels.jsonl>" unless STACK == "activerecord" && LABELS

# Labels: one line per request, a seeded trace id each.
class Labels
  def initialize(path)
    @out = File.open(path, "a")
    @serial = 0
    @rng = Random.new(MODE == "tagged" ? 211 : 11)
    @lock = Mutex.new
  end

  def start(scenario, expect = nil, n = 0)
    @lock.synchronize do
      @serial += 1
      label = {
        id: "#{STACK}-#{MODE[0]}-#{@serial}", stack: STACK, mode: MODE, scenario: scenario,
        expect: expect, n: n,
        trace: format("%032x", @rng.rand(2**128)), span: format("%016x", @rng.rand(2**64)),
      }
      @out.puts(JSON.generate(label))
      @out.flush
      label
    end
  end

  # 10–200 ms between two requests of a stream, from the same seeded generator.
  def pause
    @lock.synchronize { 0.010 + @rng.rand * 0.190 }
  end
end

# The request a thread is serving, in the comment on every statement it sends.
def comment
  label = Thread.current[:qc_label]
  return "" unless label

  tags = ["qc_req='#{label[:id]}'"]
  tags << "traceparent='00-#{label[:trace]}-#{label[:span]}-01'" if MODE == "tagged"
  " /*#{tags.join(',')}*/"
end

# Where ActiveRecord hands SQL to the driver: prepared and unprepared statements with binds,
# and plain statements (BEGIN, COMMIT, SELECT 1).
module TagSql
  def execute_and_clear(sql, name, binds, prepare: false, &block)
    super(sql + comment, name, binds, prepare: prepare, &block)
  end

  def execute(sql, name = nil)
    super(sql + comment, name)
  end
end
ActiveRecord::ConnectionAdapters::PostgreSQLAdapter.prepend(TagSql)

ActiveRecord::Base.establish_connection(url: URL, pool: 3)

class Customer < ActiveRecord::Base; end

class Order < ActiveRecord::Base
  belongs_to :customer
end

class Post < ActiveRecord::Base
  has_many :comments
end

class Comment < ActiveRecord::Base
  belongs_to :post
end

class Event < ActiveRecord::Base; end

LABELS_OUT = Labels.new(LABELS)

# One request as Rails' executor serves it: a pooled connection, checked out (and pinged)
# for the request and returned after it, with the query cache on.
def request(scenario, expect = nil, n = 0)
  Thread.current[:qc_label] = LABELS_OUT.start(scenario, expect, n)
  ActiveRecord::Base.connection_pool.with_connection do
    ActiveRecord::Base.cache { yield }
  end
ensure
  Thread.current[:qc_label] = nil
  sleep(LABELS_OUT.pause)
end

def orders_page(k, offset)
  Order.where(status: "open").order(:id).limit(k).offset(offset)
end

def stream(ks, offset_base)
  ks.each_with_index do |k, i|
    offset = (offset_base + i * 37) % 250
    request("lazy-belongs-to", "n_plus_one", k) do
      orders_page(k, offset).map { |o| o.customer.name }
    end
    request("includes") { orders_page(k, offset).includes(:customer).map { |o| o.customer.name } }
    request("count-per-row", "count_in_loop", k) do
      Post.order(:id).limit(k).map { |p| p.comments.count }
    end
    request("group-count") do
      ids = Post.order(:id).limit(k).pluck(:id)
      Comment.where(post_id: ids).group(:post_id).count
    end
    2.times { request("health-check") { ActiveRecord::Base.connection.select_value("SELECT 1") } }
    request("find-each") { Order.where(status: "open").find_each(batch_size: 50).count }
    request("chunked-where-in") do
      ids = Order.order(:id).limit(300).pluck(:customer_id)
      ids.each_slice(100).flat_map { |slice| Customer.where(id: slice).pluck(:name) }
    end
    request("create-per-row", "n_plus_one_write", k) do
      k.times { |j| Event.create!(kind: "signup #{j}") }
    end
    request("insert-all") do
      Event.insert_all(Array.new(k) { |j| { kind: "import #{j}", at: Time.now } })
    end
  end
end

[Thread.new { stream([6, 9, 12], 0) }, Thread.new { stream([8, 10, 7], 120) }].each(&:join)
ActiveRecord::Base.connection_pool.disconnect!
