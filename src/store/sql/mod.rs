//! The statements both backends run, written once. `shared_store!` expands in each
//! backend's module (its pool type, its migrations), where only the real differences
//! remain: connecting, backups, readiness, the key lists of `check_throttles` (an array
//! in PostgreSQL, a list of parameters in SQLite) and `remember_device` (one statement
//! in PostgreSQL, which can update in a `WITH`; a short transaction in SQLite).
//! Parameters are `$N` in both (sqlx's SQLite driver numbers them the same way).
//!
//! The attempt counters' arithmetic lives in SQL here (`reserve_attempt`) on purpose: one
//! atomic statement per counter is what makes a limit hold when fifty requests, or two
//! instances, arrive at once. It is the deliberate exception to "storage decides nothing".

pub(super) mod accounts;
pub(super) mod audit;
pub(super) mod email_changes;
pub(super) mod invitations;
pub(super) mod password_resets;
pub(super) mod two_step;

/// Every shared statement for the backend `$Store` on `$Db`, in the calling module (which
/// provides `pool()`, `MIGRATOR` and the dialect's own methods).
macro_rules! shared_store {
    ($Store:ident, $Db:ty) => {
        $crate::store::sql::accounts::accounts_statements!($Store, $Db);
        $crate::store::sql::two_step::two_step_statements!($Store, $Db);
        $crate::store::sql::audit::audit_and_meta_statements!($Store, $Db);
        $crate::store::sql::password_resets::password_reset_statements!($Store, $Db);
        $crate::store::sql::invitations::invitation_statements!($Store, $Db);
        $crate::store::sql::email_changes::email_change_statements!($Store, $Db);
    };
}

pub(super) use shared_store;
