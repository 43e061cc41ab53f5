//! Compiles `vigil/v1/*.proto` with the pure-Rust `protox` compiler, so a
//! fresh machine needs no system `protoc`.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "vigil/v1/common.proto",
        "vigil/v1/ingest.proto",
        "vigil/v1/query.proto",
        "vigil/v1/faults.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for gRPC server reflection, so `grpcurl` works without .proto files.
    std::fs::write(out.join("vigil_descriptor.bin"), fds.encode_to_vec())?;
    // Small per-call buffers: see `CompactCodec` in src/codec.rs.
    tonic_prost_build::configure()
        .codec_path("crate::codec::CompactCodec")
        .compile_fds(fds)?;
    Ok(())
}
