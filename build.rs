// sqlx::migrate! embeds the migration files at compile time; without this, a new
// migration file alone would not rebuild the crate (sqlx's own advice).
fn main() {
    println!("cargo:rerun-if-changed=src/store/migrations");
}
