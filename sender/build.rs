//! Warns at build time when mozjpeg will lose its SIMD code: on x86 it needs
//! `nasm`, and without it mozjpeg-sys builds anyway but every frame costs
//! about six times the CPU. The build itself is unchanged.

fn main() {
    println!("cargo:rerun-if-env-changed=PATH");
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if !matches!(target_arch.as_str(), "x86" | "x86_64") {
        return; // ARM builds their NEON code with the C compiler
    }
    let nasm_found = std::process::Command::new("nasm")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !nasm_found {
        println!(
            "cargo:warning=nasm not found: mozjpeg is built without SIMD and JPEG encoding will be ~6x slower. \
             Install it (Debian/Ubuntu: sudo apt-get install nasm) and rebuild (cargo clean -p mozjpeg-sys)."
        );
    }
}
