//! Invitations: the links and accepting one (see `super`).

macro_rules! invitation_statements {
    ($Store:ident, $Db:ty) => {
        fn invitation_from(row: &<$Db as sqlx::Database>::Row) -> Invitation {
            Invitation {
                email: row.get(0),
                is_admin: row.get(1),
                created_at: row.get(2),
                expires_at: row.get(3),
            }
        }

        #[async_trait]
        impl InvitationStore for $Store {
            async fn put_invitation(
                &self,
                token: &TokenHash,
                invitation: &Invitation,
                events: &[AuditRecord],
            ) -> StoreResult<bool> {
                let mut tx = self.pool()?.begin().await?;
                let upsert = sqlx::query(
                    "INSERT INTO invitations (email, token_hash, is_admin, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (email) DO UPDATE SET token_hash = $2, is_admin = $3,
                       created_at = $4, expires_at = $5",
                )
                .bind(&invitation.email)
                .bind(token.as_slice())
                .bind(invitation.is_admin)
                .bind(invitation.created_at)
                .bind(invitation.expires_at)
                .execute(&mut *tx)
                .await?;
                debug_assert_eq!(upsert.rows_affected(), 1);
                let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
                    .bind(&invitation.email)
                    .fetch_one(&mut *tx)
                    .await?;
                if taken > 0 {
                    return Ok(false);
                }
                append_audits(&mut tx, events).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn invitation(&self, token: &TokenHash) -> StoreResult<Option<Invitation>> {
                let row = sqlx::query(
                    "SELECT email, is_admin, created_at, expires_at FROM invitations
                     WHERE token_hash = $1",
                )
                .bind(token.as_slice())
                .fetch_optional(self.reader()?)
                .await?;
                Ok(row.as_ref().map(invitation_from))
            }

            async fn invitations(&self) -> StoreResult<Vec<Invitation>> {
                let rows = sqlx::query(
                    "SELECT email, is_admin, created_at, expires_at FROM invitations
                     ORDER BY email",
                )
                .fetch_all(self.reader()?)
                .await?;
                Ok(rows.iter().map(invitation_from).collect())
            }

            async fn revoke_invitation(
                &self,
                email: &str,
                events: &[AuditRecord],
            ) -> StoreResult<bool> {
                let delete = sqlx::query("DELETE FROM invitations WHERE email = $1").bind(email);
                self.delete_one_with_events(delete, events).await
            }

            async fn accept_invitation(
                &self,
                token: &TokenHash,
                user: NewUser,
                session: &SessionRotation,
                events: &[AuditRecord],
            ) -> StoreResult<Option<User>> {
                let mut tx = self.pool()?.begin().await?;
                // The DELETE comes first so that this transaction takes the write lock at once;
                // of two acceptances at once, one spends the invitation.
                let spent = sqlx::query(
                    "DELETE FROM invitations
                     WHERE token_hash = $1 AND email = $2 AND expires_at > $3",
                )
                .bind(token.as_slice())
                .bind(&user.email)
                .bind(session.now)
                .execute(&mut *tx)
                .await?;
                if spent.rows_affected() != 1 {
                    return Ok(None);
                }
                let created = open_account(&mut tx, &user, session, events).await?;
                tx.commit().await?;
                Ok(Some(created))
            }

            async fn prune_invitations(&self, before: UnixTime) -> StoreResult<u64> {
                self.delete_before("DELETE FROM invitations WHERE expires_at < $1", before)
                    .await
            }
        }
    };
}

pub(in crate::store) use invitation_statements;
