//! Compiles `frame.proto` into Rust types with prost-build, using protox as the
//! protobuf parser so that no `protoc` binary is needed on any build machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=frame.proto");
    let descriptors = protox::compile(["frame.proto"], ["."])?;
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
