//! `tonghua`: the one binary. `serve` runs the platform; `admin` manages
//! tenants, users and tokens from the machine itself; `contacts` and
//! `campaign` prepare and steer outbound campaigns; `migrate` applies the
//! schema; the operator tools for scripts, understanding (`nlu`) and speech
//! (`asr`, `tts`) help build and check a deployment.

mod admin;
mod campaigns;
mod speech;
mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use server::config::{Config, LogFormat, Overrides, Sources};

#[derive(Debug, Parser)]
#[command(
    name = "tonghua",
    version,
    about = "Tonghua (通话): self-hosted AI phone robot and customer-service platform"
)]
struct Cli {
    /// Configuration file (TOML). Default: $TONGHUA_CONFIG, else ./tonghua.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (database, recordings, caches). Default ./data.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API, console and channels.
    Serve(ServeArgs),
    /// Apply database migrations (also done by `serve` on start).
    Migrate {
        /// Only show which migrations are applied.
        #[arg(long)]
        status: bool,
    },
    /// Manage tenants, users and API tokens directly in the database.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Contact lists and the do-not-call lists: import, list, dnc.
    #[command(subcommand)]
    Contacts(campaigns::ContactsCommand),
    /// Outbound campaigns: create, start, pause, resume, stop, lines, status.
    #[command(subcommand)]
    Campaign(campaigns::CampaignCommand),
    /// Talk to a script in the terminal, seeing intents, scores and actions.
    Chat {
        #[arg(long, value_name = "SCRIPT")]
        script: PathBuf,
        /// Knowledge base (default: the one the script names).
        #[arg(long, value_name = "KB")]
        kb: Option<PathBuf>,
        /// A CRM field for the script's variables, e.g. --contact name=王先生 (repeatable).
        #[arg(long, value_name = "KEY=VALUE", value_parser = tools::parse_pair)]
        contact: Vec<(String, String)>,
        /// Show only what the robot says and does.
        #[arg(long)]
        quiet: bool,
    },
    /// Run a script's test conversations and report pass/fail (exit 1 on any failure).
    Simulate {
        #[arg(long, value_name = "SCRIPT")]
        script: PathBuf,
        #[arg(long, value_name = "CASES")]
        cases: PathBuf,
        #[arg(long, value_name = "KB")]
        kb: Option<PathBuf>,
    },
    /// Check a script: every error with file, line and node.
    Validate { script: PathBuf },
    /// Understanding on its own, for evaluation: JSON Lines on stdin, JSON Lines on stdout.
    #[command(subcommand)]
    Nlu(tools::NluCommand),
    /// Transcribe a WAV file with the local recogniser (Whisper base).
    Asr(speech::AsrArgs),
    /// Synthesise speech with the local voice (Kokoro), or `tts warm` a script's prompts.
    Tts(speech::TtsArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// HTTP listen address for the API and console. Default 127.0.0.1:8080.
    #[arg(long, value_name = "HOST:PORT")]
    http: Option<SocketAddr>,
    /// SIP listen address (UDP and TCP); giving it turns telephony on. Default 0.0.0.0:5060.
    #[arg(long, value_name = "HOST:PORT")]
    sip: Option<SocketAddr>,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. info or info,server=debug.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Print the effective configuration (secrets masked) and exit.
    #[arg(long)]
    print_config: bool,
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("'{other}' is not a log format; use text or json")),
    }
}

/// A failure to report: one line, and the exit code that goes with it.
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 2,
        }
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

fn main() -> ExitCode {
    // Outgoing HTTPS (WeChat's API, remote speech engines, webhooks) uses
    // rustls with the ring provider; set it before any client is built.
    server::tls::install_crypto_provider();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("tonghua: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn load_config(cli: &Cli, serve: Option<&ServeArgs>) -> Result<Config, Failure> {
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        http: serve.and_then(|s| s.http),
        sip: serve.and_then(|s| s.sip),
        log_format: serve.and_then(|s| s.log_format),
        log_level: serve.and_then(|s| s.log_level.clone()),
        telephony: serve
            .and_then(|s| s.sip)
            .map(|_| server::config::TelephonyOverride { enabled: true }),
    };
    Config::load(&Sources {
        file: cli.config.clone(),
        overrides,
    })
    .map_err(|e| Failure::usage(e.to_string()))
}

/// The models folder and data directory from the configuration layers.
fn places(cli: &Cli) -> Result<speech::Places, Failure> {
    let config = load_config(cli, None)?;
    Ok(speech::Places {
        models: config.models,
        data_dir: config.data_dir,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))
}

fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Chat {
            script,
            kb,
            contact,
            quiet,
        } => tools::chat(script.clone(), kb.clone(), contact.clone(), !quiet),
        Command::Simulate { script, cases, kb } => {
            tools::simulate(script.clone(), cases.clone(), kb.clone())
        }
        Command::Validate { script } => tools::validate(script.clone()),
        Command::Nlu(cmd) => tools::nlu(cmd),
        Command::Asr(args) => speech::asr(args, || places(&cli)),
        Command::Tts(args) => speech::tts(args, || places(&cli)),
        Command::Version => {
            println!("tonghua {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve(args) => {
            let config = load_config(&cli, Some(args))?;
            if args.print_config {
                print!("{}", config.to_masked_toml());
                return Ok(());
            }
            server::telemetry::init_logging(config.log_format, &config.log_level);
            runtime()?
                .block_on(server::serve(config))
                .map_err(|e| Failure::runtime(e.to_string()))
        }
        Command::Migrate { status } => {
            let config = load_config(&cli, None)?;
            server::telemetry::init_logging(LogFormat::Text, "warn");
            runtime()?.block_on(migrate(&config, *status))
        }
        Command::Admin(cmd) => {
            let config = load_config(&cli, None)?;
            server::telemetry::init_logging(LogFormat::Text, "warn");
            runtime()?.block_on(admin::run(&config, cmd))
        }
        Command::Contacts(cmd) => {
            let config = load_config(&cli, None)?;
            server::telemetry::init_logging(LogFormat::Text, "warn");
            runtime()?.block_on(campaigns::contacts(&config, cmd))
        }
        Command::Campaign(cmd) => {
            let config = load_config(&cli, None)?;
            server::telemetry::init_logging(LogFormat::Text, "warn");
            runtime()?.block_on(campaigns::campaign(&config, cmd))
        }
    }
}

async fn migrate(config: &Config, status_only: bool) -> Result<(), Failure> {
    let store = store::Store::open_without_migrating(&config.data_dir)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    if !status_only {
        let applied = store
            .migrate()
            .await
            .map_err(|e| Failure::runtime(e.to_string()))?;
        println!("applied {applied} migration(s)");
    }
    for m in store
        .migration_status()
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?
    {
        let state = if m.applied_at.is_some() {
            "applied"
        } else {
            "pending"
        };
        println!("{:>4}  {:<24} {state}", m.version, m.name);
    }
    store.close().await;
    Ok(())
}
