//! Mounts the Loom inspector. Everything else lives in the library.

fn main() {
    loom_web::mount();
}
