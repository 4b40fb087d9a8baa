// `sqlx::migrate!` embeds migrations/ at compile time but does not tell cargo to watch the
// folder: without this, a new migration is missing from a crate built before it was added.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
