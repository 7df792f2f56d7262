//! Temporary stand-in while the real reader is written.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
pub struct MastodonConfig;
impl MastodonConfig {
    pub fn register_secrets(&self) {}
    pub fn setting(&self, n: &str) -> Result<Option<(String, String)>, String> {
        Ok(std::env::var(n).ok().map(|v| (v, "environment".into())))
    }
}
pub fn load(
    _root: Option<&Path>,
    _env: &BTreeMap<OsString, OsString>,
    _rake: &[(String, String)],
) -> anyhow::Result<MastodonConfig> {
    Ok(MastodonConfig)
}
pub mod database_url {
    pub fn redacted(_u: &str) -> String {
        "***".into()
    }
}
