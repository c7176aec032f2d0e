//! `tonghua contacts …` and `tonghua campaign …`: contact lists, the
//! do-not-call lists and campaigns, worked on the data directory's database
//! directly (like `admin`), audited as actor `cli`. The campaign runner
//! inside `tonghua serve` picks every change up from the database.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use campaign::control::{self, CampaignSpec};
use campaign::import::{self, Format, Mapping};
use clap::Subcommand;
use serde_json::json;
use server::config::Config;
use store::Store;

use crate::Failure;
use crate::admin::{audit, fail, now_ms, tenant};

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Import a CSV or Excel (.xlsx) file into a list; bad rows are reported and skipped.
    Import {
        #[arg(long)]
        tenant: String,
        /// The list (created when new).
        #[arg(long)]
        list: String,
        file: PathBuf,
        /// Column header → script variable, e.g. --map 小区=community (repeatable).
        #[arg(long = "map", value_name = "COLUMN=VARIABLE", value_parser = crate::tools::parse_pair)]
        map: Vec<(String, String)>,
        /// Header of the number column (default: 手机号/电话/phone/…).
        #[arg(long)]
        number_column: Option<String>,
        /// Header of the name column (default: 姓名/name).
        #[arg(long)]
        name_column: Option<String>,
        /// Header of a UTC offset column (+08:00).
        #[arg(long)]
        timezone_column: Option<String>,
        /// Drop the columns not mapped instead of keeping them as custom fields.
        #[arg(long)]
        drop_unmapped: bool,
    },
    /// List the tenant's lists, or a list's contacts.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        list: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The do-not-call lists.
    #[command(subcommand)]
    Dnc(DncCommand),
}

#[derive(Debug, Subcommand)]
pub enum DncCommand {
    /// Never call these numbers.
    Add {
        /// The tenant's list; without it, --global.
        #[arg(long, required_unless_present = "global")]
        tenant: Option<String>,
        /// The global list every tenant obeys.
        #[arg(long, conflicts_with = "tenant")]
        global: bool,
        #[arg(long)]
        reason: Option<String>,
        /// Numbers, or --file with one per line (or a CSV/Excel file's number column).
        numbers: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    Remove {
        #[arg(long, required_unless_present = "global")]
        tenant: Option<String>,
        #[arg(long, conflicts_with = "tenant")]
        global: bool,
        numbers: Vec<String>,
    },
    List {
        #[arg(long, required_unless_present = "global")]
        tenant: Option<String>,
        #[arg(long, conflicts_with = "tenant")]
        global: bool,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign (a draft; `start` it).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Script name; its latest version is pinned unless --script-version.
        #[arg(long)]
        script: String,
        #[arg(long)]
        script_version: Option<i64>,
        #[arg(long)]
        list: String,
        /// The SIP account (trunk) to call through.
        #[arg(long)]
        trunk: String,
        #[arg(long)]
        caller_id: Option<String>,
        /// Lines used at once.
        #[arg(long)]
        lines: i64,
        /// Settings JSON (windows, holidays, pacing, retries, webhook, SMS; docs/campaigns.md).
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
    },
    /// List the tenant's campaigns.
    List {
        #[arg(long)]
        tenant: String,
    },
    Start {
        #[arg(long)]
        tenant: String,
        campaign: String,
    },
    Pause {
        #[arg(long)]
        tenant: String,
        campaign: String,
    },
    Resume {
        #[arg(long)]
        tenant: String,
        campaign: String,
    },
    Stop {
        #[arg(long)]
        tenant: String,
        campaign: String,
    },
    /// Change the lines a running campaign uses, live.
    Lines {
        #[arg(long)]
        tenant: String,
        campaign: String,
        lines: i64,
    },
    /// Progress and outcome counts; --watch N refreshes every N seconds until it ends.
    Status {
        #[arg(long)]
        tenant: String,
        campaign: String,
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
    },
}

fn control_failure(e: control::ControlError) -> Failure {
    match e {
        control::ControlError::Store(e) => fail(e),
        other => Failure::runtime(format!("{} ({})", other, other.zh())),
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

fn format_of(path: &std::path::Path) -> Result<Format, Failure> {
    Format::from_name(&path.display().to_string())
        .ok_or_else(|| Failure::usage(format!("{}: use a .csv or .xlsx file", path.display())))
}

pub async fn contacts(config: &Config, cmd: &ContactsCommand) -> Result<(), Failure> {
    let store = server::open_store(config).await.map_err(fail)?;
    let result = run_contacts(&store, cmd).await;
    store.close().await;
    result
}

pub async fn campaign(config: &Config, cmd: &CampaignCommand) -> Result<(), Failure> {
    let store = server::open_store(config).await.map_err(fail)?;
    let result = run_campaign(&store, cmd).await;
    store.close().await;
    result
}

async fn run_contacts(store: &Store, cmd: &ContactsCommand) -> Result<(), Failure> {
    match cmd {
        ContactsCommand::Import {
            tenant: slug,
            list,
            file,
            map,
            number_column,
            name_column,
            timezone_column,
            drop_unmapped,
        } => {
            if !server::routes::valid_name(list) {
                return Err(Failure::usage(format!(
                    "list '{list}': use 1-64 of A-Z a-z 0-9 _ . -"
                )));
            }
            let t = tenant(store, slug).await?;
            let mapping = Mapping {
                number: number_column.clone(),
                name: name_column.clone(),
                timezone: timezone_column.clone(),
                columns: map.iter().cloned().collect::<BTreeMap<_, _>>(),
                drop_unmapped: *drop_unmapped,
            };
            let parsed = import::parse(&read(file)?, format_of(file)?, &mapping).map_err(|e| {
                Failure::runtime(format!("{}: {} ({})", file.display(), e.en, e.zh))
            })?;
            let now = now_ms();
            let l = store
                .ensure_contact_list(&t.id, list, now)
                .await
                .map_err(fail)?;
            let counts = store
                .import_contacts(&t.id, &l.id, &parsed.contacts, now)
                .await
                .map_err(fail)?;
            for r in &parsed.rejected {
                eprintln!(
                    "row {}: {:?} skipped: {} ({})",
                    r.row, r.value, r.reason_en, r.reason
                );
            }
            audit(
                store,
                Some(&t.id),
                "contacts.import",
                Some(&l.id),
                json!({ "list": list, "file": file.display().to_string(), "counts": counts, "rejected": parsed.rejected.len() }),
            )
            .await?;
            println!(
                "list {list}: {} added, {} updated, {} unchanged, {} rejected",
                counts.inserted,
                counts.updated,
                counts.unchanged,
                parsed.rejected.len()
            );
        }
        ContactsCommand::List {
            tenant: slug,
            list,
            limit,
        } => {
            let t = tenant(store, slug).await?;
            match list {
                None => {
                    for l in store.contact_lists(&t.id).await.map_err(fail)? {
                        println!("{}\t{}\t{} contacts", l.name, l.id, l.contacts);
                    }
                }
                Some(name) => {
                    let l = store
                        .contact_list(&t.id, name)
                        .await
                        .map_err(fail)?
                        .ok_or_else(|| {
                            Failure::runtime(format!(
                                "no list '{name}' (see: tonghua contacts list --tenant {slug})"
                            ))
                        })?;
                    for c in store
                        .contacts(&t.id, &l.id, None, (*limit).clamp(1, 100_000))
                        .await
                        .map_err(fail)?
                    {
                        let vars = serde_json::to_string(&c.variables).unwrap_or_default();
                        println!("{}\t{}\t{vars}", c.number, c.name.unwrap_or_default());
                    }
                }
            }
        }
        ContactsCommand::Dnc(cmd) => run_dnc(store, cmd).await?,
    }
    Ok(())
}

async fn scope(store: &Store, slug: &Option<String>) -> Result<Option<String>, Failure> {
    match slug {
        Some(s) => Ok(Some(tenant(store, s).await?.id)),
        None => Ok(None),
    }
}

fn normalised(raw: &str) -> Result<String, Failure> {
    phone::normalize(raw).map_err(|e| Failure::usage(format!("number {raw:?}: {e} ({})", e.zh())))
}

async fn run_dnc(store: &Store, cmd: &DncCommand) -> Result<(), Failure> {
    match cmd {
        DncCommand::Add {
            tenant: slug,
            reason,
            numbers,
            file,
            ..
        } => {
            let scope = scope(store, slug).await?;
            let mut all: Vec<String> = numbers
                .iter()
                .map(|n| normalised(n))
                .collect::<Result<_, _>>()?;
            if let Some(file) = file {
                let bytes = read(file)?;
                match Format::from_name(&file.display().to_string()) {
                    Some(format) => {
                        let parsed =
                            import::parse(&bytes, format, &Mapping::default()).map_err(|e| {
                                Failure::runtime(format!("{}: {}", file.display(), e.en))
                            })?;
                        for r in &parsed.rejected {
                            eprintln!("row {}: {:?} skipped: {}", r.row, r.value, r.reason_en);
                        }
                        all.extend(parsed.contacts.into_iter().map(|c| c.number));
                    }
                    None => {
                        for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
                            if line.trim().is_empty() {
                                continue;
                            }
                            match phone::normalize(line) {
                                Ok(n) => all.push(n),
                                Err(e) => {
                                    eprintln!("line {}: {:?} skipped: {e}", i + 1, line.trim())
                                }
                            }
                        }
                    }
                }
            }
            if all.is_empty() {
                return Err(Failure::usage("give numbers or --file"));
            }
            let now = now_ms();
            let mut added = 0;
            for n in &all {
                if store
                    .add_dnc(scope.as_deref(), n, "cli", reason.as_deref(), now)
                    .await
                    .map_err(fail)?
                {
                    added += 1;
                }
            }
            audit(
                store,
                scope.as_deref(),
                "dnc.add",
                None,
                json!({ "global": scope.is_none(), "added": added, "numbers": all.len() }),
            )
            .await?;
            println!("{added} added, {} already listed", all.len() - added);
        }
        DncCommand::Remove {
            tenant: slug,
            numbers,
            ..
        } => {
            let scope = scope(store, slug).await?;
            let mut removed = 0;
            for raw in numbers {
                let n = normalised(raw)?;
                if store.remove_dnc(scope.as_deref(), &n).await.map_err(fail)? {
                    removed += 1;
                } else {
                    eprintln!("{n} was not on the list");
                }
            }
            audit(
                store,
                scope.as_deref(),
                "dnc.remove",
                None,
                json!({ "global": scope.is_none(), "removed": removed }),
            )
            .await?;
            println!("{removed} removed");
        }
        DncCommand::List {
            tenant: slug,
            limit,
            ..
        } => {
            let scope = scope(store, slug).await?;
            for e in store
                .dnc_entries(scope.as_deref(), None, (*limit).clamp(1, 1_000_000))
                .await
                .map_err(fail)?
            {
                println!(
                    "{}\t{}\t{}",
                    e.number,
                    e.source,
                    e.reason.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

async fn run_campaign(store: &Store, cmd: &CampaignCommand) -> Result<(), Failure> {
    match cmd {
        CampaignCommand::Create {
            tenant: slug,
            name,
            script,
            script_version,
            list,
            trunk,
            caller_id,
            lines,
            settings,
        } => {
            let t = tenant(store, slug).await?;
            let settings =
                match settings {
                    None => None,
                    Some(path) => Some(serde_json::from_slice(&read(path)?).map_err(|e| {
                        Failure::usage(format!("{}: not JSON: {e}", path.display()))
                    })?),
                };
            let spec = CampaignSpec {
                name: name.clone(),
                script: script.clone(),
                script_version: *script_version,
                list: list.clone(),
                trunk: trunk.clone(),
                caller_id: caller_id.clone(),
                max_lines: *lines,
                settings,
            };
            let c = control::create(store, &t.id, &spec, now_ms())
                .await
                .map_err(control_failure)?;
            audit(store, Some(&t.id), "campaign.create", Some(&c.id), json!({ "name": c.name, "script": c.script_name, "script_version": c.script_version })).await?;
            println!(
                "created campaign {} ({}), script {} v{}; start it with: tonghua campaign start --tenant {slug} {}",
                c.name, c.id, c.script_name, c.script_version, c.name
            );
        }
        CampaignCommand::List { tenant: slug } => {
            let t = tenant(store, slug).await?;
            for c in store.campaigns(&t.id).await.map_err(fail)? {
                println!(
                    "{}\t{}\t{}\t{} lines\t{} v{}",
                    c.name, c.id, c.status, c.max_lines, c.script_name, c.script_version
                );
            }
        }
        CampaignCommand::Start {
            tenant: slug,
            campaign,
        }
        | CampaignCommand::Pause {
            tenant: slug,
            campaign,
        }
        | CampaignCommand::Resume {
            tenant: slug,
            campaign,
        }
        | CampaignCommand::Stop {
            tenant: slug,
            campaign,
        } => {
            let t = tenant(store, slug).await?;
            let now = now_ms();
            let (c, action) = match cmd {
                CampaignCommand::Start { .. } => {
                    (control::start(store, &t.id, campaign, now).await, "start")
                }
                CampaignCommand::Pause { .. } => {
                    (control::pause(store, &t.id, campaign, now).await, "pause")
                }
                CampaignCommand::Resume { .. } => {
                    (control::resume(store, &t.id, campaign, now).await, "resume")
                }
                _ => (control::stop(store, &t.id, campaign, now).await, "stop"),
            };
            let c = c.map_err(control_failure)?;
            audit(
                store,
                Some(&t.id),
                &format!("campaign.{action}"),
                Some(&c.id),
                json!({ "status": c.status }),
            )
            .await?;
            println!("campaign {} is {}", c.name, c.status);
        }
        CampaignCommand::Lines {
            tenant: slug,
            campaign,
            lines,
        } => {
            let t = tenant(store, slug).await?;
            let c = control::set_lines(store, &t.id, campaign, *lines, now_ms())
                .await
                .map_err(control_failure)?;
            audit(
                store,
                Some(&t.id),
                "campaign.update",
                Some(&c.id),
                json!({ "max_lines": c.max_lines }),
            )
            .await?;
            println!("campaign {} now uses {} lines", c.name, c.max_lines);
        }
        CampaignCommand::Status {
            tenant: slug,
            campaign,
            watch,
        } => {
            let t = tenant(store, slug).await?;
            loop {
                let c = store
                    .campaign(&t.id, campaign)
                    .await
                    .map_err(fail)?
                    .ok_or_else(|| {
                        Failure::runtime(format!(
                            "no campaign '{campaign}' (see: tonghua campaign list --tenant {slug})"
                        ))
                    })?;
                let p = store.campaign_progress(&t.id, &c.id).await.map_err(fail)?;
                let outcomes: Vec<String> =
                    p.outcomes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{} {}: {}/{} contacts done, {} pending, {} dialling, {} attempts [{}]",
                    c.name,
                    c.status,
                    p.done,
                    p.contacts,
                    p.pending,
                    p.dialing,
                    p.attempts,
                    outcomes.join(" ")
                );
                match watch {
                    Some(secs) if matches!(c.status.as_str(), "running" | "paused" | "draft") => {
                        tokio::time::sleep(Duration::from_secs((*secs).max(1))).await;
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(())
}
