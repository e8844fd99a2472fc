//! `sqlx::migrate!` embeds the migrations when the crate compiles; a new
//! migration file changes no Rust source, so without this an incremental
//! build would keep serving the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
