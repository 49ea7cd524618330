//! `cs-cmdb man`: the man page on stdout, or one page per command in a directory.

use std::path::PathBuf;

use crate::exit::Outcome;
use crate::printer::Printer;
use anyhow::Context;

/// Print the man page (roff) to stdout, or write one page per command into a directory.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  cs-cmdb man --out-dir /usr/local/share/man/man1")]
pub struct Args {
    /// Write cs-cmdb.1 and cs-cmdb-<command>.1 into this directory instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `command`: the whole command tree (from `cli.rs`, which names this file's `Args`).
pub fn run(args: Args, command: clap::Command, printer: &Printer) -> anyhow::Result<Outcome> {
    let Some(dir) = args.out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        printer.bytes(&page)?;
        return Ok(Outcome::Success);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![("cs-cmdb".to_string(), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("cs-cmdb-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        clap_mangen::Man::new(page).render(&mut file)?;
    }
    Ok(Outcome::Success)
}
