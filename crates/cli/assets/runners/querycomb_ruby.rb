# querycomb's hook for RSpec and minitest, loaded by `querycomb run` through
# RUBYOPT=-r<this file>, so every Ruby process of the command loads it (forked workers
# inherit it). It waits for the project to load RSpec or minitest itself (it never loads
# either), then tells querycomb when each test and each group's before(:all) start and
# end, as one JSON line per boundary appended to the file named by QUERYCOMB_TESTS (see
# crates/cli/src/run/attribution.rs). It never touches the database or a test's result.

require 'json'

module QuerycombRuby
  PATH = ENV['QUERYCOMB_TESTS']

  class << self
    # Only one phase is open per process: a new one ends the previous.
    def only(test, phase)
      send_line(@open[0], @open[1], 'end') if @open
      @open = test && [test, phase]
      send_line(test, phase, 'start') if test
    end

    def relative(file)
      path = File.expand_path(file.to_s)
      path.start_with?("#{Dir.pwd}/") ? path.delete_prefix("#{Dir.pwd}/") : file.to_s
    end

    def hook_loaded
      hook_rspec if !@rspec && defined?(::RSpec::Core::Configuration) && ::RSpec.respond_to?(:configure)
      hook_minitest if !@minitest && defined?(::Minitest::Test)
    rescue StandardError
      nil # never in the runner's way
    end

    private

    def send_line(test, phase, at)
      return unless PATH
      line = JSON.generate(
        pid: Process.pid, test: test, phase: phase, at: at,
        time_us: Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond),
        # CLOCK_MONOTONIC, the proxy's own clock: exact ordering against its statements.
        mono_us: Process.clock_gettime(Process::CLOCK_MONOTONIC, :microsecond)
      )
      if @file.nil? || @file_pid != Process.pid
        @file = File.open(PATH, File::WRONLY | File::APPEND | File::CREAT)
        @file.sync = true
        @file_pid = Process.pid
      end
      # One write per line: O_APPEND keeps the lines of parallel workers whole.
      @file.write("#{line}\n")
    rescue StandardError
      nil
    end

    def hook_rspec
      @rspec = true
      listener = RSpecListener.new
      ::RSpec.configure do |config|
        config.before(:suite) do
          config.reporter.register_listener(
            listener, :example_group_started, :example_started, :example_finished,
            :example_group_finished
          )
        end
      end
    end

    def hook_minitest
      @minitest = true
      ::Minitest::Test.prepend(MinitestPhases)
    end
  end

  # RSpec's reporter events: a group's before(:context) runs between its start and its
  # first example's start (its setup); each example with its before/after(:each) hooks is
  # the test; after the last example comes the group's after(:context) (its teardown).
  class RSpecListener
    def example_group_started(notification)
      QuerycombRuby.only(group_id(notification.group), 'setup')
    end

    def example_started(notification)
      example = notification.example
      QuerycombRuby.only(
        "#{QuerycombRuby.relative(example.metadata[:file_path])} > #{example.full_description}",
        'call'
      )
    end

    def example_finished(notification)
      QuerycombRuby.only(group_id(notification.example.example_group), 'teardown')
    end

    def example_group_finished(_notification)
      QuerycombRuby.only(nil, nil)
    end

    private

    def group_id(group)
      "#{QuerycombRuby.relative(group.metadata[:file_path])} > #{group.description}"
    end
  end

  # minitest's lifecycle: before_setup … after_setup is the setup, then the test method,
  # before_teardown … after_teardown the teardown.
  module MinitestPhases
    def before_setup
      QuerycombRuby.only(querycomb_id, 'setup')
      super
    end

    def after_setup
      super
      QuerycombRuby.only(querycomb_id, 'call')
    end

    def before_teardown
      QuerycombRuby.only(querycomb_id, 'teardown')
      super
    end

    def after_teardown
      super
      QuerycombRuby.only(nil, nil)
    end

    private

    def querycomb_id
      file = method(name).source_location&.first
      "#{file ? QuerycombRuby.relative(file) : '<file>'} > #{self.class.name}##{name}"
    end
  end

  # Sees RSpec or minitest as soon as the project requires it.
  module WatchRequire
    def require(name)
      loaded = super
      QuerycombRuby.hook_loaded
      loaded
    end
  end
end

Kernel.prepend(QuerycombRuby::WatchRequire) if QuerycombRuby::PATH
