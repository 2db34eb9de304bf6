//! The `bellhop` server: read the config, build the application, serve until a signal.

use bellhop::{Application, config::Config, telemetry};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::from_env()?;
    let app = Application::build(config).await?;
    app.run_until_stopped().await
}
