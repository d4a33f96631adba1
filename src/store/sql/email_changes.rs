//! Changes of email address: asking and confirming (see `super`).

macro_rules! email_change_statements {
    ($Store:ident, $Db:ty) => {
        #[async_trait]
        impl EmailChangeStore for $Store {
            async fn ask_email_change(
                &self,
                ask: &EmailChangeAsk<'_>,
            ) -> StoreResult<EmailChangeAsked> {
                let mut tx = self.pool()?.begin().await?;
                // A write to the account's row first, changing nothing: it checks that the
                // account still has the address and password, and it makes requests of one
                // account at once wait for each other (PostgreSQL's row lock, SQLite's write
                // lock), so that the one-per-account row is replaced, never doubled.
                let same = sqlx::query(
                    "UPDATE users SET email = email
                     WHERE id = $1 AND email = $2 AND password_hash = $3",
                )
                .bind(ask.user_id)
                .bind(ask.old_email)
                .bind(ask.password_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !same {
                    return Ok(EmailChangeAsked::AccountChanged);
                }
                // An earlier request of the account ends.
                sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
                    .bind(ask.user_id)
                    .execute(&mut *tx)
                    .await?;
                let mut left = None;
                if let Some(claim) = ask.claim {
                    if !claim_factor(&mut *tx, ask.user_id, claim, ask.now).await? {
                        return Ok(EmailChangeAsked::FactorRefused);
                    }
                    if let FactorClaim::BackupCode(_) = claim {
                        left = Some(backup_codes_left(&mut *tx, ask.user_id).await?);
                    }
                }
                sqlx::query(
                    "INSERT INTO email_changes (token_hash, user_id, old_email, new_email,
                       created_at, expires_at, password_hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(ask.token.as_slice())
                .bind(ask.user_id)
                .bind(ask.old_email)
                .bind(ask.new_email)
                .bind(ask.now)
                .bind(ask.expires_at)
                .bind(ask.password_hash)
                .execute(&mut *tx)
                .await?;
                append_audits(&mut tx, &(ask.events)(left)).await?;
                tx.commit().await?;
                Ok(EmailChangeAsked::Done {
                    backup_codes_left: left,
                })
            }

            async fn email_change(&self, token: &TokenHash) -> StoreResult<Option<EmailChange>> {
                let row = sqlx::query(
                    "SELECT c.user_id, c.old_email, u.email, c.new_email, c.expires_at,
                       c.password_hash, u.password_hash
                     FROM email_changes c JOIN users u ON u.id = c.user_id
                     WHERE c.token_hash = $1",
                )
                .bind(token.as_slice())
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.map(|r| EmailChange {
                    user_id: r.get(0),
                    old_email: r.get(1),
                    email: r.get(2),
                    new_email: r.get(3),
                    expires_at: r.get(4),
                    link_password_hash: r.get(5),
                    password_hash: r.get(6),
                }))
            }

            async fn take_email_change(&self, token: &TokenHash) -> StoreResult<()> {
                sqlx::query("DELETE FROM email_changes WHERE token_hash = $1")
                    .bind(token.as_slice())
                    .execute(self.pool()?)
                    .await?;
                Ok(())
            }

            async fn finish_email_change(
                &self,
                token: &TokenHash,
                change: &EmailChange,
                now: UnixTime,
                events: &[AuditRecord],
            ) -> StoreResult<bool> {
                let mut tx = self.pool()?.begin().await?;
                // The link, once and while fresh: of two confirmations at once, one goes on.
                let taken = sqlx::query(
                    "DELETE FROM email_changes
                     WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
                )
                .bind(token.as_slice())
                .bind(change.user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !taken {
                    return Ok(false);
                }
                let set = sqlx::query(
                    "UPDATE users SET email = $1
                     WHERE id = $2 AND email = $3 AND password_hash = $4",
                )
                .bind(&change.new_email)
                .bind(change.user_id)
                .bind(&change.old_email)
                .bind(&change.link_password_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !set {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM password_resets WHERE user_id = $1")
                    .bind(change.user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM invitations WHERE email = $1")
                    .bind(&change.new_email)
                    .execute(&mut *tx)
                    .await?;
                append_audits(&mut tx, events).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn prune_email_changes(&self, before: UnixTime) -> StoreResult<u64> {
                self.delete_before("DELETE FROM email_changes WHERE expires_at < $1", before)
                    .await
            }
        }
    };
}

pub(in crate::store) use email_change_statements;
