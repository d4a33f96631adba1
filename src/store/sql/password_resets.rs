//! Forgotten passwords: the links and the reset's one transaction (see `super`).

macro_rules! password_reset_statements {
    ($Store:ident, $Db:ty) => {
        #[async_trait]
        impl PasswordResetStore for $Store {
            async fn insert_password_reset(
                &self,
                token: &TokenHash,
                user_id: UserId,
                email: &str,
                now: UnixTime,
                expires_at: UnixTime,
                password_hash: &str,
            ) -> StoreResult<bool> {
                let inserted = sqlx::query(
                    "INSERT INTO password_resets
                       (token_hash, user_id, created_at, expires_at, password_hash)
                     SELECT $1, id, $3, $4, $5 FROM users
                     WHERE id = $2 AND email = $6 AND password_hash = $5",
                )
                .bind(token.as_slice())
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .bind(password_hash)
                .bind(email)
                .execute(self.pool()?)
                .await?;
                Ok(inserted.rows_affected() == 1)
            }

            async fn password_reset(
                &self,
                token: &TokenHash,
            ) -> StoreResult<Option<PasswordReset>> {
                let row = sqlx::query(
                    "SELECT r.user_id, u.email, r.expires_at, r.password_hash, u.password_hash,
                       t.sealed_secret, t.last_used_step
                     FROM password_resets r JOIN users u ON u.id = r.user_id
                       LEFT JOIN totp_credentials t ON t.user_id = r.user_id
                     WHERE r.token_hash = $1",
                )
                .bind(token.as_slice())
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(|r| PasswordReset {
                    user_id: r.get(0),
                    email: r.get(1),
                    expires_at: r.get(2),
                    link_password_hash: r.get(3),
                    password_hash: r.get(4),
                    totp: r
                        .get::<Option<Vec<u8>>, _>(5)
                        .map(|sealed_secret| TotpCredential {
                            sealed_secret,
                            last_used_step: r.get(6),
                        }),
                }))
            }

            async fn take_password_reset(&self, token: &TokenHash) -> StoreResult<()> {
                sqlx::query("DELETE FROM password_resets WHERE token_hash = $1")
                    .bind(token.as_slice())
                    .execute(self.pool()?)
                    .await?;
                Ok(())
            }

            async fn finish_password_reset(
                &self,
                reset: &ResetFinish<'_>,
            ) -> StoreResult<ResetFinished> {
                let mut tx = self.pool()?.begin().await?;
                // The link, once and while fresh: of two resets at once, one goes on.
                let taken = sqlx::query(
                    "DELETE FROM password_resets
                     WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
                )
                .bind(reset.token.as_slice())
                .bind(reset.user_id)
                .bind(reset.now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !taken {
                    return Ok(ResetFinished::LinkGone);
                }
                let set = sqlx::query(
                    "UPDATE users SET password_hash = $1, password_changed_at = $2
                     WHERE id = $3 AND password_hash = $4",
                )
                .bind(reset.new_password_hash)
                .bind(reset.now)
                .bind(reset.user_id)
                .bind(reset.link_password_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !set {
                    return Ok(ResetFinished::LinkGone);
                }
                let mut left = None;
                if let Some(claim) = reset.claim {
                    if !claim_factor(&mut *tx, reset.user_id, claim, reset.now).await? {
                        return Ok(ResetFinished::FactorRefused);
                    }
                    if let FactorClaim::BackupCode(_) = claim {
                        left = Some(backup_codes_left(&mut *tx, reset.user_id).await?);
                    }
                }
                // A set-up in progress goes with its session.
                for table in ["sessions", "pending_logins", "password_resets"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                        .bind(reset.user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                for key in reset.clear {
                    clear_throttle_family(&mut *tx, key).await?;
                }
                append_audits(&mut tx, &(reset.events)(left)).await?;
                tx.commit().await?;
                Ok(ResetFinished::Done {
                    backup_codes_left: left,
                })
            }

            async fn prune_password_resets(&self, before: UnixTime) -> StoreResult<u64> {
                self.delete_before("DELETE FROM password_resets WHERE expires_at < $1", before)
                    .await
            }
        }
    };
}

pub(in crate::store) use password_reset_statements;
