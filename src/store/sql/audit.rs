//! The audit trail, the devices and the database's own upkeep (see `super`).

macro_rules! audit_and_meta_statements {
    ($Store:ident, $Db:ty) => {
        #[async_trait]
        impl AuditStore for $Store {
            async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()> {
                append_audit(self.pool()?, record).await
            }

            async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
                let rows = sqlx::query(
                    "SELECT at, user_id, email, kind, detail, ip, user_agent FROM audit_events
                     WHERE (CAST($1 AS BIGINT) IS NULL OR user_id = $1) AND (CAST($2 AS TEXT) IS NULL OR email = $2) AND at >= $3
                     ORDER BY at DESC, id DESC LIMIT $4",
                )
                .bind(query.user_id)
                .bind(query.email.as_deref())
                .bind(query.since)
                .bind(query.limit)
                .fetch_all(self.reader()?)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| AuditRecord {
                        at: r.get(0),
                        user_id: r.get(1),
                        email: r.get(2),
                        kind: event::EventKind::parse(r.get(3)),
                        detail: stored_detail(r.get(3), r.get(4)),
                        origin: Origin {
                            ip: r.get(5),
                            user_agent: r.get(6),
                        },
                    })
                    .collect())
            }

            async fn prune_audit(&self, before: UnixTime) -> StoreResult<u64> {
                self.delete_before("DELETE FROM audit_events WHERE at < $1", before)
                    .await
            }

            async fn prune_devices(&self, before: UnixTime) -> StoreResult<u64> {
                self.delete_before("DELETE FROM known_devices WHERE last_seen < $1", before)
                    .await
            }

            async fn device_known(&self, user_id: UserId, device_hash: &[u8; 32]) -> StoreResult<bool> {
                Ok(sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM known_devices WHERE user_id = $1 AND device_hash = $2)",
                )
                .bind(user_id)
                .bind(device_hash.as_slice())
                .fetch_one(self.reader()?)
                .await?)
            }

            async fn remember_device(
                &self,
                user_id: UserId,
                device_hash: &[u8; 32],
                now: UnixTime,
            ) -> StoreResult<DeviceSeen> {
                self.note_device(user_id, device_hash, now).await
            }
        }

        #[async_trait]
        impl MetaStore for $Store {
            async fn can_write(&self) -> StoreResult<()> {
                sqlx::query("UPDATE server_meta SET value = value WHERE key = 'key_fingerprint'")
                    .execute(self.pool()?)
                    .await?;
                self.room_to_write()
            }
            async fn schema_current(&self) -> StoreResult<bool> {
                let applied: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
                )
                .fetch_one(self.reader()?)
                .await?;
                let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
                Ok(applied == known)
            }
            async fn backup_to(&self, path: &std::path::Path) -> StoreResult<()> {
                self.backup_here(path).await
            }

            async fn close(&self) {
                for pool in self.pools() {
                    pool.close().await;
                }
            }

            fn pool_state(&self) -> PoolState {
                self.pools().into_iter().fold(
                    PoolState {
                        size: 0,
                        idle: 0,
                        max: 0,
                    },
                    |sum, pool| PoolState {
                        size: sum.size + pool.size(),
                        idle: sum.idle.saturating_add(
                            u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                        ),
                        max: sum.max + pool.options().get_max_connections(),
                    },
                )
            }

            async fn migrate(&self) -> StoreResult<()> {
                MIGRATOR.run(self.pool()?).await?;
                Ok(())
            }

            async fn check_key_fingerprint(&self, fingerprint: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO server_meta (key, value) VALUES ('key_fingerprint', $1)
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(fingerprint)
                .execute(self.pool()?)
                .await?;
                let stored: String =
                    sqlx::query_scalar("SELECT value FROM server_meta WHERE key = 'key_fingerprint'")
                        .fetch_one(self.pool()?)
                        .await?;
                if crate::crypto::ct_eq(stored.as_bytes(), fingerprint.as_bytes()) {
                    Ok(())
                } else {
                    Err(StoreError::KeyMismatch)
                }
            }
        }
    };
}

pub(in crate::store) use audit_and_meta_statements;
