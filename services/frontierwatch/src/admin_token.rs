//! The first admin token, and tokens made from the command line.

use anyhow::Context as _;

use crate::config::Config;
use crate::database::Database;

/// On a database without any token, makes the first admin token. Its
/// secret is the one already in `path` (a mounted Secret, so that every
/// replica agrees on it), or a new one written there, readable by its owner
/// only. The log names the file, never the secret.
pub async fn bootstrap(pool: &sqlx::PgPool, path: &std::path::Path) -> anyhow::Result<()> {
    let given = read_given_secret(path)?;
    let Some(secret) =
        crate::storage::tokens::bootstrap(pool, "tokens/admin", given.as_deref()).await?
    else {
        return Ok(());
    };
    if given.is_some() {
        tracing::info!(path = %path.display(), "made the first admin token, tokens/admin, from the secret in this file");
        return Ok(());
    }
    write_secret(path, &secret).with_context(|| {
        format!(
            "cannot write the admin token to {} (--admin-token-file)",
            path.display()
        )
    })?;
    tracing::info!(
        path = %path.display(),
        "made the first admin token, tokens/admin; its secret is in this file"
    );
    Ok(())
}

/// The shortest admin secret accepted from a file: 128 bits in hex.
const MIN_GIVEN_SECRET_CHARS: usize = 32;

/// The secret already in the admin token file, if there is one.
fn read_given_secret(path: &std::path::Path) -> anyhow::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read {} (--admin-token-file)", path.display()));
        }
    };
    let secret = text.trim();
    if secret.is_empty() {
        return Ok(None);
    }
    if secret.len() < MIN_GIVEN_SECRET_CHARS || !secret.chars().all(|c| c.is_ascii_graphic()) {
        anyhow::bail!(
            "the admin token in {} (--admin-token-file) must be at least {MIN_GIVEN_SECRET_CHARS} visible ASCII characters without spaces",
            path.display()
        );
    }
    Ok(Some(secret.to_owned()))
}

/// Writes a secret to a file only its owner can read.
fn write_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{secret}")
}

/// `frontierwatch-server token create`: makes a token in the configured
/// database and returns its secret.
pub async fn create_token(
    config: &Config,
    role: &str,
    id: &str,
    expire_days: Option<f64>,
) -> anyhow::Result<String> {
    let Database {
        pool, mut embedded, ..
    } = Database::open(config).await?;
    let result = async {
        if !crate::domain::names::is_valid_id(id) {
            anyhow::bail!(
                "--name must be lowercase letters, digits and hyphens, starting with a letter"
            );
        }
        let role = crate::storage::tokens::Role::parse(role)
            .context("--role must be reader, writer or admin")?;
        let expire_time = expire_days
            .map(|days| chrono::Utc::now() + chrono::Duration::seconds((days * 86_400.0) as i64));
        let (_, secret) =
            crate::storage::tokens::create(&pool, &format!("tokens/{id}"), role, expire_time)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(secret)
    }
    .await;
    pool.close().await;
    if let Some(pg) = embedded.as_mut() {
        tokio::task::block_in_place(|| pg.stop());
    }
    result
}
