//! RAILS_ENV must be `production` on a production install.
//!
//! Mastodon ≥ 3.3 aborts in `config/boot.rb` when the variable is absent
//! ("The RAILS_ENV environment variable is not set."); an empty value passes
//! boot but Rails then falls back to `development`; any other value loads the
//! development gems a production install lacks (`NameError: uninitialized
//! constant …`). `RAILS_ENV` cannot come from `.env` files — it is needed
//! before they are read — so only the process environment counts here.
//! A development checkout (no `.env.production`) is left alone.

use super::{Change, Level, Verdict};
use crate::invocation::Invocation;

pub const ID: &str = "rails-env";

pub fn check(inv: &Invocation) -> Option<Verdict> {
    let root = inv.root.as_ref()?;
    if !root.production {
        return Some(Verdict::new(
            ID,
            Level::Ok,
            format!(
                "{} has no .env.production: a development checkout, RAILS_ENV left as it is",
                root.dir.display()
            ),
        ));
    }
    let value = inv.var("RAILS_ENV");
    let set_production = Change::SetEnv("RAILS_ENV", "production".into());
    match value.map(|v| v.to_string_lossy()) {
        None => Some(
            Verdict::new(
                ID,
                Level::Notice,
                "RAILS_ENV was not set; running with RAILS_ENV=production (production install)",
            )
            .change(set_production),
        ),
        Some(v) if v.is_empty() => Some(
            Verdict::new(
                ID,
                Level::Notice,
                "RAILS_ENV was empty; running with RAILS_ENV=production (production install)",
            )
            .change(set_production),
        ),
        Some(v) if v == "production" => Some(Verdict::new(ID, Level::Ok, "RAILS_ENV=production")),
        Some(other) => {
            let strict = crate::settings::strict(&inv.env);
            let message = format!(
                "RAILS_ENV is {other:?} on a production install ({}): Rails will load the \
                 {other:?} environment, which fails with `NameError: uninitialized constant …` \
                 where its gems are not installed, or acts on another database.{}",
                root.dir.display(),
                if strict {
                    " Refusing to run it (TOOTGUARD_STRICT=1)."
                } else {
                    " Running it anyway."
                }
            );
            let level = if strict { Level::Block } else { Level::Warn };
            Some(Verdict::new(ID, level, message).fix(
                "Unset it (`unset RAILS_ENV`; tootguard then sets production) or run with \
                 RAILS_ENV=production.",
            ))
        }
    }
}
