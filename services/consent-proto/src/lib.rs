//! Generated gRPC code for `consent.v1`, and the file descriptor set that
//! server reflection serves.

#![allow(unreachable_pub, missing_debug_implementations, clippy::wildcard_enum_match_arm)]

/// The `consent.v1` package.
pub mod v1 {
    tonic::include_proto!("consent.v1");
}

/// The encoded `FileDescriptorSet` of `consent.v1`, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("consent_v1_descriptor");
