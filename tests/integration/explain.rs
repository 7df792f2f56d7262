//! `tootguard explain`: the shim's decisions, shown without running anything.

use crate::harness::{NotPostgres, World, owner_check_message};

#[test]
fn explain_json_shows_the_injection_and_runs_nothing() {
    let w = World::production();
    let out = w
        .tootguard()
        .args(["explain", "--json", "tootctl", "--help"])
        .run();
    out.expect_code(0).expect_stdout_is(
        &w.normaliser(),
        &format!(
            r#"
            {{
              "args": [
                "--help"
              ],
              "checks": [
                {{
                  "fix": null,
                  "id": "root",
                  "level": "ok",
                  "message": "Mastodon production install at [BASE]/live (found by working directory)"
                }},
                {{
                  "fix": null,
                  "id": "user",
                  "level": "ok",
                  "message": "{}"
                }},
                {{
                  "fix": null,
                  "id": "rails-env",
                  "level": "notice",
                  "message": "RAILS_ENV was not set; running with RAILS_ENV=production (production install)"
                }}
              ],
              "cwd": "[BASE]/live",
              "database": null,
              "direct": null,
              "env": {{
                "RAILS_ENV": "production"
              }},
              "first_on_path": "[BASE]/shims/tootctl",
              "guarded": "here",
              "interpreter": null,
              "mastodon_root": "[BASE]/live",
              "passes_through": null,
              "production": true,
              "program": "[BASE]/live/bin/tootctl",
              "reached": true,
              "run_as": null,
              "shim": "tootctl",
              "tool": "tootctl",
              "would_exec": true
            }}
            "#,
            owner_check_message()
        ),
    );
    assert!(!w.ran("tootctl"), "explain must not run the program");
}

#[test]
fn explain_json_shows_a_strict_refusal_as_a_block_that_would_not_exec() {
    let w = World::production();
    let out = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .env("RAILS_ENV", "development")
        .env("TOOTGUARD_STRICT", "1")
        .run();
    out.expect_code(0);
    let json = out.json();
    assert_eq!(json["would_exec"], false);
    let levels: Vec<_> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        levels.contains(&("rails-env".into(), "block".into())),
        "{levels:?}"
    );
    assert!(!w.ran("rails"));
}

#[test]
fn explain_json_shows_a_missing_program_as_null_with_a_block() {
    let w = World::bare();
    let out = w
        .tootguard()
        .args(["explain", "--json", "tootctl"])
        .env("PATH", format!("{}:/usr/bin:/bin", w.shims.display()))
        .run();
    out.expect_code(0);
    let json = out.json();
    assert_eq!(json["program"], serde_json::Value::Null);
    assert_eq!(json["mastodon_root"], serde_json::Value::Null);
    assert_eq!(json["would_exec"], false);
    let program = crate::harness::row(&json["checks"], "program");
    assert_eq!(program["level"], "block");
}

#[test]
fn explain_json_shows_a_loop_layout_as_a_block() {
    let w = World::production();
    std::fs::remove_file(w.root.join("bin/tootctl")).unwrap();
    std::os::unix::fs::symlink(crate::harness::tootguard(), w.root.join("bin/tootctl")).unwrap();
    let json = w
        .tootguard()
        .args(["explain", "--json", "tootctl"])
        .run()
        .json();
    assert_eq!(json["would_exec"], false);
    let text = json["checks"].to_string();
    assert!(text.contains("is tootguard itself"), "{text}");
}

#[test]
fn explain_text_names_the_program_the_change_and_the_decision() {
    let w = World::production();
    let out = w.tootguard().args(["explain", "rails", "db:version"]).run();
    out.expect_code(0).expect_stdout_is(
        &w.normaliser(),
        &format!(
            r#"
            command      rails db:version
            reaches      yes: PATH finds tootguard's rails ([BASE]/shims/rails)
            layer        rails: the rails shim guards it
            tool         rails
            program      [BASE]/live/bin/rails
            arguments    "db:version"
            root         [BASE]/live (production, found by working directory)
            directory    [BASE]/live
            environment  RAILS_ENV=production
            checks
              ok      root         Mastodon production install at [BASE]/live (found by working directory)
              ok      user         {}
              notice  rails-env    RAILS_ENV was not set; running with RAILS_ENV=production (production install)
            would exec   yes
            "#,
            owner_check_message()
        ),
    );
}

/// A migration behind PgBouncer: where it goes instead, and why.
#[test]
fn explain_text_for_a_migration_behind_pgbouncer_shows_the_direct_endpoint_and_the_change() {
    let w = World::production();
    let direct = NotPostgres::tcp();
    std::fs::write(
        w.root.join(".env.production"),
        format!(
            "DB_HOST=127.0.0.1\nDB_PORT=6432\nPREPARED_STATEMENTS=false\n\
             TOOTGUARD_DIRECT_DB_PORT={}\n",
            direct.port
        ),
    )
    .unwrap();
    let out = w.tootguard().args(["explain", "rails", "db:migrate"]).run();
    out.expect_code(0).expect_stdout_is(
        &w.normaliser().with(direct.port, "[PORT]"),
        &format!(
            r#"
            command      rails db:migrate
            reaches      yes: PATH finds tootguard's rails ([BASE]/shims/rails)
            layer        rails: the rails shim guards it
            tool         rails
            program      [BASE]/live/bin/rails
            arguments    "db:migrate"
            root         [BASE]/live (production, found by working directory)
            directory    [BASE]/live
            environment  RAILS_ENV=production
                         DB_PORT=[PORT]
            database     127.0.0.1:6432 database mastodon_production as mastodon
            direct       127.0.0.1:[PORT] (found by setting)
            checks
              ok      root         Mastodon production install at [BASE]/live (found by working directory)
              ok      user         {}
              notice  rails-env    RAILS_ENV was not set; running with RAILS_ENV=production (production install)
              notice  pgbouncer    migrating directly to PostgreSQL at 127.0.0.1:[PORT], skipping PgBouncer at 127.0.0.1:6432
            would exec   yes
            "#,
            owner_check_message()
        ),
    );
    assert!(!w.ran("rails"), "explain must not run the program");
}

#[test]
fn explain_shows_the_change_of_directory_for_rails_outside_the_root() {
    let w = World::production();
    let json = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:version"])
        .env("MASTODON_ROOT", &w.root)
        .dir(w.base())
        .run()
        .json();
    assert_eq!(json["cwd"], w.root.display().to_string());
}

#[test]
fn explain_refuses_an_unknown_command_with_a_usage_error() {
    let w = World::production();
    w.tootguard()
        .args(["explain", "yarn", "install"])
        .run()
        .expect_code(2)
        .expect_stderr_is(
            &w.normaliser(),
            "tootguard: error: explain needs a command as typed: rails, rake, tootctl, ruby or \
             bundle, or a path such as bin/tootctl; \"yarn\" is not one of them. Example: \
             `tootguard explain bundle exec rails db:migrate`.\n",
        );
    // The recorder bin/ scripts start with #!/bin/sh: nothing of tootguard's
    // runs on their way.
    w.tootguard()
        .args(["explain", "bin/tootctl"])
        .run()
        .expect_code(2)
        .expect_stderr_is(
            &w.normaliser(),
            "tootguard: error: explain needs a command as typed: rails, rake, tootctl, ruby or \
             bundle, or a path such as bin/tootctl; bin/tootctl does not start with \
             #!/usr/bin/env ruby (or cannot be read), so no tootguard shim is on its way when it \
             runs. Example: `tootguard explain bundle exec rails db:migrate`.\n",
        );
}

/// A production World whose bin/ scripts start as Mastodon's do, with a
/// Gemfile: what `bundle exec` and `bin/tootctl` need to be recognised.
fn docs_layout() -> World {
    let w = World::production();
    for tool in ["rails", "rake", "tootctl"] {
        crate::harness::write_executable(
            &w.root.join("bin").join(tool),
            "#!/usr/bin/env ruby\nputs :never_run\n",
        );
    }
    std::fs::write(w.root.join("Gemfile"), "").unwrap();
    w
}

/// The user check's line as this test runs: the World belongs to whoever
/// runs the suite.
fn user_line() -> String {
    format!("  ok      user         {}\n", owner_check_message())
}

#[test]
fn explain_takes_bundle_exec_and_names_the_layer_that_guards_it() {
    let w = docs_layout();
    let out = w
        .tootguard()
        .args(["explain", "bundle", "exec", "rails", "db:version"])
        .run();
    out.expect_code(0);
    let (root, shims) = (w.root.display(), w.shims.display());
    assert_eq!(
        out.stdout,
        format!(
            "command      bundle exec rails db:version\n\
             reaches      yes: PATH finds tootguard's bundle ({shims}/bundle)\n\
             layer        bundle: the bundle shim guards rails, which Bundler runs inside its own process\n\
             tool         rails\n\
             program      /usr/bin/bundle exec rails\n\
             arguments    \"db:version\"\n\
             root         {root} (production, found by Bundler's Gemfile)\n\
             directory    {root}\n\
             environment  RAILS_ENV=production\n\
             checks\n\
             \x20 ok      root         Mastodon production install at {root} (found by Bundler's Gemfile)\n\
             {}\
             \x20 notice  rails-env    RAILS_ENV was not set; running with RAILS_ENV=production (production install)\n\
             would exec   yes\n",
            user_line()
        )
    );
}

#[test]
fn explain_takes_a_bin_path_and_says_how_it_reaches_the_ruby_shim() {
    let w = docs_layout();
    let json = w
        .tootguard()
        .args(["explain", "--json", "bin/tootctl", "accounts", "list"])
        .run()
        .json();
    assert_eq!(json["shim"], "ruby");
    assert_eq!(json["tool"], "tootctl");
    assert_eq!(json["guarded"], "here");
    assert_eq!(json["reached"], true);
    assert_eq!(
        json["first_on_path"],
        w.shims.join("ruby").display().to_string()
    );
    assert_eq!(json["program"], "/usr/bin/ruby");
    assert_eq!(json["args"], serde_json::json!(["accounts", "list"]));
    assert_eq!(json["env"], serde_json::json!({"RAILS_ENV": "production"}));
    assert_eq!(json["mastodon_root"], w.root.display().to_string());

    // From anywhere, by its absolute path, as cron runs it.
    let absolute = w.root.join("bin/tootctl");
    let out = w
        .tootguard()
        .arg("explain")
        .arg(&absolute)
        .args(["media", "remove"])
        .dir(w.base())
        .run();
    out.expect_code(0);
    let lines: Vec<&str> = out.stdout.lines().take(6).collect();
    assert_eq!(
        lines,
        [
            format!("command      {} media remove", absolute.display()).as_str(),
            &format!(
                "runs         {} starts with #!/usr/bin/env ruby: the kernel runs env, which \
                 runs the first ruby on PATH with the script",
                absolute.display()
            ),
            &format!(
                "reaches      yes: PATH finds tootguard's ruby ({})",
                w.shims.join("ruby").display()
            ),
            "layer        ruby: the ruby shim guards tootctl, the script it runs",
            "tool         tootctl",
            &format!("program      /usr/bin/ruby {}", absolute.display()),
        ]
    );
}

#[test]
fn explain_says_what_passes_through_and_what_would_not_be_reached() {
    let w = docs_layout();
    let json = w
        .tootguard()
        .args(["explain", "--json", "ruby", "-e", "puts 1"])
        .run()
        .json();
    assert_eq!(json["guarded"], "pass-through");
    assert_eq!(
        json["passes_through"],
        "ruby -e runs the code given, no script"
    );
    assert_eq!(json["tool"], serde_json::Value::Null);
    assert_eq!(json["checks"], serde_json::json!([]));
    assert_eq!(json["would_exec"], true);

    // Another project's Bundler: not Mastodon's, untouched.
    let other = w.base().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("Gemfile"), "").unwrap();
    let json = w
        .tootguard()
        .args(["explain", "--json", "bundle", "exec", "rails", "db:migrate"])
        .dir(&other)
        .run()
        .json();
    assert_eq!(json["guarded"], "pass-through");
    assert_eq!(json["passes_through"], "not in a Mastodon install");

    // No tootguard bundle on PATH: explained, but not reached.
    let json = w
        .tootguard()
        .args(["explain", "--json", "bundle", "exec", "rails", "db:version"])
        .env("PATH", "/usr/bin:/bin")
        .run()
        .json();
    assert_eq!(json["reached"], false);
    assert_eq!(json["first_on_path"], "/usr/bin/bundle");
}
