//! Compiles our StoreAPI `.proto` files with the pure-Rust `protox` compiler (no `protoc`
//! needed) and generates prost messages and tonic services from them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/thanos/store.proto", "proto/thanos/info.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
