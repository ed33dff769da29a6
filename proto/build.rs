//! Generates the nws.v1 types and gRPC stubs from `nws/v1/nws.proto` with
//! `protox` (a pure-Rust protobuf compiler), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "nws/v1/nws.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["."])?;
    tonic_prost_build::configure()
        .bytes(".nws.v1")
        .compile_fds(descriptors)?;
    Ok(())
}
