//! Runs one invocation: parses the arguments (as a kubectl plugin when
//! invoked as one) and hands the subcommand to its `cli` shell or the server.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use super::args::{
    AuditCommand, Cli, Command, ComposeArgs, ConfigCommand, DoctorCommand, ProfileArgs,
    ProfilesCommand, ServeArgs,
};
use super::preview::Output;
use super::{CliError, EXIT_BAD_INPUT, EXIT_USAGE};
use crate::cli;

/// Runs a cluster command's future; a runtime that does not start is a usage error.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(future))
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))
}

fn init_logging(config: &crate::config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never in a log file.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr);
    match config.log.format {
        crate::config::LogFormat::Json => builder.json().flatten_event(true).init(),
        crate::config::LogFormat::Text => builder.init(),
    }
}

/// `preview --write`: the edit made, or why the file was left as it was (bad input).
fn preview_write(
    file: &std::path::Path,
    text: &str,
    docs: &[cli::preview::Previewed],
) -> Result<String, CliError> {
    let edited = cli::preview::in_place(text, docs).map_err(|e| {
        CliError::bad_input(format!("{}: {e}; the file was not changed", file.display()))
    })?;
    if edited == text {
        return Ok("nothing to change: the file was not written".into());
    }
    cli::preview::write_in_place(file, &edited)
        .map_err(|e| CliError::bad_input(format!("{}: cannot write: {e}", file.display())))?;
    let added = edited.lines().count().saturating_sub(text.lines().count());
    Ok(format!(
        "hardened in place ({added} lines more; -o diff shows the edit)"
    ))
}

/// Parses the process's arguments and runs the subcommand; the exit code
/// says how it went.
pub fn run() -> ExitCode {
    let mut command = Cli::command();
    if std::env::args_os()
        .next()
        .is_some_and(|argv0| cli::plugin::invoked_as_plugin(&argv0))
    {
        command = cli::plugin::as_kubectl_plugin(command);
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code as u8)
        }
    }
}

/// Runs one subcommand: its exit code, or the error to print and exit with.
fn dispatch(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Preview {
            file,
            output,
            profiles,
            config,
            write,
        } => preview(&file, output, &profiles, config.as_deref(), write),
        Command::Serve(args) => serve(&args),
        Command::Profiles(ProfilesCommand::Check { files }) => {
            let (out, ok) = cli::profiles::check(&files);
            print!("{out}");
            if ok {
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(EXIT_BAD_INPUT as u8))
            }
        }
        Command::Profiles(ProfilesCommand::List { profiles }) => {
            let c = cli::load_catalog(&profiles.files, !profiles.no_builtin_profiles)?;
            print!(
                "{}",
                cli::profiles::list(&c, std::io::stdout().is_terminal())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Profiles(ProfilesCommand::Explain { image, profiles }) => {
            let c = cli::load_catalog(&profiles.files, !profiles.no_builtin_profiles)?;
            print!("{}", cli::profiles::explain(&c, &image)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(args) => {
            let request = cli::certs::CertsRequest {
                out_dir: &args.out_dir,
                service: &args.service,
                namespace: &args.namespace,
                extra_names: &args.names,
                local: args.local,
                days: args.days,
                webhooks: args.webhooks,
            };
            print!("{}", cli::certs::run(&request)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Compose(args) => compose(&args),
        Command::Audit(a) => audit(a),
        Command::Doctor(d) => doctor(d),
        Command::Config(ConfigCommand::Print { config }) => {
            print!(
                "{}",
                cli::config_print::render(config.as_deref(), serde_json::json!({}))?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether stdout is a person's terminal that wants colour.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `preview`: the hardened manifest, its diff, or the file edited in place;
/// notes and warnings go to stderr.
fn preview(
    file: &std::path::Path,
    output: Output,
    profiles: &ProfileArgs,
    config: Option<&std::path::Path>,
    write: bool,
) -> Result<ExitCode, CliError> {
    if write && file.as_os_str() == "-" {
        return Err(CliError::bad_input(
            "--write edits a file in place: give its path, not - (stdin)",
        ));
    }
    let config = crate::config::load(config, serde_json::json!({})).map_err(CliError::usage)?;
    let catalog = cli::load_catalog(&profiles.files, !profiles.no_builtin_profiles)?;
    let mut text = String::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|t| text = t)
    };
    if let Err(e) = read {
        return Err(CliError::bad_input(format!("{}: {e}", file.display())));
    }
    let docs = cli::preview::preview_file(
        &file.display().to_string(),
        &text,
        &catalog,
        &config.options(),
    )
    .map_err(|e| CliError::bad_input(format!("{}: {e}", file.display())))?;
    let colour = colour();
    let mut notes = cli::preview::notes(&docs);
    if write {
        notes.push(preview_write(file, &text, &docs)?);
    } else if output == Output::Diff {
        let name = file.display().to_string();
        let name = if name == "-" { "stdin" } else { &name };
        let (shown, diff_notes) = cli::preview::diff(&text, &docs, name, colour);
        print!("{shown}");
        notes.extend(diff_notes);
    } else {
        print!("{}", cli::preview::render(&docs, output, colour));
    }
    if write || output == Output::Diff {
        notes.extend(cli::preview::warnings(&docs));
    }
    for note in notes {
        eprintln!("pod-hardener: {}: {note}", file.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `serve`: the webhook until SIGTERM; a configuration or start-up failure
/// is also written as the pod's termination message.
fn serve(args: &ServeArgs) -> Result<ExitCode, CliError> {
    let config = match crate::config::load(args.config.as_deref(), args.overrides()) {
        Ok(c) => c,
        Err(e) => {
            let message = format!("invalid configuration: {e}");
            crate::server::write_termination_message(&message);
            return Err(CliError::usage(message));
        }
    };
    init_logging(&config);
    let source = crate::server::reload::ConfigSource {
        file: args.config.clone(),
        flags: args.overrides(),
    };
    match actix_web::rt::System::new().block_on(crate::server::run(config, source)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            // Once: the log is where an operator reads it (stderr).
            tracing::error!(error = %e, "cannot serve");
            crate::server::write_termination_message(&format!("cannot serve: {e}"));
            Ok(ExitCode::from(EXIT_USAGE as u8))
        }
    }
}

fn compose(args: &ComposeArgs) -> Result<ExitCode, CliError> {
    let config = crate::config::load(args.config.as_deref(), serde_json::json!({}))
        .map_err(CliError::usage)?;
    let catalog = cli::load_catalog(&args.profiles.files, !args.profiles.no_builtin_profiles)?;
    let files = cli::compose::read_files(&args.compose_files)?;
    let request = cli::compose::Request {
        catalog: &catalog,
        options: &config.options(),
        profile_for: &args.profile_for,
        output: args.output.into(),
        tmpfs_syntax: args.tmpfs_syntax.into(),
        resolver: args.resolve_with,
        colour: colour(),
    };
    print!("{}", cli::compose::run(&files, &request)?);
    Ok(ExitCode::SUCCESS)
}

fn audit(a: AuditCommand) -> Result<ExitCode, CliError> {
    let args = cli::audit::AuditArgs {
        namespace: a.namespace,
        selector: a.selector,
        profile_files: a.profiles.files,
        no_builtin_profiles: a.profiles.no_builtin_profiles,
        config: a.config,
        from_cluster: a.from_cluster,
        output: a.output.into(),
        quiet: a.quiet,
    };
    let (out, code) = block_on(cli::audit::run(&args))??;
    print!("{out}");
    Ok(ExitCode::from(code as u8))
}

fn doctor(d: DoctorCommand) -> Result<ExitCode, CliError> {
    let source = match (d.pod, d.logs, d.image) {
        (_, Some(file), Some(image)) => cli::doctor::Source::Logs { file, image },
        (Some(name), _, _) => cli::doctor::Source::Pod {
            name,
            namespace: d.namespace,
        },
        _ => {
            return Err(CliError::bad_input(
                "give a POD, or --logs FILE with --image IMAGE",
            ))
        }
    };
    let args = cli::doctor::DoctorArgs {
        source,
        container: d.container,
        workdir: d.workdir,
        profile_files: d.profiles.files,
        no_builtin_profiles: d.profiles.no_builtin_profiles,
        write: d.write,
        json: d.json,
    };
    print!("{}", block_on(cli::doctor::run(&args))??);
    Ok(ExitCode::SUCCESS)
}
