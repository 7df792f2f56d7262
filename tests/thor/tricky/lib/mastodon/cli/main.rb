# frozen_string_literal: true

# A Thor CLI written to trip a reader that does not know Ruby's literals,
# modifiers and Thor's rules. tootguard's parser must read it as Thor does
# (src/thor.rs compares both). Not Mastodon's code.
#
# desc 'commented', 'Not a command'
# def commented; end

=begin
desc 'in-a-block-comment', 'Not a command'
def in_a_block_comment
end
=end

module Mastodon::CLI
  module Helpers
    extend ActiveSupport::Concern

    included do
      desc 'from-concern', 'Defined by an included block'
      option :level, type: :numeric, aliases: '-l'
      def from_concern; end

      private

      def concern_helper; end
    end
  end

  class Inner < Thor
    FORMATS = %w(plain json).freeze

    class_option :verbose, type: :boolean, aliases: [:v], desc: 'Say more'

    desc 'leaf NAME', 'Says "end" and def'
    option :format, enum: FORMATS, desc: 'Output format'
    option :kind, type: :string, enum: %i[a b], aliases: %w(-k --sort)
    def leaf(name)
      if name == 'x' then puts 'end' end
      value = name.empty? ? 'def' : 'desc'
      puts value unless value.nil?
      [1, 2].each { |i| puts i }
      while false do end
      puts "#{name} #{"nested #{'end'}"}"
      found = /end|def/ =~ name
      words = %w(end def)
      text = <<~TEXT + <<-OTHER
        def hidden; end
        end
      TEXT
        desc 'no', 'no'
        OTHER
      begin
        puts found.to_s if words && text
      rescue StandardError => e
        puts e.message
      end
      char = ?e
      $stdout.puts char
      return if found.nil?
    end

    long_desc <<~LONG_DESC
      desc 'fake', 'fake'
      def fake
      end
    LONG_DESC
    desc 'second', 'Comes after a long_desc'
    method_option :dry_run, type: :boolean, default: false
    method_option :ids, type: :array, aliases: %w(-i --identifiers)
    method_option :require_reason, type: :boolean, aliases: [:require_invite_text]
    def second = puts('endless')

    no_commands do
      def not_a_command; end
    end

    desc 'hidden', 'Not shown', hide: true
    def hidden_one; end

    desc 'after-private', 'Waits for the next public method'
    private

    def helper
      case helper
      when 1 then :end
      end
    end

    public

    def now_public; end

    map 'ls' => :leaf
    map %w(-L --list) => :leaf
  end

  class Deeper < Thor
    desc 'bottom', 'At the bottom'
    def bottom; end
  end

  class Middle < Thor
    desc 'deeper SUBCOMMAND', 'Nested group'
    subcommand 'deeper', Deeper
  end

  class Main < Thor
    include Helpers

    desc 'inner SUBCOMMAND ...ARGS', 'Inner commands'
    subcommand 'inner', Inner

    desc 'middle SUBCOMMAND', 'Middle'
    subcommand 'middle', Middle

    method_options force: :boolean, count: 3, [:name, :n] => :string
    desc 'quick', 'Old-style options'
    def quick; end

    map %w(--version -v) => :version

    desc 'version', 'Show version'
    def version; end

    def self.not_a_command; end

    class << self
      def neither; end
    end
  end
end

__END__
desc 'after-end', 'Not Ruby'
def after_end
