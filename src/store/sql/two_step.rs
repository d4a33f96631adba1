//! Two-step verification, backup codes and waiting sign-ins, and the helpers every use case's
//! transaction shares (claiming a code, storing events, rotating sessions): the statements both
//! backends run (see `super`).

macro_rules! two_step_statements {
    ($Store:ident, $Db:ty) => {
        /// Claims a right code: its TOTP step, only when later than the last used one; or the
        /// backup code, only while unused. `true` for exactly one caller.
        async fn claim_factor<'e, E>(
            executor: E,
            user_id: UserId,
            claim: FactorClaim<'_>,
            now: UnixTime,
        ) -> StoreResult<bool>
        where
            E: sqlx::Executor<'e, Database = $Db>,
        {
            let done = match claim {
                FactorClaim::TotpStep(step) => {
                    sqlx::query(
                        "UPDATE totp_credentials SET last_used_step = $2
                         WHERE user_id = $1 AND last_used_step < $2",
                    )
                    .bind(user_id)
                    .bind(step)
                    .execute(executor)
                    .await?
                }
                FactorClaim::BackupCode(code_hash) => {
                    sqlx::query(
                        "UPDATE backup_codes SET used_at = $3
                         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                    )
                    .bind(user_id)
                    .bind(code_hash.as_slice())
                    .bind(now)
                    .execute(executor)
                    .await?
                }
            };
            Ok(done.rows_affected() == 1)
        }

        async fn take_pending_login<'e, E>(executor: E, token: &TokenHash) -> StoreResult<bool>
        where
            E: sqlx::Executor<'e, Database = $Db>,
        {
            let done = sqlx::query("DELETE FROM pending_logins WHERE token_hash = $1")
                .bind(token.as_slice())
                .execute(executor)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn backup_codes_left<'e, E>(executor: E, user_id: UserId) -> StoreResult<i64>
        where
            E: sqlx::Executor<'e, Database = $Db>,
        {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(executor)
            .await?)
        }

        /// One device of an account, seen at a time.
        struct DeviceAt<'a> {
            user_id: UserId,
            hash: &'a [u8; 32],
            now: UnixTime,
        }

        impl<'a> DeviceAt<'a> {
            /// `sql` about this device: `$1` the account, `$2` the device's hash, `$3` the time.
            fn statement(
                &self,
                sql: &'a str,
            ) -> sqlx::query::Query<'a, $Db, <$Db as sqlx::Database>::Arguments<'a>> {
                sqlx::query(sql)
                    .bind(self.user_id)
                    .bind(self.hash.as_slice())
                    .bind(self.now)
            }
        }

        /// An event's detail as stored, read back; an unknown kind keeps its name in it.
        fn stored_detail(kind: &str, detail: &str) -> event::EventDetail {
            match event::EventKind::parse(kind) {
                Some(known) => event::EventDetail::from_stored(Some(known), detail),
                None => event::EventDetail::Other(format!("{kind} {detail}").trim().to_owned()),
            }
        }

        async fn append_audit<'e, E>(executor: E, record: &AuditRecord) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $Db>,
        {
            sqlx::query(
                "INSERT INTO audit_events (at, user_id, email, kind, detail, ip, user_agent)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(record.at)
            .bind(record.user_id)
            .bind(&record.email)
            .bind(record.kind.map_or("", event::EventKind::as_str))
            .bind(record.detail.to_stored())
            .bind(&record.origin.ip)
            .bind(&record.origin.user_agent)
            .execute(executor)
            .await?;
            Ok(())
        }

        /// A use case's audit events, inside its transaction.
        async fn append_audits(
            tx: &mut <$Db as sqlx::Database>::Connection,
            events: &[AuditRecord],
        ) -> StoreResult<()> {
            for record in events {
                append_audit(&mut *tx, record).await?;
            }
            Ok(())
        }

        /// Ends every session of the account and starts the rotated one, inside `tx`;
        /// `false` (the caller rolls back) when the asking session has ended or the
        /// password is not the one checked.
        async fn rotate_sessions(
            tx: &mut <$Db as sqlx::Database>::Connection,
            user_id: UserId,
            rotation: Option<&SessionRotation>,
        ) -> StoreResult<bool> {
            if let Some(r) = rotation {
                // A write that changes nothing: it holds the account's row until the
                // commit, so that a password change cannot slip between (PostgreSQL).
                let as_checked = sqlx::query(
                    "UPDATE users SET password_hash = password_hash
                     WHERE id = $1 AND ($2 IS NULL OR password_hash = $2)",
                )
                .bind(user_id)
                .bind(r.password_hash.as_deref())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !as_checked {
                    return Ok(false);
                }
                if let Some(asking) = &r.replaces {
                    let live =
                        sqlx::query("DELETE FROM sessions WHERE token_hash = $1 AND user_id = $2")
                            .bind(asking.as_slice())
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                            == 1;
                    if !live {
                        return Ok(false);
                    }
                }
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if let Some(r) = rotation {
                insert_session(
                    &mut *tx,
                    &r.token,
                    user_id,
                    r.now,
                    r.expires_at,
                    &r.origin,
                    None,
                )
                .await?;
            }
            Ok(true)
        }

        /// The end of a two-step change: sessions rotate and the events are stored, then the
        /// commit; nothing at all when the rotation is refused.
        async fn finish_rotation(
            mut tx: sqlx::Transaction<'_, $Db>,
            user_id: UserId,
            rotation: Option<&SessionRotation>,
            events: &[AuditRecord],
        ) -> StoreResult<AccountChange> {
            if !rotate_sessions(&mut tx, user_id, rotation).await? {
                return Ok(AccountChange::SessionEnded);
            }
            append_audits(&mut tx, events).await?;
            tx.commit().await?;
            Ok(AccountChange::Done)
        }

        async fn insert_backup_codes(
            tx: &mut <$Db as sqlx::Database>::Connection,
            user_id: UserId,
            hashes: &[[u8; 32]],
        ) -> StoreResult<()> {
            sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for hash in hashes {
                sqlx::query("INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user_id)
                    .bind(hash.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        }

        #[async_trait]
        impl TwoStepStore for $Store {
            async fn totp_credential(&self, user_id: UserId) -> StoreResult<Option<TotpCredential>> {
                let row = sqlx::query(
                    "SELECT sealed_secret, last_used_step FROM totp_credentials WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(|r| TotpCredential {
                    sealed_secret: r.get(0),
                    last_used_step: r.get(1),
                }))
            }

            async fn advance_totp_step(&self, user_id: UserId, step: i64) -> StoreResult<bool> {
                claim_factor(self.pool()?, user_id, FactorClaim::TotpStep(step), 0).await
            }

            async fn put_enrollment(
                &self,
                session: &TokenHash,
                user_id: UserId,
                sealed_secret: &[u8],
                now: UnixTime,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO totp_enrollments (session_hash, user_id, sealed_secret, created_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (session_hash) DO UPDATE SET
                       user_id = excluded.user_id, sealed_secret = excluded.sealed_secret,
                       created_at = excluded.created_at",
                )
                .bind(session.as_slice())
                .bind(user_id)
                .bind(sealed_secret)
                .bind(now)
                .execute(self.pool()?)
                .await?;
                Ok(())
            }

            async fn enrollment(&self, session: &TokenHash) -> StoreResult<Option<Enrollment>> {
                let row = sqlx::query(
                    "SELECT user_id, sealed_secret, created_at FROM totp_enrollments WHERE session_hash = $1",
                )
                .bind(session.as_slice())
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(|r| Enrollment {
                    user_id: r.get(0),
                    sealed_secret: r.get(1),
                    created_at: r.get(2),
                }))
            }

            async fn enable_totp(
                &self,
                user_id: UserId,
                sealed_secret: &[u8],
                last_used_step: i64,
                backup_code_hashes: &[[u8; 32]],
                rotation: &SessionRotation,
                events: &[AuditRecord],
            ) -> StoreResult<AccountChange> {
                let mut tx = self.pool()?.begin().await?;
                sqlx::query(
                    "INSERT INTO totp_credentials (user_id, sealed_secret, last_used_step, enabled_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret,
                       last_used_step = excluded.last_used_step, enabled_at = excluded.enabled_at",
                )
                .bind(user_id)
                .bind(sealed_secret)
                .bind(last_used_step)
                .bind(rotation.now)
                .execute(&mut *tx)
                .await?;
                insert_backup_codes(&mut tx, user_id, backup_code_hashes).await?;
                sqlx::query("DELETE FROM pending_logins WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                // Enrollments go with the sessions they belong to.
                finish_rotation(tx, user_id, Some(rotation), events).await
            }

            async fn disable_totp(
                &self,
                user_id: UserId,
                rotation: Option<&SessionRotation>,
                events: &[AuditRecord],
            ) -> StoreResult<AccountChange> {
                let mut tx = self.pool()?.begin().await?;
                let removed = sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if !removed {
                    return Ok(AccountChange::WasOff);
                }
                insert_backup_codes(&mut tx, user_id, &[]).await?;
                for table in ["totp_enrollments", "pending_logins"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                finish_rotation(tx, user_id, rotation, events).await
            }

            async fn replace_backup_codes(
                &self,
                user_id: UserId,
                backup_code_hashes: &[[u8; 32]],
                rotation: &SessionRotation,
                events: &[AuditRecord],
            ) -> StoreResult<AccountChange> {
                let mut tx = self.pool()?.begin().await?;
                insert_backup_codes(&mut tx, user_id, backup_code_hashes).await?;
                finish_rotation(tx, user_id, Some(rotation), events).await
            }

            async fn spend_backup_code(
                &self,
                user_id: UserId,
                code_hash: &[u8; 32],
                now: UnixTime,
            ) -> StoreResult<bool> {
                claim_factor(self.pool()?, user_id, FactorClaim::BackupCode(code_hash), now).await
            }

            async fn backup_codes_left(&self, user_id: UserId) -> StoreResult<i64> {
                backup_codes_left(self.reader()?, user_id).await
            }

            async fn insert_pending_login(
                &self,
                token: &TokenHash,
                user_id: UserId,
                now: UnixTime,
                expires_at: UnixTime,
                next: &str,
                password_hash: &str,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO pending_logins
                       (token_hash, user_id, created_at, expires_at, next, password_hash)
                     SELECT $1, $2, $3, $4, $5, $6
                     WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash = $6)",
                )
                .bind(token.as_slice())
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .bind(next)
                .bind(password_hash)
                .execute(self.pool()?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn second_step_basis(
                &self,
                token: &TokenHash,
                device: Option<&[u8; 32]>,
            ) -> StoreResult<Option<SecondStepBasis>> {
                let row = sqlx::query(
                    "SELECT p.user_id, p.created_at, p.expires_at, p.failures, p.next,
                       u.email, p.password_hash, t.sealed_secret, t.last_used_step,
                       EXISTS (SELECT 1 FROM known_devices d
                               WHERE d.user_id = p.user_id AND d.device_hash = $2)
                     FROM pending_logins p JOIN users u ON u.id = p.user_id
                       LEFT JOIN totp_credentials t ON t.user_id = p.user_id
                     WHERE p.token_hash = $1",
                )
                .bind(token.as_slice())
                .bind(device.map(|d| d.as_slice()))
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(|r| SecondStepBasis {
                    pending: PendingLogin {
                        user_id: r.get(0),
                        created_at: r.get(1),
                        expires_at: r.get(2),
                        failures: r.get(3),
                        next: r.get(4),
                    },
                    email: r.get(5),
                    password_hash: r.get(6),
                    totp: r.get::<Option<Vec<u8>>, _>(7).map(|sealed_secret| TotpCredential {
                        sealed_secret,
                        last_used_step: r.get(8),
                    }),
                    device_known: r.get(9),
                }))
            }

            async fn pending_login(&self, token: &TokenHash) -> StoreResult<Option<PendingLogin>> {
                let row = sqlx::query(
                    "SELECT user_id, created_at, expires_at, failures, next
                     FROM pending_logins WHERE token_hash = $1",
                )
                .bind(token.as_slice())
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(|r| PendingLogin {
                    user_id: r.get(0),
                    created_at: r.get(1),
                    expires_at: r.get(2),
                    failures: r.get(3),
                    next: r.get(4),
                }))
            }

            async fn reserve_pending_attempt(
                &self,
                token: &TokenHash,
                now: UnixTime,
                max: i64,
            ) -> StoreResult<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "UPDATE pending_logins SET failures = failures + 1
                     WHERE token_hash = $1 AND failures < $3 AND expires_at > $2
                     RETURNING failures",
                )
                .bind(token.as_slice())
                .bind(now)
                .bind(max)
                .fetch_optional(self.pool()?)
                .await?)
            }

            async fn take_pending_login(&self, token: &TokenHash) -> StoreResult<bool> {
                take_pending_login(self.pool()?, token).await
            }

            async fn finish_second_step(
                &self,
                f: &SecondStepFinish<'_>,
            ) -> StoreResult<SecondStepFinished> {
                // Returning before the commit drops the transaction: it rolls back.
                let mut tx = self.pool()?.begin().await?;
                // The pending sign-in first: when another request finished it (a double
                // click with the same code), this one was no guess and gives its attempt back.
                if !take_pending_login(&mut *tx, f.pending).await? {
                    release_attempt(&mut *tx, f.release.0, f.release.1).await?;
                    tx.commit().await?;
                    return Ok(SecondStepFinished::PendingGone);
                }
                if !claim_factor(&mut *tx, f.user_id, f.claim, f.now).await? {
                    return Ok(SecondStepFinished::FactorRefused);
                }
                let basis = Some(f.basis);
                let stored = insert_session(
                    &mut *tx, f.session, f.user_id, f.now, f.expires_at, f.origin, basis,
                )
                .await?;
                if !stored {
                    return Ok(SecondStepFinished::AccountChanged);
                }
                let left = match f.claim {
                    FactorClaim::BackupCode(_) => Some(backup_codes_left(&mut *tx, f.user_id).await?),
                    FactorClaim::TotpStep(_) => None,
                };
                append_audits(&mut tx, &(f.events)(left)).await?;
                release_attempt(&mut *tx, f.release.0, f.release.1).await?;
                let at = DeviceAt {
                    user_id: f.user_id,
                    hash: f.device,
                    now: f.now,
                };
                let device = note_device_in(&mut tx, &at).await?;
                tx.commit().await?;
                Ok(SecondStepFinished::Done {
                    backup_codes_left: left,
                    device,
                })
            }
        }
    };
}

pub(in crate::store) use two_step_statements;
