require 'minitest/autorun'
require_relative '../db'

class BooksPageTest < Minitest::Test
  def setup
    @conn = Shop.connect
    # Fixture work: reported as each test's setup.
    @conn.exec('SELECT count(*) FROM books')
  end

  def teardown
    @conn.close
  end

  def test_n_plus_one
    assert_equal 'book 8 by author 8', Shop.page_one_by_one(@conn)[7]
  end

  def test_clean
    assert_equal 'book 8 by author 8', Shop.page_joined(@conn)[7]
  end
end
