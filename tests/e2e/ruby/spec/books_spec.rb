require_relative '../db'

RSpec.describe 'books page' do
  before(:all) do
    @conn = Shop.connect
    # Fixture work: reported as this group's setup.
    @conn.exec('SELECT count(*) FROM books')
  end

  after(:all) { @conn.close }

  it 'n+1' do
    expect(Shop.page_one_by_one(@conn)[7]).to eq('book 8 by author 8')
  end

  it 'clean' do
    expect(Shop.page_joined(@conn)[7]).to eq('book 8 by author 8')
  end
end
