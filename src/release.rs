//! Which Mastodon release a checkout holds, which one ran before it, and
//! whether going from one to the other is a path Mastodon supports.
//!
//! Mastodon's docs ("Upgrading", since February 2026): patch releases may
//! be skipped, but at least one release of every minor series must be
//! deployed (4.3 → 4.5 is not supported: 4.4 first), and every skipped
//! release's notes read. A downgrade is never supported: migrations only go
//! forward.
//!
//! The checked-out version is `lib/mastodon/version.rb`. The version that
//! ran before comes from tootguard's record of its last finished upgrade
//! (`state.rs`), else from git: the commit `HEAD` pointed at before the last
//! checkout, from the reflog (`.git/logs/HEAD`, read as a file), and that
//! commit's own `version.rb` (`git show`, run as the checkout's owner — git
//! runs programs a repository's config names, so never as root, and never
//! as a third user). Unknown stays unknown: a warning, never a guess.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::unistd::{Uid, User};

/// A Mastodon version: `4.5.0`, `4.5.0-beta.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `beta.1`; none for a release.
    pub pre: Option<String>,
}

impl Version {
    /// `4.5.0`, `v4.5.0`, `4.5.0-beta.1`, `2.9.3rc1` (old releases).
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre.to_owned())),
            None => (text, None),
        };
        let mut parts = core.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        // `3rc1`: digits, then an old-style prerelease.
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let patch = rest[..digits].parse().ok()?;
        let pre = match (&rest[digits..], pre) {
            ("", pre) => pre,
            (old, None) => Some(old.trim_start_matches('.').to_owned()),
            (_, Some(_)) => return None,
        };
        Some(Version {
            major,
            minor,
            patch,
            pre: pre.filter(|p| !p.is_empty()),
        })
    }

    /// `4.5`
    pub fn series(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// SemVer's order: a prerelease comes before its release; prerelease
    /// parts compare as numbers when both are numbers.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => {
                    let (a, b): (Vec<&str>, Vec<&str>) =
                        (a.split('.').collect(), b.split('.').collect());
                    for (x, y) in a.iter().zip(&b) {
                        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            _ => x.cmp(y),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    a.len().cmp(&b.len())
                }
            })
    }
}

/// A release as tootguard records it: the version and the commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Release {
    pub version: String,
    pub commit: Option<String>,
}

/// The version `root`'s `lib/mastodon/version.rb` defines.
pub fn checked_out(root: &Path) -> Result<Version, String> {
    let file = root.join("lib/mastodon/version.rb");
    let text = crate::files::read_small(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    version_of(&text).ok_or_else(|| {
        format!(
            "{} has no readable `def major`, `def minor` and `def patch`",
            file.display()
        )
    })
}

/// The version a `version.rb` text defines.
pub fn version_of(text: &str) -> Option<Version> {
    Version::parse(&parse_version_rb(text)?)
}

/// The version `lib/mastodon/version.rb` defines: `4.3.0`, `4.4.0-alpha.2`,
/// or for old releases `[major, minor, patch, pre].compact.join('.') + flags`.
/// Only literal method bodies count; anything computed is ignored.
pub fn parse_version_rb(text: &str) -> Option<String> {
    let number = |name| method_body(text, name)?.parse::<u64>().ok();
    let (major, minor, patch) = (number("major")?, number("minor")?, number("patch")?);
    let mut version = format!("{major}.{minor}.{patch}");
    let literal = |name| method_body(text, name).and_then(ruby_literal);
    if method_body(text, "default_prerelease").is_some() {
        // Mastodon ≥ 4.2: `prerelease` is the environment's or the default.
        let pre = literal("prerelease").or_else(|| literal("default_prerelease"));
        if let Some(pre) = pre.filter(|p| !p.is_empty()) {
            version.push('-');
            version.push_str(&pre);
        }
    } else {
        if let Some(pre) = literal("pre").filter(|p| !p.is_empty()) {
            version.push('.');
            version.push_str(&pre);
        }
        if let Some(flags) = literal("flags") {
            version.push_str(&flags);
        }
    }
    Some(version)
}

/// The first line of `def name … end`, or the body of a one-line form
/// (`def name; 4; end`, `def name = 4`).
fn method_body<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("def ") else {
            continue;
        };
        let Some(after) = rest.trim_start().strip_prefix(name) else {
            continue;
        };
        let after = after.strip_prefix("()").unwrap_or(after).trim();
        if after.is_empty() || after.starts_with('#') {
            return lines
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'));
        }
        if let Some(body) = after.strip_prefix('=') {
            return Some(body.trim());
        }
        if let Some(body) = after.strip_prefix(';') {
            let body = body.trim();
            let body = body.strip_suffix("end").unwrap_or(body).trim_end();
            return Some(body.strip_suffix(';').unwrap_or(body).trim());
        }
        // `def major_version`: another method.
    }
    None
}

/// A quoted string, `nil` (empty) or a number; None for anything computed.
fn ruby_literal(body: &str) -> Option<String> {
    let body = body.trim();
    if body == "nil" {
        return Some(String::new());
    }
    for quote in ['\'', '"'] {
        if let Some(inner) = body
            .strip_prefix(quote)
            .and_then(|b| b.strip_suffix(quote))
            .filter(|inner| !inner.contains(quote))
        {
            return Some(inner.to_owned());
        }
    }
    (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit())).then(|| body.to_owned())
}

/// The commit `HEAD` names, read from `.git` itself (no git run): a
/// detached HEAD (`git checkout v4.5.0`) or a branch's ref, loose or packed.
pub fn head_commit(root: &Path) -> Option<String> {
    let git = root.join(".git");
    let head = read_line(&git.join("HEAD"))?;
    match head.strip_prefix("ref: ") {
        None => is_sha(&head).then_some(head),
        Some(name) => {
            if name.contains("..") || !name.starts_with("refs/") {
                return None;
            }
            if let Some(sha) = read_line(&git.join(name)).filter(|s| is_sha(s)) {
                return Some(sha);
            }
            let packed = crate::files::read_small(&git.join("packed-refs")).ok()?;
            packed.lines().find_map(|line| {
                let (sha, refname) = line.split_once(' ')?;
                (refname == name && is_sha(sha)).then(|| sha.to_owned())
            })
        }
    }
}

/// What the reflog says ran before the checked-out commit.
#[derive(Debug, PartialEq, Eq)]
pub enum Before {
    /// `HEAD` moved here from this commit by a checkout.
    Commit(String),
    /// The checkout was the first after a clone: nothing ran before.
    Fresh,
    /// No reflog, or no checkout to the current commit in it.
    Unknown,
}

/// The commit `HEAD` pointed at before the last checkout that moved it to
/// `head`, from `.git/logs/HEAD` (`<old> <new> <who> <when>\t<message>`).
pub fn before_checkout(root: &Path, head: &str) -> Before {
    let Some((log, whole)) = read_tail(&root.join(".git/logs/HEAD")) else {
        return Before::Unknown;
    };
    let entries: Vec<(&str, &str, &str)> = log
        .lines()
        .filter_map(|line| {
            let (fields, message) = line.split_once('\t')?;
            let mut fields = fields.split(' ');
            Some((fields.next()?, fields.next()?, message))
        })
        .collect();
    // The last checkout that arrived at `head` from somewhere else.
    let Some(at) = entries
        .iter()
        .rposition(|(old, new, msg)| *new == head && old != new && msg.starts_with("checkout:"))
    else {
        return Before::Unknown;
    };
    let old = entries[at].0;
    if !is_sha(old) || old.bytes().all(|b| b == b'0') {
        return Before::Unknown;
    }
    // HEAD never left the commit the clone made before this checkout: that
    // commit (a branch's tip) is not a version that ever ran. The docs'
    // flow — clone, check out a release, run it, check out the next — is
    // not this: the release checked out after the clone did run.
    let earlier = &entries[..at];
    if whole
        && let Some((_, cloned, message)) = earlier.first()
        && message.starts_with("clone:")
        && *cloned == old
        && earlier.iter().all(|(_, new, _)| *new == old)
    {
        return Before::Fresh;
    }
    Before::Commit(old.to_owned())
}

/// How long `git show` may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The version `commit`'s own `version.rb` defines, read with `git show`
/// as the checkout's owner. Err says why it cannot be known.
pub fn version_at(root: &Path, commit: &str) -> Result<Version, String> {
    if !is_sha(commit) {
        return Err(format!("{commit:?} is not a commit id"));
    }
    let owner = std::fs::metadata(root.join(".git"))
        .map_err(|e| format!("cannot read {}: {e}", root.join(".git").display()))?
        .uid();
    let me = Uid::effective();
    let mut cmd = Command::new("git");
    cmd.args(["-c", "core.fsmonitor=false", "show"])
        .arg(format!("{commit}:lib/mastodon/version.rb"))
        .current_dir(root)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if me.as_raw() != owner {
        if !me.is_root() {
            return Err(
                "the checkout belongs to another user, so tootguard does not run git in it \
                 (a repository's config can make git run programs); run this as its owner"
                    .into(),
            );
        }
        let user = User::from_uid(Uid::from_raw(owner))
            .ok()
            .flatten()
            .ok_or_else(|| format!("the checkout's owner, uid {owner}, has no user entry"))?;
        let owner = crate::guards::user::RunAs::from_user(&user);
        cmd.env("HOME", &user.dir);
        // SAFETY: between fork and exec only async-signal-safe calls
        // (setgroups, setgid, setuid).
        unsafe {
            cmd.pre_exec(move || owner.drop_privileges());
        }
    }
    let (status, stdout, stderr) =
        crate::process::run_with_timeout(cmd, GIT_TIMEOUT).map_err(|e| format!("git show: {e}"))?;
    if !status.success() {
        let why = String::from_utf8_lossy(&stderr);
        let why = why.lines().next().unwrap_or("").trim();
        return Err(format!(
            "git show {}:lib/mastodon/version.rb failed ({why})",
            short(commit)
        ));
    }
    version_of(&String::from_utf8_lossy(&stdout)).ok_or_else(|| {
        format!(
            "lib/mastodon/version.rb at {} defines no readable version",
            short(commit)
        )
    })
}

/// `1a2b3c4d`
pub fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

fn is_sha(text: &str) -> bool {
    (text.len() == 40 || text.len() == 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The last [`TAIL`] bytes of a log (a long-lived checkout's reflog can be
/// large), and whether that is the whole file. Regular files only.
fn read_tail(path: &Path) -> Option<(String, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    const TAIL: u64 = 512 * 1024;
    // A regular file before it is opened (a device is never opened).
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let start = meta.len().saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(TAIL).read_to_end(&mut bytes).ok()?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // The first line is cut.
        let cut = text.find('\n').map_or(text.len(), |i| i + 1);
        text.drain(..cut);
    }
    Some((text, start == 0))
}

fn read_line(path: &Path) -> Option<String> {
    let text = crate::files::read_small(path).ok()?;
    Some(text.lines().next()?.trim().to_owned())
}

/// What ran before the checkout, and how tootguard knows.
#[derive(Debug)]
pub enum Running {
    /// Known: the version, its commit, and where that came from.
    Known {
        version: Version,
        commit: Option<String>,
        source: String,
    },
    /// A fresh clone: nothing ran before this checkout.
    Fresh,
    /// Cannot be known: why.
    Unknown(String),
}

/// The version running before the checkout: tootguard's record of its last
/// finished upgrade, else the commit the reflog says HEAD left, else unknown.
pub fn running(root: &Path) -> Running {
    let state = crate::state::State::load(root).ok();
    let recorded = state.as_ref().and_then(|state| {
        // An upgrade that has not finished: until its restart the code of
        // its `from` runs, after it its `to`.
        if let Some(upgrade) = state.upgrade.as_ref().filter(|u| !u.finished) {
            let restarted = upgrade.done.iter().any(|d| d == "restart");
            let release = if restarted {
                Some(&upgrade.to)
            } else {
                upgrade.from.as_ref()
            };
            return release.map(|r| {
                (
                    r.clone(),
                    format!(
                        "tootguard's record of the unfinished upgrade to {}",
                        upgrade.to.version
                    ),
                )
            });
        }
        state.running.clone().map(|r| {
            (
                r,
                "tootguard's record of the last finished upgrade".to_owned(),
            )
        })
    });
    let from_git = from_git(root);
    match (recorded, from_git) {
        (Some((release, source)), git) => {
            let Some(version) = Version::parse(&release.version) else {
                return git;
            };
            // A record that git contradicts is stale (an upgrade made
            // without tootguard since) or git is (checkouts back and
            // forth): tootguard cannot tell which, and says so.
            if let Running::Known {
                version: git_version,
                commit: git_commit,
                ..
            } = &git
                && *git_version != version
                && release.commit.is_some()
                && release.commit != *git_commit
                && release.commit != head_commit(root)
            {
                return Running::Unknown(format!(
                    "{source} says {version} runs, but git's reflog says {git_version} was \
                     checked out before this; if the record is stale, move the owner's \
                     ~/.local/state/tootguard/upgrade-*.json file of this install aside"
                ));
            }
            Running::Known {
                version,
                commit: release.commit,
                source,
            }
        }
        (None, git) => git,
    }
}

/// What git's reflog says ran before the checkout.
fn from_git(root: &Path) -> Running {
    let Some(head) = head_commit(root) else {
        return Running::Unknown(
            "this is no git checkout tootguard can read (.git/HEAD), and no upgrade was \
             recorded"
                .into(),
        );
    };
    match before_checkout(root, &head) {
        Before::Fresh => Running::Fresh,
        Before::Unknown => Running::Unknown(
            "no upgrade was recorded, and git's reflog shows no checkout of this commit".into(),
        ),
        Before::Commit(commit) => match version_at(root, &commit) {
            Ok(version) => Running::Known {
                source: format!(
                    "git's reflog: HEAD was at {} before the checkout",
                    short(&commit)
                ),
                version,
                commit: Some(commit),
            },
            Err(why) => Running::Unknown(format!(
                "the reflog names {} as the commit before the checkout, but its version cannot \
                 be read: {why}",
                short(&commit)
            )),
        },
    }
}

/// Whether going from `from` to `to` is a path Mastodon supports.
#[derive(Debug, PartialEq, Eq)]
pub enum Jump {
    /// The same version: nothing to upgrade.
    Same,
    /// A supported step: a patch release, or the next minor series.
    Step,
    /// Minor series skipped: these must be deployed first (`4.4`).
    Skips(Vec<String>),
    /// Back to an older version.
    Downgrade,
    /// A new major version: the release notes say what path it needs.
    NewMajor,
}

/// The path from `from` to `to`.
pub fn path(from: &Version, to: &Version) -> Jump {
    use std::cmp::Ordering;
    match to.cmp(from) {
        Ordering::Equal => Jump::Same,
        Ordering::Less => Jump::Downgrade,
        Ordering::Greater if to.major != from.major => Jump::NewMajor,
        Ordering::Greater if to.minor <= from.minor + 1 => Jump::Step,
        // At most a few names: a version.rb with an absurd minor number
        // must not make a list of millions.
        Ordering::Greater => Jump::Skips(
            (from.minor + 1..to.minor)
                .take(10)
                .map(|minor| format!("{}.{minor}", from.major))
                .collect(),
        ),
    }
}

/// Upstream's release notes of a series' first release.
pub fn release_notes(series: &str) -> String {
    format!("https://github.com/mastodon/mastodon/releases/tag/v{series}.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "# frozen_string_literal: true\n\nmodule Mastodon\n  module Version\n    \
        module_function\n\n    def major\n      4\n    end\n\n    def minor\n      4\n    end\n\n    \
        def patch\n      0\n    end\n\n    def default_prerelease\n      'alpha.2'\n    end\n\n    \
        def prerelease\n      version_configuration[:prerelease].presence || default_prerelease\n    \
        end\n  end\nend\n";

    #[test]
    fn upstream_version_rb_gives_version_and_prerelease() {
        assert_eq!(parse_version_rb(UPSTREAM).as_deref(), Some("4.4.0-alpha.2"));
        let release = UPSTREAM.replace("'alpha.2'", "''");
        assert_eq!(parse_version_rb(&release).as_deref(), Some("4.4.0"));
    }

    #[test]
    fn old_version_rb_with_pre_and_flags_is_read() {
        let old = "def major\n 2\nend\ndef minor\n 9\nend\ndef patch\n 3\nend\n\
                   def pre\n nil\nend\ndef flags\n 'rc1'\nend\n";
        assert_eq!(parse_version_rb(old).as_deref(), Some("2.9.3rc1"));
    }

    #[test]
    fn one_line_methods_and_lookalike_names_are_handled() {
        let text = "def kmyblue_major\n 5\nend\ndef major_x; 9; end\ndef major; 4; end\n\
                    def minor = 2\ndef patch\n  # the patch\n  12\nend\n";
        assert_eq!(parse_version_rb(text).as_deref(), Some("4.2.12"));
        assert_eq!(parse_version_rb("def major\n 4\nend\n"), None);
        assert_eq!(parse_version_rb("\u{fffd}garbage"), None);
    }

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn versions_parse_and_order_as_semver() {
        assert_eq!(v("v4.5.0").to_string(), "4.5.0");
        assert_eq!(v("4.5.0-beta.1").pre.as_deref(), Some("beta.1"));
        assert_eq!(v("2.9.3rc1").pre.as_deref(), Some("rc1"));
        assert!(v("4.5.0-beta.2") < v("4.5.0-beta.10"));
        assert!(v("4.5.0-rc.1") < v("4.5.0"));
        assert!(v("4.4.9") < v("4.5.0-alpha.1"));
        assert_eq!(Version::parse("4.5"), None);
        assert_eq!(Version::parse("four.5.0"), None);
    }

    #[test]
    fn paths_follow_the_every_minor_series_rule() {
        assert_eq!(path(&v("4.4.3"), &v("4.5.0")), Jump::Step);
        assert_eq!(path(&v("4.5.0"), &v("4.5.2")), Jump::Step);
        assert_eq!(path(&v("4.5.0-rc.1"), &v("4.5.0")), Jump::Step);
        assert_eq!(path(&v("4.5.0"), &v("4.5.0")), Jump::Same);
        assert_eq!(
            path(&v("4.3.2"), &v("4.5.0")),
            Jump::Skips(vec!["4.4".into()])
        );
        assert_eq!(
            path(&v("4.2.1"), &v("4.5.0")),
            Jump::Skips(vec!["4.3".into(), "4.4".into()])
        );
        assert_eq!(path(&v("4.5.0"), &v("4.4.3")), Jump::Downgrade);
        assert_eq!(path(&v("4.5.0"), &v("4.5.0-rc.1")), Jump::Downgrade);
        assert_eq!(path(&v("4.5.0"), &v("5.0.0")), Jump::NewMajor);
    }

    #[test]
    fn the_reflog_names_the_commit_before_the_last_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let zero = "0".repeat(40);
        std::fs::create_dir_all(dir.path().join(".git/logs")).unwrap();
        let write = |lines: &[String]| {
            std::fs::write(dir.path().join(".git/logs/HEAD"), lines.join("\n") + "\n").unwrap()
        };
        let line = |old: &str, new: &str, msg: &str| format!("{old} {new} A <a@b> 1 +0000\t{msg}");
        write(&[
            line(
                &zero,
                &a,
                "clone: from https://github.com/mastodon/mastodon.git",
            ),
            line(&a, &b, "checkout: moving from main to v4.4.3"),
        ]);
        assert_eq!(before_checkout(dir.path(), &b), Before::Fresh);
        write(&[
            line(
                &zero,
                &a,
                "clone: from https://github.com/mastodon/mastodon.git",
            ),
            line(&a, &b, "checkout: moving from main to v4.4.3"),
            line(&b, &b, "reset: moving to HEAD"),
            line(&b, &c, "checkout: moving from v4.4.3 to v4.5.0"),
        ]);
        assert_eq!(before_checkout(dir.path(), &c), Before::Commit(b.clone()));
        assert_eq!(before_checkout(dir.path(), &a), Before::Unknown);
        // The docs' flow: clone, check out a release and run it for months,
        // then check out the next: the first release ran.
        write(&[
            line(
                &zero,
                &a,
                "clone: from https://github.com/mastodon/mastodon.git",
            ),
            line(&a, &b, "checkout: moving from main to v4.3.2"),
            line(&b, &c, "checkout: moving from v4.3.2 to v4.5.0"),
        ]);
        assert_eq!(before_checkout(dir.path(), &c), Before::Commit(b.clone()));
        // A garbled old field is no commit (and no panic).
        write(&[line(
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            &c,
            "checkout: moving from x to y",
        )]);
        assert_eq!(before_checkout(dir.path(), &c), Before::Unknown);
        let garbled = "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}";
        assert!(garbled.starts_with(short(garbled)));
        std::fs::remove_file(dir.path().join(".git/logs/HEAD")).unwrap();
        assert_eq!(before_checkout(dir.path(), &c), Before::Unknown);
    }
}
