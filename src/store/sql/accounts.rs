//! Accounts, sessions, attempt limits and the first-start link: the statements both
//! backends run (see `super`).

macro_rules! accounts_statements {
    ($Store:ident, $Db:ty) => {
        impl $Store {
            /// Deletes the one row `delete` names and stores the events, in one transaction;
            /// `false`, and no event, when there was no such row.
            async fn delete_one_with_events<'q>(
                &self,
                delete: sqlx::query::Query<'q, $Db, <$Db as sqlx::Database>::Arguments<'q>>,
                events: &[AuditRecord],
            ) -> StoreResult<bool> {
                let mut tx = self.pool()?.begin().await?;
                if delete.execute(&mut *tx).await?.rows_affected() != 1 {
                    return Ok(false);
                }
                append_audits(&mut tx, events).await?;
                tx.commit().await?;
                Ok(true)
            }

            /// Housekeeping: one DELETE with a cut-off time; how many rows went.
            async fn delete_before(&self, sql: &'static str, before: UnixTime) -> StoreResult<u64> {
                let done = sqlx::query(sql).bind(before).execute(self.pool()?).await?;
                Ok(done.rows_affected())
            }
        }

        #[derive(FromRow)]
        struct UserRow {
            id: i64,
            email: String,
            password_hash: String,
            is_admin: bool,
            created_at: i64,
            totp_enabled: bool,
        }

        impl From<UserRow> for User {
            fn from(r: UserRow) -> Self {
                User {
                    id: r.id,
                    email: r.email,
                    password_hash: r.password_hash,
                    is_admin: r.is_admin,
                    created_at: r.created_at,
                    totp_enabled: r.totp_enabled,
                }
            }
        }

        const USER_COLUMNS: &str = "id, email, password_hash, is_admin, created_at,
            EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = users.id) AS totp_enabled";

        /// The account, inside `tx`; an invitation of its address ends (it would otherwise
        /// come back to life when the account is deleted).
        async fn insert_user(
            tx: &mut <$Db as sqlx::Database>::Connection,
            user: &NewUser,
        ) -> StoreResult<User> {
            sqlx::query("DELETE FROM invitations WHERE email = $1")
                .bind(&user.email)
                .execute(&mut *tx)
                .await?;
            let row: UserRow = sqlx::query_as(
                "INSERT INTO users (email, password_hash, is_admin, created_at, password_changed_at)
                 VALUES ($1, $2, $3, $4, $4)
                 RETURNING id, email, password_hash, is_admin, created_at, FALSE AS totp_enabled",
            )
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(user.is_admin)
            .bind(user.now)
            .fetch_one(&mut *tx)
            .await?;
            Ok(row.into())
        }

        /// Gives back a reservation; a lock that it set goes with it.
        /// Deletes `key` and the keys of its family (`key#…`).
        async fn clear_throttle_family<'e, E>(executor: E, key: &str) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $Db>,
        {
            sqlx::query(
                "DELETE FROM throttles
                 WHERE key = $1 OR substr(key, 1, length($1) + 1) = $1 || '#'",
            )
            .bind(key)
            .execute(executor)
            .await?;
            Ok(())
        }

        async fn release_attempt<'e, E>(executor: E, key: &str, rule: ThrottleRule) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $Db>,
        {
            sqlx::query(
                "UPDATE throttles SET failures = failures - 1,
                   locked_until = CASE WHEN failures - 1 < $2 THEN 0 ELSE locked_until END
                 WHERE key = $1 AND failures > 0",
            )
            .bind(key)
            .bind(rule.limit)
            .execute(executor)
            .await?;
            Ok(())
        }

        /// Events about an account being created: its id where they have none yet.
        fn about_new_account(events: &[AuditRecord], id: UserId) -> Vec<AuditRecord> {
            events
                .iter()
                .map(|e| AuditRecord {
                    user_id: e.user_id.or(Some(id)),
                    ..e.clone()
                })
                .collect()
        }

        /// An account made through a link, inside `tx`: the user, a session of its own and
        /// the events (given the new id).
        async fn open_account(
            tx: &mut <$Db as sqlx::Database>::Connection,
            user: &NewUser,
            session: &SessionRotation,
            events: &[AuditRecord],
        ) -> StoreResult<User> {
            let created = insert_user(tx, user).await?;
            let s = session;
            insert_session(&mut *tx, &s.token, created.id, s.now, s.expires_at, &s.origin, None)
                .await?;
            append_audits(&mut *tx, &about_new_account(events, created.id)).await?;
            Ok(created)
        }

        /// A session row; with a `basis`, only while the account is as the sign-in checked it.
        async fn insert_session<'e, E>(
            executor: E,
            token: &TokenHash,
            user_id: UserId,
            now: UnixTime,
            expires_at: UnixTime,
            origin: &Origin,
            basis: Option<SessionBasis<'_>>,
        ) -> StoreResult<bool>
        where
            E: sqlx::Executor<'e, Database = $Db>,
        {
            const ALWAYS: &str = "INSERT INTO sessions
                   (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
                 VALUES ($1, $2, $3, $3, $4, $5, $6)";
            const WHILE_AS_CHECKED: &str = "INSERT INTO sessions
                   (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
                 SELECT $1, $2, $3, $3, $4, $5, $6
                 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash = $7)
                   AND EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $2) = $8";
            let query = sqlx::query(if basis.is_some() {
                WHILE_AS_CHECKED
            } else {
                ALWAYS
            })
            .bind(token.as_slice())
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .bind(&origin.ip)
            .bind(&origin.user_agent);
            let query = match basis {
                Some(basis) => query.bind(basis.password_hash).bind(basis.two_step),
                None => query,
            };
            Ok(query.execute(executor).await?.rows_affected() == 1)
        }

        #[async_trait]
        impl UserStore for $Store {
            async fn create_user(&self, user: NewUser, events: &[AuditRecord]) -> StoreResult<User> {
                let mut tx = self.pool()?.begin().await?;
                let created = insert_user(&mut *tx, &user).await?;
                append_audits(&mut tx, &about_new_account(events, created.id)).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
                ))
                .bind(email)
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>> {
                let row: Option<UserRow> =
                    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                        .bind(user_id)
                        .fetch_optional(self.reader()?)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn list_users(&self) -> StoreResult<Vec<User>> {
                let rows: Vec<UserRow> =
                    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
                        .fetch_all(self.reader()?)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn count_users(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(self.reader()?)
                    .await?)
            }

            async fn set_password(
                &self,
                user_id: UserId,
                password_hash: &str,
                now: UnixTime,
                rotation: Option<&SessionRotation>,
                events: &[AuditRecord],
            ) -> StoreResult<AccountChange> {
                let mut tx = self.pool()?.begin().await?;
                if !rotate_sessions(&mut tx, user_id, rotation).await? {
                    return Ok(AccountChange::SessionEnded);
                }
                let updated = sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated != 1 {
                    return Ok(AccountChange::SessionEnded);
                }
                for table in ["pending_logins", "password_resets"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                append_audits(&mut tx, events).await?;
                tx.commit().await?;
                Ok(AccountChange::Done)
            }

            async fn delete_user(&self, user_id: UserId, events: &[AuditRecord]) -> StoreResult<bool> {
                let delete = sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id);
                self.delete_one_with_events(delete, events).await
            }
        }

        #[async_trait]
        impl SessionStore for $Store {
            async fn insert_session(
                &self,
                token: &TokenHash,
                user_id: UserId,
                now: UnixTime,
                expires_at: UnixTime,
                origin: &Origin,
                basis: SessionBasis<'_>,
                events: &[AuditRecord],
            ) -> StoreResult<bool> {
                let basis = Some(basis);
                let mut tx = self.pool()?.begin().await?;
                let stored =
                    insert_session(&mut *tx, token, user_id, now, expires_at, origin, basis).await?;
                if !stored {
                    return Ok(false);
                }
                append_audits(&mut tx, events).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn session(&self, token: &TokenHash) -> StoreResult<Option<SessionRecord>> {
                let row = sqlx::query(
                    "SELECT s.user_id, u.email, u.is_admin, s.created_at, s.last_seen_at, s.expires_at,
                            EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = s.user_id)
                     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
                )
                .bind(token.as_slice())
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(|r| SessionRecord {
                    user_id: r.get(0),
                    email: r.get(1),
                    is_admin: r.get(2),
                    created_at: r.get(3),
                    last_seen_at: r.get(4),
                    expires_at: r.get(5),
                    two_step: r.get(6),
                }))
            }

            async fn touch_session(&self, token: &TokenHash, now: UnixTime) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1",
                )
                .bind(now)
                .bind(token.as_slice())
                .execute(self.pool()?)
                .await?;
                Ok(())
            }

            async fn delete_session(
                &self,
                token: &TokenHash,
                events: &[AuditRecord],
            ) -> StoreResult<bool> {
                let delete =
                    sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token.as_slice());
                self.delete_one_with_events(delete, events).await
            }

            async fn sessions_of(
                &self,
                user_id: UserId,
                now: UnixTime,
                seen_after: UnixTime,
            ) -> StoreResult<Vec<SessionInfo>> {
                let rows = sqlx::query(
                    "SELECT token_hash, created_at, last_seen_at, ip, user_agent FROM sessions
                     WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3
                     ORDER BY last_seen_at DESC, created_at DESC",
                )
                .bind(user_id)
                .bind(now)
                .bind(seen_after)
                .fetch_all(self.reader()?)
                .await?;
                rows.into_iter()
                    .map(|r| {
                        let hash: Vec<u8> = r.get(0);
                        Ok(SessionInfo {
                            token_hash: hash
                                .try_into()
                                .map_err(|_| StoreError::Database(sqlx::Error::RowNotFound))?,
                            created_at: r.get(1),
                            last_seen_at: r.get(2),
                            origin: Origin {
                                ip: r.get(3),
                                user_agent: r.get(4),
                            },
                        })
                    })
                    .collect()
            }

            async fn end_session_of(
                &self,
                user_id: UserId,
                token: &TokenHash,
                events: &[AuditRecord],
            ) -> StoreResult<bool> {
                let delete = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash = $2")
                    .bind(user_id)
                    .bind(token.as_slice());
                self.delete_one_with_events(delete, events).await
            }

            async fn count_live_sessions(&self, now: UnixTime, seen_after: UnixTime) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND last_seen_at > $2",
                )
                .bind(now)
                .bind(seen_after)
                .fetch_one(self.reader()?)
                .await?)
            }

            async fn prune_sessions(&self, now: UnixTime, seen_after: UnixTime) -> StoreResult<u64> {
                let sessions =
                    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                        .bind(now)
                        .bind(seen_after)
                        .execute(self.pool()?)
                        .await?;
                let pending = sqlx::query("DELETE FROM pending_logins WHERE expires_at <= $1")
                    .bind(now)
                    .execute(self.pool()?)
                    .await?;
                Ok(sessions.rows_affected() + pending.rows_affected())
            }
        }

        #[async_trait]
        impl ThrottleStore for $Store {
            async fn reserve_attempt(
                &self,
                key: &str,
                now: UnixTime,
                rule: ThrottleRule,
            ) -> StoreResult<Option<ThrottleState>> {
                // One statement: nothing is counted while the key is locked or its window is full
                // (no row comes back); a fresh window restarts the count; the limit sets the lock.
                // SET expressions read the row as it was before the update.
                let row = sqlx::query(
                    "INSERT INTO throttles (key, failures, window_start, locked_until)
                     VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $2 + $5 ELSE 0 END)
                     ON CONFLICT (key) DO UPDATE SET
                       failures = CASE WHEN throttles.window_start <= $2 - $3 THEN 1
                                       ELSE throttles.failures + 1 END,
                       window_start = CASE WHEN throttles.window_start <= $2 - $3 THEN $2
                                           ELSE throttles.window_start END,
                       locked_until = CASE WHEN (CASE WHEN throttles.window_start <= $2 - $3 THEN 1
                                                      ELSE throttles.failures + 1 END) >= $4
                                           THEN $2 + $5 ELSE throttles.locked_until END
                     WHERE throttles.locked_until <= $2
                       AND (throttles.window_start <= $2 - $3 OR throttles.failures < $4)
                     RETURNING failures, locked_until",
                )
                .bind(key)
                .bind(now)
                .bind(rule.window)
                .bind(rule.limit)
                .bind(rule.lock_for)
                .fetch_optional(self.pool()?)
                .await?;
                Ok(row.map(|row| ThrottleState {
                    failures: row.get(0),
                    locked_until: row.get(1),
                }))
            }

            async fn release_attempt(&self, key: &str, rule: ThrottleRule) -> StoreResult<()> {
                release_attempt(self.pool()?, key, rule).await
            }

            async fn check_throttles(&self, keys: &[&str], now: UnixTime) -> StoreResult<ThrottleCheck> {
                let (locked_until, counted) = self.throttle_state(keys, now).await?;
                Ok(ThrottleCheck {
                    locked_until,
                    counted: counted > 0,
                })
            }

            async fn clear_throttle(&self, key: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM throttles WHERE key = $1")
                    .bind(key)
                    .execute(self.pool()?)
                    .await?;
                Ok(())
            }

            async fn clear_throttle_family(&self, key: &str) -> StoreResult<()> {
                clear_throttle_family(self.pool()?, key).await
            }
        }

        #[async_trait]
        impl SetupStore for $Store {
            async fn replace_setup_token(&self, token: &TokenHash, now: UnixTime) -> StoreResult<()> {
                let mut tx = self.pool()?.begin().await?;
                sqlx::query("DELETE FROM setup_tokens")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2)")
                    .bind(token.as_slice())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn clear_setup_tokens(&self) -> StoreResult<()> {
                sqlx::query("DELETE FROM setup_tokens")
                    .execute(self.pool()?)
                    .await?;
                Ok(())
            }

            async fn setup_token_exists(&self, token: &TokenHash) -> StoreResult<bool> {
                Ok(
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1)")
                        .bind(token.as_slice())
                        .fetch_one(self.reader()?)
                        .await?,
                )
            }

            async fn create_first_admin(
                &self,
                token: &TokenHash,
                user: NewUser,
                session: &SessionRotation,
                events: &[AuditRecord],
            ) -> StoreResult<Option<User>> {
                let mut tx = self.pool()?.begin().await?;
                // The DELETE comes first so that this transaction takes the write lock at once.
                let spent = sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1")
                    .bind(token.as_slice())
                    .execute(&mut *tx)
                    .await?;
                let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(&mut *tx)
                    .await?;
                if spent.rows_affected() != 1 || users != 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let created = open_account(&mut tx, &user, session, events).await?;
                tx.commit().await?;
                Ok(Some(created))
            }
        }
    };
}

pub(in crate::store) use accounts_statements;
