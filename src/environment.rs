//! Environment variables as an invocation sees them.
//!
//! Why a type of its own rather than a map: the shim runs before every
//! admin command, and copying the whole process environment into a map
//! (every name and value allocated, then sorted) was the largest piece of
//! tootguard's own start-up work, measured with callgrind and the startup
//! benchmark (benches/README.md). Most shim calls read four or five variables.
//! So [`Env::process`] reads the live environment one variable at a time,
//! and only what needs the whole set — the `.env*` reader, which sees every
//! variable Mastodon would — or changes it — `explain`, `doctor` and
//! `upgrade` computing a child's environment — takes a copy.
//!
//! The process environment is only changed right before exec (`exec.rs`)
//! and once at the start of `upgrade`, both after or before every read that
//! matters, so reading it late sees what a copy taken early would have.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::OsString;

/// A name → value view of environment variables.
#[derive(Debug, Clone)]
pub struct Env(Vars);

#[derive(Debug, Clone)]
enum Vars {
    /// This process's own environment, read when asked.
    Process,
    /// A copy, or a set built by hand (tests, a child's environment).
    Owned(BTreeMap<OsString, OsString>),
}

impl Env {
    /// This process's environment, read lazily.
    pub fn process() -> Env {
        Env(Vars::Process)
    }

    /// The value of `name`, if it is set (an empty value is set).
    pub fn get(&self, name: &str) -> Option<OsString> {
        match &self.0 {
            Vars::Process => std::env::var_os(name),
            Vars::Owned(vars) => vars.get(std::ffi::OsStr::new(name)).cloned(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match &self.0 {
            Vars::Process => std::env::var_os(name).is_some(),
            Vars::Owned(vars) => vars.contains_key(std::ffi::OsStr::new(name)),
        }
    }

    /// Every variable, sorted by name (a copy, for the process environment).
    pub fn all(&self) -> Cow<'_, BTreeMap<OsString, OsString>> {
        match &self.0 {
            Vars::Process => Cow::Owned(std::env::vars_os().collect()),
            Vars::Owned(vars) => Cow::Borrowed(vars),
        }
    }

    pub fn insert(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        self.owned().insert(name.into(), value.into());
    }

    pub fn remove(&mut self, name: &str) {
        self.owned().remove(std::ffi::OsStr::new(name));
    }

    /// The variables as a map of their own, copied from the process first.
    fn owned(&mut self) -> &mut BTreeMap<OsString, OsString> {
        if let Vars::Process = self.0 {
            self.0 = Vars::Owned(std::env::vars_os().collect());
        }
        match &mut self.0 {
            Vars::Owned(vars) => vars,
            Vars::Process => unreachable!("copied just above"),
        }
    }
}

impl<K: Into<OsString>, V: Into<OsString>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Env {
        Env(Vars::Owned(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }
}

/// Changes to an environment, one per variable in the order last made: a
/// new value, or `None` to remove it. What a plan makes before exec, what
/// the guards' changes come to (`guards::env_changes`) and what `explain`
/// and `upgrade` show are all this one shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvChanges(Vec<(&'static str, Option<OsString>)>);

impl EnvChanges {
    /// Sets (or, with `None`, removes) `name`, replacing an earlier change to it.
    pub fn set(&mut self, name: &'static str, value: Option<OsString>) {
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value));
    }

    /// The change to `name`, if there is one: `Some(None)` is a removal.
    pub fn get(&self, name: &str) -> Option<&Option<OsString>> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(&'static str, Option<OsString>)> {
        self.0.iter()
    }

    /// Makes the changes in `env`.
    pub fn apply_to(&self, env: &mut Env) {
        for (name, value) in &self.0 {
            match value {
                Some(value) => env.insert(*name, value.clone()),
                None => env.remove(name),
            }
        }
    }

    /// The changes as they may be shown: secrets as `***`.
    pub fn shown(&self) -> Vec<(&'static str, Option<String>)> {
        self.0
            .iter()
            .map(|(name, value)| {
                let value = value
                    .as_ref()
                    .map(|v| crate::redact::value(name, &v.to_string_lossy()));
                (*name, value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_environment_answers_from_its_own_variables_only() {
        let env: Env = [("A", "1"), ("EMPTY", "")].into_iter().collect();
        assert_eq!(env.get("A"), Some("1".into()));
        assert_eq!(env.get("EMPTY"), Some("".into()));
        assert!(env.contains("EMPTY"));
        assert_eq!(env.get("PATH"), None, "nothing leaks in from the process");
        assert_eq!(env.all().len(), 2);
    }

    #[test]
    fn the_process_environment_is_read_live_and_copied_before_a_change() {
        let env = Env::process();
        // PATH is set for every test run (cargo sets it).
        assert_eq!(env.get("PATH"), std::env::var_os("PATH"));
        assert_eq!(env.all().len(), std::env::vars_os().count());

        let mut changed = env.clone();
        changed.insert("TOOTGUARD_ENVIRONMENT_TEST", "x");
        changed.remove("PATH");
        assert_eq!(changed.get("TOOTGUARD_ENVIRONMENT_TEST"), Some("x".into()));
        assert_eq!(changed.get("PATH"), None);
        // The process itself is untouched.
        assert_eq!(std::env::var_os("TOOTGUARD_ENVIRONMENT_TEST"), None);
        assert_eq!(env.get("PATH"), std::env::var_os("PATH"));
    }

    #[test]
    fn a_later_change_to_a_variable_replaces_the_earlier_one_in_last_made_order() {
        let mut changes = EnvChanges::default();
        changes.set("A", Some("1".into()));
        changes.set("B", None);
        changes.set("A", None);
        let names: Vec<_> = changes.iter().map(|(n, v)| (*n, v.clone())).collect();
        assert_eq!(names, vec![("B", None), ("A", None)]);
        assert_eq!(changes.get("A"), Some(&None));
        assert_eq!(changes.get("C"), None);

        let mut env: Env = [("A", "0"), ("B", "0"), ("C", "0")].into_iter().collect();
        changes.set("C", Some("2".into()));
        changes.apply_to(&mut env);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), None);
        assert_eq!(env.get("C"), Some("2".into()));
    }
}
