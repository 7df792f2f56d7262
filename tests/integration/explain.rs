//! `tootguard explain`: the shim's decisions, shown without running anything.

use crate::harness::World;

#[test]
fn explain_json_shows_the_injection_and_runs_nothing() {
    let w = World::production();
    let out = w
        .tootguard()
        .args(["explain", "--json", "tootctl", "--help"])
        .run();
    out.expect_code(0);
    let json = out.json();
    assert_eq!(json["tool"], "tootctl");
    assert_eq!(
        json["program"],
        w.root.join("bin/tootctl").display().to_string()
    );
    assert_eq!(json["args"], serde_json::json!(["--help"]));
    assert_eq!(json["mastodon_root"], w.root.display().to_string());
    assert_eq!(json["env"], serde_json::json!({"RAILS_ENV": "production"}));
    assert_eq!(json["would_exec"], true);
    let rails_env = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "rails-env")
        .unwrap();
    assert_eq!(rails_env["level"], "notice");
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
    let program = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "program")
        .expect("a program check");
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
    out.expect_code(0);
    assert!(
        out.stdout
            .contains(&w.root.join("bin/rails").display().to_string())
    );
    assert!(out.stdout.contains("RAILS_ENV=production"));
    assert!(out.stdout.contains("would exec   yes"), "{}", out.stdout);
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
        .expect_stderr(
            "tootguard: error: explain needs a command as typed: rails, rake, tootctl, ruby or \
             bundle, or a path such as bin/tootctl; \"yarn\" is not one of them. Example: \
             `tootguard explain bundle exec rails db:migrate`.",
        );
    // The recorder bin/ scripts start with #!/bin/sh: nothing of tootguard's
    // runs on their way.
    w.tootguard()
        .args(["explain", "bin/tootctl"])
        .run()
        .expect_code(2)
        .expect_stderr(
            "bin/tootctl does not start with #!/usr/bin/env ruby (or cannot be read), so no \
             tootguard shim is on its way when it runs.",
        );
}
