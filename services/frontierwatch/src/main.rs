//! `frontierwatch-server`: serves the Frontier Watch gRPC API.

use clap::Parser as _;
use frontierwatch_server::config::{Command, Config, TokenCommand};
use frontierwatch_server::{admin_token, startup, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    let telemetry = match telemetry::init(config.log_format) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("frontierwatch-server: cannot set up telemetry: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(Command::Token {
        action:
            TokenCommand::Create {
                role,
                name,
                expire_days,
            },
    }) = &config.command
    {
        let result = admin_token::create_token(&config, role, name, *expire_days).await;
        telemetry.shutdown().await;
        return match result {
            Ok(secret) => {
                println!("{secret}");
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("frontierwatch-server: {error:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    tracing::info!(?config, "starting");
    let result = async {
        let app = startup::Application::build(&config).await?;
        app.run_until(startup::shutdown_signal()).await
    }
    .await;
    let code = match result {
        Ok(()) => {
            tracing::info!("stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("frontierwatch-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}
