//! The master key that seals secrets at rest: from the environment, or from a key file that is
//! created on first run, readable by its owner only.

use anyhow::{bail, Context};
use roster_app::secrets::seal::MasterKey;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::settings::Settings;

pub fn load(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(encoded) = settings.master_key.as_deref().filter(|k| !k.trim().is_empty()) {
        return MasterKey::from_base64(encoded).context("ROSTER_MASTER_KEY");
    }
    let file = match (&settings.master_key_file, &settings.data_dir, &settings.database_url) {
        (Some(file), _, _) => file.clone(),
        (None, Some(dir), _) => dir.join("master.key"),
        (None, None, None) => PathBuf::from("roster-data").join("master.key"),
        (None, None, Some(_)) => bail!("with PostgreSQL, set ROSTER_MASTER_KEY or ROSTER_MASTER_KEY_FILE (the same key on every process)"),
    };
    load_or_create(&file)
}

fn load_or_create(path: &Path) -> anyhow::Result<MasterKey> {
    if path.exists() {
        let encoded = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::from_base64(&encoded).with_context(|| format!("the key in {}", path.display()));
    }
    if let Some(dir) = path.parent() {
        // The data directory holds the key and the database: the owner's alone when made here.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let encoded = MasterKey::generate_base64();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(encoded.as_bytes())?;
    tracing::info!(path = %path.display(), "created a new master key; back it up with the database");
    MasterKey::from_base64(&encoded).context("the new master key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("master.key");
        load_or_create(&path).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        load_or_create(&path).unwrap();
        assert_eq!(first, std::fs::read_to_string(&path).unwrap(), "an existing key is never replaced");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
