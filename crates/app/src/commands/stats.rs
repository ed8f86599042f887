//! `stats`: what the incident database holds, across every instance writing to it.

use ic_store::{Store, Totals};
use serde_json::json;

use crate::cli::StatsArgs;
use crate::config::FileConfig;

pub async fn run(args: StatsArgs, file: &FileConfig) -> anyhow::Result<()> {
    let url = file.db_url(args.db.db.as_deref())?;
    let store = ic_store::open(&url).await?;
    let totals = store.totals().await?;
    store.close().await;
    if args.json {
        println!("{}", to_json(&totals));
    } else {
        print!("{}", to_text(&totals));
    }
    Ok(())
}

fn to_json(totals: &Totals) -> serde_json::Value {
    json!({
        "lines_analyzed": totals.lines_analyzed,
        "windows": totals.windows,
        "incidents": {"open": totals.open_incidents, "resolved": totals.resolved_incidents},
    })
}

fn to_text(totals: &Totals) -> String {
    format!(
        "lines analyzed  {}\nwindows         {}\nincidents       {} open, {} resolved\n",
        totals.lines_analyzed, totals.windows, totals.open_incidents, totals.resolved_incidents
    )
}
