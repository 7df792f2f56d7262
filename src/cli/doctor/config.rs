//! What configures Mastodon besides its code: the `.env*` files
//! (`config`), the database password in them (`db-password`) and the
//! variables exported in this shell (`shell-env`).

use std::path::Path;

use super::Check;
use crate::config::SKIP_POST;
use crate::guards;
use crate::guards::Level;
use crate::resolve::Root;
use crate::settings::Env;
use crate::site::Site;

/// The `.env*` files read cleanly, as Mastodon's dotenv would read them.
pub fn config(site: &Site, root: &Path) -> Check {
    const ID: &str = "config";
    match site.config() {
        Ok(_) => {
            let present: Vec<&str> = crate::config::DOTENV_FILES
                .into_iter()
                .filter(|f| root.join(f).exists())
                .collect();
            // Only the files count here (`shell-env` reports an export), so
            // an exported SKIP_POST is taken out first — which means
            // reading the files again only when there is one.
            let stripped = site.env.contains(SKIP_POST).then(|| {
                let mut env = site.env.clone();
                env.remove(SKIP_POST);
                Site::new(site.cwd.clone(), env, site.root.clone())
            });
            let files = stripped.as_ref().unwrap_or(site);
            if let Some(source) = guards::pgbouncer::skip_post_in_file(files) {
                return Check::new(
                    ID,
                    Level::Warn,
                    format!(
                        "{SKIP_POST} is set in {source}: Mastodon skips the post-deployment \
                         migrations whenever it is set, whatever its value, so `rails \
                         db:migrate` never runs them"
                    ),
                )
                .fix(format!("Delete the {SKIP_POST} line ({source})."));
            }
            Check::new(
                ID,
                Level::Ok,
                if present.is_empty() {
                    "no .env* files; only the environment configures Mastodon".to_owned()
                } else {
                    format!("{} read cleanly", present.join(", "))
                },
            )
        }
        // The reader's message names the file, the problem and its fix.
        Err(e) => Check::new(ID, Level::Block, e.to_owned())
            .fix("Do what the message says for that file, then run `tootguard doctor` again."),
    }
}

/// The database password is not one a reader could guess: 12 characters
/// or more, and not the database user's or database's name. Never shown.
pub fn db_password(site: &Site) -> Check {
    const ID: &str = "db-password";
    let db = match site.config().map(|c| c.database()) {
        Ok(Ok(db)) => db,
        _ => {
            return Check::new(
                ID,
                Level::Ok,
                "not checked: the database settings cannot be read (see the `config` check)",
            );
        }
    };
    let Some(password) = db.password.filter(|p| !p.is_empty()) else {
        return Check::new(
            ID,
            Level::Ok,
            "no database password is set (PostgreSQL's peer or trust authentication)",
        );
    };
    let weak = password.chars().count() < crate::redact::MIN_SCRUBBED
        || db.user.as_deref() == Some(password.as_str())
        || db.name.as_deref() == Some(password.as_str());
    let variable = db.url_variable.unwrap_or("DB_PASS");
    if !weak {
        return Check::new(
            ID,
            Level::Ok,
            format!("{variable} is set and not weak (not shown)"),
        );
    }
    Check::new(
        ID,
        Level::Warn,
        format!(
            "{variable} is weak: it is shorter than {} characters, or the same as the database \
             user or name",
            crate::redact::MIN_SCRUBBED
        ),
    )
    .fix(format!(
        "Make a long random one (`openssl rand -hex 24`), give it to the database user as the \
         postgres user (`ALTER ROLE {} PASSWORD '…';` in psql), and put the same value in \
         {variable} in .env.production.",
        db.user.as_deref().unwrap_or("mastodon")
    ))
}

/// Variables exported in this shell that change what Mastodon does.
pub fn shell_env(env: &Env, root: Option<&Root>) -> Check {
    const ID: &str = "shell-env";
    let mut problems = Vec::new();
    let mut unset = Vec::new();
    if let Some(value) = env.get(SKIP_POST) {
        problems.push(format!(
            "{SKIP_POST} is exported (as {:?}): Mastodon skips the post-deployment \
             migrations whenever it is set, whatever its value, even `false` \
             (lib/mastodon/database.rb), so a later `rails db:migrate` leaves them undone",
            value.to_string_lossy()
        ));
        unset.push(SKIP_POST);
    }
    let development = root.is_some_and(|r| !r.production);
    if let Some(value) = env.get("RAILS_ENV")
        && !value.is_empty()
        && value != "production"
        && !development
    {
        problems.push(format!(
            "RAILS_ENV is exported as {:?}: commands run without tootguard (`bundle exec \
             rails …`, the upgrade's bundle and yarn) see it, and Rails loads that \
             environment instead of production",
            value.to_string_lossy()
        ));
        unset.push("RAILS_ENV");
    }
    if problems.is_empty() {
        return Check::new(
            ID,
            Level::Ok,
            format!("no {SKIP_POST} and no stray RAILS_ENV exported"),
        );
    }
    Check::new(ID, Level::Warn, format!("{}.", problems.join("; "))).fix(format!(
        "`unset {}`, and remove the export from ~/.bashrc or ~/.profile if it is there.",
        unset.join(" ")
    ))
}
