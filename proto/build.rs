//! Compiles `frontierwatch/v1/*.proto` with the pure-Rust `protox` compiler,
//! so that no `protoc` is needed, and writes the encoded descriptor set for
//! server reflection.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTOS: &[&str] = &[
    "frontierwatch/v1/common.proto",
    "frontierwatch/v1/organization.proto",
    "frontierwatch/v1/model.proto",
    "frontierwatch/v1/release.proto",
    "frontierwatch/v1/offering.proto",
    "frontierwatch/v1/measurement.proto",
    "frontierwatch/v1/benchmark.proto",
    "frontierwatch/v1/benchmark_result.proto",
    "frontierwatch/v1/disclosure.proto",
    "frontierwatch/v1/watch.proto",
    "frontierwatch/v1/transparency_index.proto",
    "frontierwatch/v1/indicator.proto",
    "frontierwatch/v1/import.proto",
    "frontierwatch/v1/commitment.proto",
    "frontierwatch/v1/analytics.proto",
    "frontierwatch/v1/token.proto",
    "frontierwatch/v1/revision.proto",
    "frontierwatch/v1/progress.proto",
    "frontierwatch/v1/market.proto",
    "frontierwatch/v1/frontierwatch_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=frontierwatch");
    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("frontierwatch_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
        .build_transport(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        // A small first encode buffer per response (see src/codec.rs).
        .codec_path("crate::codec::Codec")
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
