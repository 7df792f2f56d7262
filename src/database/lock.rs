//! Rails' migration lock, as `pg_locks` shows it.
//!
//! Rails takes `pg_try_advisory_lock(key)` for a migration, with
//! `key = MIGRATOR_SALT × crc32(current_database())` and `MIGRATOR_SALT =
//! 2053462845` (`ActiveRecord::Migrator#generate_migrator_advisory_lock_id`,
//! Rails 6.1 to 8). The product fits a bigint. `pg_locks` shows a bigint
//! advisory key split in two: `classid` the high 32 bits, `objid` the low
//! 32 bits, `objsubid = 1`. A lock taken through PgBouncer in transaction
//! mode stays on the pooled server connection after the client is gone
//! (PgBouncer does not `DISCARD ALL` in that mode), and from then on every
//! migration fails with "another migration process is currently running".

/// `ActiveRecord::Migrator::MIGRATOR_SALT`.
const MIGRATOR_SALT: u64 = 2_053_462_845;

/// Rails' lock key for the database named `database`.
pub fn key(database: &str) -> i64 {
    // Below 2^31 × 2^32 = 2^63: always a positive bigint.
    (MIGRATOR_SALT * u64::from(crc32(database.as_bytes()))) as i64
}

/// `(classid, objid)` of `key` in `pg_locks`.
pub fn parts(key: i64) -> (u32, u32) {
    let key = key as u64;
    ((key >> 32) as u32, key as u32)
}

/// The query that lists the sessions holding the lock for the current
/// database. The asking session is among them when it is a pooled server
/// connection that holds a leaked lock: tootguard never takes the lock.
pub fn holders_query(database: &str) -> String {
    format!(
        "SELECT l.pid, a.usename, a.application_name, host(a.client_addr), a.state, \
         date_trunc('second', a.state_change)::text, \
         CASE WHEN a.state = 'idle' THEN extract(epoch FROM now() - a.state_change)::bigint END, \
         (l.pid = pg_backend_pid())::text \
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE {} ORDER BY l.pid",
        held_in("l", database)
    )
}

/// Ends the session `pid` if it still holds the lock and is idle; answers
/// one row, `true`, when it did.
pub fn terminate_query(database: &str, pid: u32) -> String {
    format!(
        "SELECT pg_terminate_backend(a.pid)::text FROM pg_stat_activity a \
         WHERE a.pid = {pid} AND a.state = 'idle' \
         AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND {})",
        held_in("l", database)
    )
}

/// `pg_locks` row `l` is Rails' lock on this database, granted.
fn held_in(l: &str, database: &str) -> String {
    let (classid, objid) = parts(key(database));
    format!(
        "{l}.locktype = 'advisory' AND {l}.granted AND {l}.objsubid = 1 \
         AND {l}.classid = {classid} AND {l}.objid = {objid} \
         AND {l}.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`, which Rails uses).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_of_mastodon_production_is_the_one_rails_takes() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the CRC-32 check value");
        assert_eq!(key("mastodon_production"), 78_736_240_045_650_285);
        assert_eq!(
            parts(key("mastodon_production")),
            (18_332_209, 1_927_213_421)
        );
    }
}
