//! Generates the consent.v1 gRPC code and a file descriptor set (for server
//! reflection) with the vendored protoc, so the build needs no system protoc.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto_files = ["consent/v1/consent.proto", "consent/v1/webhook.proto", "consent/v1/evidence.proto"]
        .map(|file| proto_root.join(file));
    let descriptor = PathBuf::from(std::env::var("OUT_DIR")?).join("consent_v1_descriptor.bin");
    for file in &proto_files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().file_descriptor_set_path(&descriptor).compile_with_config(
        config,
        &proto_files,
        &[proto_root],
    )?;
    Ok(())
}
