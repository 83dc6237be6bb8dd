//! `chizu keys add|list|revoke`: manage the internal view's API keys.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chizu::access::keys;

pub fn add(file: &Path, name: &str, roles: &[String]) -> anyhow::Result<ExitCode> {
    let key = keys::add(file, name, roles)?;
    writeln!(std::io::stdout(), "{key}")?;
    writeln!(
        std::io::stderr(),
        "added key `{name}` (roles: {}) to {}.\nThis is the only time the key is shown: give it to its holder now. Revoke with `chizu keys revoke {name}`.",
        roles.join(", "),
        file.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn list(file: &Path) -> anyhow::Result<ExitCode> {
    let entries = keys::list(file)?;
    let mut out = std::io::stdout().lock();
    if entries.is_empty() {
        writeln!(
            out,
            "no keys in {} (add one with `chizu keys add NAME --role ROLE`)",
            file.display()
        )?;
    }
    for k in entries {
        writeln!(
            out,
            "{}\troles: {}\tcreated: {}",
            k.name,
            k.roles.join(", "),
            k.created
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn revoke(file: &Path, name: &str) -> anyhow::Result<ExitCode> {
    keys::revoke(file, name)?;
    writeln!(
        std::io::stderr(),
        "revoked key `{name}`; a running server refuses it from its next request"
    )?;
    Ok(ExitCode::SUCCESS)
}
