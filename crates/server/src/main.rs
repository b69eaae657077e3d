use server::config::Settings;
use server::startup::Application;
use server::telemetry;

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(settings.log_format, &settings.log_filter);
    let app = Application::build(settings).await?;
    app.run().await?;
    tracing::info!("stopped");
    Ok(())
}
