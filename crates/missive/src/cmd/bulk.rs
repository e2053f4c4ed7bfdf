//! `missive bulk`: options → settings → a plan → the run → its exit code.

use crate::bulk::{self, rate::Rate, Plan};
use crate::cli::BulkArgs;
use crate::deliver::Route;
use crate::error::{exit, AppError, Result};
use crate::settings;

/// Connections when neither the command line nor the preset says.
const DEFAULT_CONNECTIONS: usize = 4;

pub(super) async fn run(args: BulkArgs) -> Result<()> {
    let settings = settings::resolve(&args.route.overrides())?;
    super::send::check_ehlo(settings.ehlo.as_deref())?;
    let dry_run = args.dry_run.is_some();
    let mut options = settings::mailer_options(&settings, dry_run, args.verbose)?;
    let limits = settings.limits.clone();
    options.connections = args
        .connections
        .or(limits.connections)
        .unwrap_or(DEFAULT_CONNECTIONS)
        .max(1);
    options.max_messages_per_connection = args.max_per_connection.max(1);
    // The command line's limits, else the preset's documented ones.
    let given = match args.rate.is_empty() {
        true => &limits.rates,
        false => &args.rate,
    };
    let rates = given
        .iter()
        .map(|r| Rate::parse(r))
        .collect::<Result<Vec<_>>>()?;
    let via = match &options.route {
        Route::Relay(r) => r.server.display(),
        Route::Direct(_) => "each domain's MX hosts".into(),
    };
    let journal = args.journal.clone().unwrap_or_else(|| {
        let mut name = args.csv.as_os_str().to_owned();
        name.push(".journal");
        name.into()
    });
    let plan = Plan {
        csv: args.csv,
        template: args.template,
        html: args.html_file,
        attach: args.attach,
        inline: args.inline,
        to_column: args.to_column,
        from: settings.from.clone(),
        journal,
        dry_run: args.dry_run,
        yes: args.yes,
        resend_in_doubt: args.resend_in_doubt,
        json: args.json,
        quiet: args.quiet,
        rates,
        options,
        dkim: crate::message::dkim::signers(&settings.dkim)?,
        require_tls: settings.require_tls,
        via,
    };
    let journal = plan.journal.display().to_string();
    match bulk::run(plan).await? {
        exit::OK => Ok(()),
        exit::TEMPFAIL => Err(AppError::Refused(
            format!("some rows are left to retry: run the same command again (the journal {journal} knows what was sent)"),
            exit::TEMPFAIL,
        )),
        code => Err(AppError::Refused("some rows were refused (see above)".into(), code)),
    }
}
