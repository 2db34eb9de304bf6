//! The `bellhop` server: read the config, build the application, serve until a signal.

use bellhop::{Application, config::Config, telemetry};

// mimalloc, not glibc malloc: with many thousands of idle WebSocket connections it kept less
// resident per connection (22.5 vs 25.4 KiB at 5k connections, `cargo bench --bench load`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::from_env()?;
    let app = Application::build(config).await?;
    app.run_until_stopped().await
}
