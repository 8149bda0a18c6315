//! Mounts the Loom inspector, with its allocator. Everything else lives in
//! the library.

/// Talc instead of Rust's default WASM allocator (dlmalloc): opening a
/// capture of a million calls makes millions of small allocations, and
/// talc's are several times cheaper.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    loom_web::mount();
}
