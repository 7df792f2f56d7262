# frozen_string_literal: true

# The tootctl command tree as Thor itself registers it: loads a Mastodon
# root's lib/mastodon/cli/main.rb with Debian's ruby-thor and stand-ins for
# the Rails constants the class bodies touch while loading, then prints
# Mastodon::CLI::Main's commands, options and subcommand classes as JSON in
# the shape of data/tootctl-commands.json, plus each class's `map` flags.
# tootguard's parser (src/thor.rs) is tested against this output.
#
# Usage: ruby thor_tree.rb MASTODON_ROOT
#
# Thor is real, and so is ActiveSupport (Concern, `1.day`, inflections; from
# ruby-rails); only Rails itself and Mastodon's application are stood in for.
# What is printed is what Thor accepts:
# - commands: `all_commands` by their registered (Ruby method) names, less
#   Thor's own `help`, hidden commands and the subcommands (those are groups);
# - options: `class_options.merge(command.options)`, Thor's parse order;
#   an alias only when Thor's own option parser takes it (Thor stores
#   `aliases: [:require_invite_text]` as `-require_invite_text`, which no
#   form in Thor::Options matches, so it is never recognised);
# - `map` keys without a dash: further names of a command, printed as
#   copies of it under that name;
# - flags: `map` entries beginning with `-`, less Thor's HELP_MAPPINGS.

require 'json'
require 'logger'
require 'thor'
require 'thor/version'
require 'active_support'
require 'active_support/concern'
require 'active_support/core_ext/integer/time'
require 'active_support/core_ext/object/blank'
require 'active_support/core_ext/hash/indifferent_access'
require 'active_support/inflector'

ROOT = File.expand_path(ARGV.fetch(0) { abort 'usage: thor_tree.rb MASTODON_ROOT' })

# Gems Mastodon bundles that Debian's test packages do not: required at
# load time, used only inside commands.
OPTIONAL_FEATURES = %w(pastel ruby-progressbar/outputs/null).freeze

module Kernel
  alias_method :tootguard_original_require, :require

  def require(name)
    tootguard_original_require(name)
  rescue LoadError
    raise unless OPTIONAL_FEATURES.include?(name)

    true
  end

  alias_method :tootguard_original_require_relative, :require_relative

  # base.rb boots Rails: `require_relative '../../../config/boot'` and
  # `'../../../config/environment'`. Those are skipped; everything else
  # resolves against the requiring file, as require_relative does.
  def require_relative(path)
    return true if %r{(\A|/)config/(boot|environment)\z}.match?(path)

    caller_file = caller_locations(1, 1).first.absolute_path
    require File.expand_path(path, File.dirname(caller_file))
  end
end

# Accepts any call and returns itself: `Rails.logger = …`,
# `Paperclip.options[:log] = false`.
class Sink < BasicObject
  def method_missing(*) = self
  def respond_to_missing?(*) = true
end

SINK = Sink.new
Rails = SINK
Paperclip = SINK
Chewy = SINK
HttpLog = SINK
module ActiveRecord
  Base = SINK
end
module ActiveJob
  Base = SINK
end

# config/application.rb defines `module Mastodon`; the CLI files reopen
# `Mastodon::CLI` by that short form.
module Mastodon
  module CLI
  end
end

module ActionView
  module Helpers
    NumberHelper = Module.new
  end
end

# Modules the CLI classes and app/models/ip_block.rb include.
%w(Redisable DatabaseHelper Expireable Paginable InetContainer).each do |name|
  Object.const_set(name, Module.new)
end

# Chewy indices search.rb lists in a constant.
%w(InstancesIndex AccountsIndex TagsIndex PublicStatusesIndex StatusesIndex).each do |name|
  Object.const_set(name, Class.new)
end

# Rails models as far as a class body needs them: `enum` defines the
# plural class method (`IpBlock.severities`), as ActiveRecord::Enum does,
# and every other class-level call (validates, scope, …) does nothing.
class ApplicationRecord
  def self.enum(name = nil, values = nil, **options)
    pairs = name ? { name => values } : options.reject { |key, _| key.to_s.start_with?('_') }
    pairs.each do |attribute, mapping|
      next unless mapping.is_a?(Hash) || mapping.is_a?(Array)

      mapping = mapping.each_with_index.to_h if mapping.is_a?(Array)
      table = mapping.to_h { |key, value| [key.to_s, value] }.with_indifferent_access
      singleton_class.define_method(attribute.to_s.pluralize) { table }
    end
  end

  def self.method_missing(*) = nil
  def self.respond_to_missing?(*) = true
end

# The models the fixture root carries load on first use, as Rails'
# autoloader would load them.
Dir[File.join(ROOT, 'app/models/*.rb')].each do |file|
  Object.autoload(File.basename(file, '.rb').camelize.to_sym, file)
end

require File.join(ROOT, 'lib/mastodon/cli/main.rb')

THOR_HELP = ['Describe available commands or one specific command',
             'Describe subcommands or one specific subcommand'].freeze

def thor_help?(command)
  command.name == 'help' && command.usage == 'help [COMMAND]' && THOR_HELP.include?(command.description)
end

def sample_value(option)
  { numeric: '1', hash: 'k:v' }.fetch(option.type, 'x')
end

# Whether Thor's parser takes `name` for the option. The check uses the
# option without its `enum:`, so that only the name is on trial (Thor 1.2
# compares a typed value to symbol enum values and rejects every one).
def accepted_alias?(option, name)
  bare = Thor::Option.new(option.name, type: option.type, aliases: option.aliases)
  args = [name]
  args << sample_value(bare) unless bare.type == :boolean
  parsed = Thor::Options.new({ bare.name => bare }, {}, false, true).parse(args)
  parsed.key?(bare.name)
rescue Thor::Error
  false
end

# The aliases as Thor's option parser registers them (`:f` becomes `-f`;
# Thor 1.2 does this in Thor::Options, 1.3 and later in Thor::Option), kept
# when that parser then recognises them on a command line.
def aliases_json(option)
  registered = Thor::Options.new({ option.name => option }, {}, false, true).instance_variable_get(:@shorts).keys
  registered.select { |name| accepted_alias?(option, name) }
end

def option_json(option)
  {
    long: option.switch_name,
    type: option.type.to_s,
    aliases: aliases_json(option),
    values: (option.enum || []).map(&:to_s),
    description: option.description.to_s,
  }
end

def command_json(klass, command, name = command.name)
  options = klass.class_options.merge(command.options).values.reject(&:hide)
  {
    name: name,
    usage: command.usage.to_s,
    description: command.description.to_s,
    options: options.map { |option| option_json(option) },
  }
end

def commands_json(klass)
  commands = klass.all_commands.values.reject do |command|
    thor_help?(command) || command.hidden? || klass.subcommand_classes.key?(command.name)
  end
  listed = commands.to_h { |command| [command.name, command] }
  aliases = klass.map.reject { |key, _| Thor::HELP_MAPPINGS.include?(key) || key.to_s.start_with?('-') }
  commands.map { |command| command_json(klass, command) } +
    aliases.filter_map { |key, target| (command = listed[target.to_s]) && command_json(klass, command, key.to_s) }
end

def flags_json(klass)
  listed = klass.all_commands
  by_target = Hash.new { |hash, key| hash[key] = [] }
  klass.map.each do |key, target|
    next if Thor::HELP_MAPPINGS.include?(key) || !key.to_s.start_with?('-') || !listed.key?(target.to_s)

    by_target[target.to_s] << key.to_s
  end
  by_target.map do |target, names|
    long = names.find { |name| name.start_with?('--') } || names.first
    {
      long: long,
      type: 'boolean',
      aliases: names - [long],
      values: [],
      description: listed[target].description.to_s,
    }
  end
end

def group_json(klass, name, description)
  {
    name: name,
    description: description,
    commands: commands_json(klass),
    groups: groups_json(klass),
    flags: flags_json(klass),
  }
end

def groups_json(klass)
  klass.subcommand_classes.map do |name, subclass|
    group_json(subclass, name, klass.all_commands[name]&.description.to_s)
  end
end

main = Mastodon::CLI::Main
puts JSON.pretty_generate(
  source: "Thor #{Thor::VERSION} loading #{ROOT}/lib/mastodon/cli",
  top_level: commands_json(main),
  groups: groups_json(main),
  flags: flags_json(main)
)
