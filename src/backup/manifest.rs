//! The manifest each backup directory holds (`tootguard-backup.json`):
//! what the backup is of, what `--keep` and the upgrade look for, and the
//! restore it describes (`RESTORE.txt`).

use std::path::{Path, PathBuf};

use crate::quote::{word as quote, word_str as quote_str};

/// The manifest's name in each backup directory.
pub const MANIFEST: &str = "tootguard-backup.json";

/// What a backup holds, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Seconds since the epoch.
    pub created: u64,
    pub root: PathBuf,
    pub database: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The dump's file name, in the backup directory.
    pub dump: String,
    pub dump_bytes: u64,
    /// Tables whose data the dump holds.
    pub tables: usize,
    /// Copies of the install's `.env*` files, by their own names.
    pub env_files: Vec<String>,
    /// The Mastodon version checked out when it was taken.
    pub version: Option<String>,
    pub commit: Option<String>,
    /// The install's owner, who the `.env*` files belong to.
    #[serde(default)]
    pub owner: Option<String>,
}

impl Manifest {
    /// Reads the manifest in a backup directory.
    pub fn read(backup: &Path) -> Option<Manifest> {
        let text = crate::files::read_small(&backup.join(MANIFEST)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The docs' restore, for this database, user and host, step by step:
    /// the failed database is renamed aside, not dropped.
    pub fn restore_commands(&self, backup: &Path) -> Vec<String> {
        let conn = format!(
            "-h {} -p {} -U {}",
            quote_str(&self.host),
            self.port,
            quote_str(&self.user)
        );
        let db = quote_str(&self.database);
        let aside = format!("{}_before_restore", self.database);
        let ident = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        let rename = format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(&self.database),
            ident(&aside)
        );
        let mut lines = vec![
            "# 1. As root, stop Mastodon:".to_owned(),
            "systemctl stop mastodon-web mastodon-sidekiq mastodon-streaming".to_owned(),
            format!(
                "# 2. As {}, keep the current database aside (drop it once the restore is \
                 good), make an empty one and restore into it:",
                self.user
            ),
            format!("psql {conn} -d postgres -c {}", quote_str(&rename)),
            format!("createdb {conn} -T template0 {db}"),
            format!(
                "pg_restore {conn} -n public --no-owner --role={} -j 2 -d {db} {}",
                quote_str(&self.user),
                quote(backup.join(&self.dump).as_os_str())
            ),
        ];
        if !self.env_files.is_empty() {
            lines.push(format!(
                "# 3. As {}, if they changed since, put the configuration back:",
                self.owner.as_deref().unwrap_or("the install's owner")
            ));
            for name in &self.env_files {
                lines.push(format!(
                    "install -m 600 {} {}",
                    quote(backup.join(name).as_os_str()),
                    quote(self.root.join(name).as_os_str())
                ));
            }
        }
        lines.push(
            "# Then check out the code that matches this database, and start Mastodon again \
             (systemctl start mastodon-web mastodon-sidekiq mastodon-streaming)."
                .to_owned(),
        );
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_commands_name_this_database_user_and_host_and_rename_instead_of_drop() {
        let manifest = Manifest {
            created: 0,
            root: "/home/mastodon/live".into(),
            database: "mastodon_production".into(),
            host: "/var/run/postgresql".into(),
            port: 5432,
            user: "mastodon".into(),
            dump: "mastodon_production.dump".into(),
            dump_bytes: 1,
            tables: 1,
            env_files: vec![".env.production".into()],
            version: None,
            commit: None,
            owner: Some("mastodon".into()),
        };
        let text = manifest
            .restore_commands(Path::new("/home/mastodon/tootguard-backups/b"))
            .join("\n");
        assert!(text.contains(
            "pg_restore -h /var/run/postgresql -p 5432 -U mastodon -n public --no-owner \
             --role=mastodon -j 2 -d mastodon_production \
             /home/mastodon/tootguard-backups/b/mastodon_production.dump"
        ));
        assert!(text.contains(
            "ALTER DATABASE \"mastodon_production\" RENAME TO \"mastodon_production_before_restore\""
        ));
        assert!(text.contains("createdb -h /var/run/postgresql -p 5432 -U mastodon -T template0"));
        assert!(!text.contains("dropdb"));
        assert!(text.contains(
            "install -m 600 /home/mastodon/tootguard-backups/b/.env.production \
             /home/mastodon/live/.env.production"
        ));
    }
}
