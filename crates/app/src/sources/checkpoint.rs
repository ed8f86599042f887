//! Where the file source stopped reading: one offset per file, kept in a small JSON file so
//! that a restart neither reads a line again nor skips one.
//!
//! A file is known by its identity (device and inode), not its name, because rotation renames
//! files: an offset is taken up again only by the file it was read from, under whatever name
//! it has now, and a new file at an old name is read from its start.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file's identity: it survives renames, and a new file at the same path gets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub inode: u64,
}

impl FileId {
    #[cfg(unix)]
    pub fn of(metadata: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: metadata.dev(),
            inode: metadata.ino(),
        }
    }

    /// Without inodes every file looks alike: rotation by rename is then not told apart.
    #[cfg(not(unix))]
    pub fn of(_metadata: &fs::Metadata) -> Self {
        Self { dev: 0, inode: 0 }
    }
}

/// One followed file: every event before `offset` is in a stored window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The name the file had when the checkpoint was written (for people reading it).
    pub path: PathBuf,
    #[serde(flatten)]
    pub id: FileId,
    pub offset: u64,
    /// The name the store counts the file's runs of events under (see the file source);
    /// absent in checkpoints of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
}

/// The file's layout; `version` lets a later layout tell an older file apart.
#[derive(Debug, Serialize, Deserialize)]
struct Layout {
    version: u32,
    files: Vec<Entry>,
}

const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the checkpoint {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "the checkpoint {path} is not valid ({source}); delete it to read the files again from their start"
    )]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the checkpoint {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Reads the checkpoint; no file yet means no offsets.
pub fn load(path: &Path) -> Result<Vec<Entry>, CheckpointError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CheckpointError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let layout: Layout =
        serde_json::from_str(&text).map_err(|source| CheckpointError::Invalid {
            path: path.to_owned(),
            source,
        })?;
    Ok(layout.files)
}

/// Writes the checkpoint atomically: a temporary file next to it, synced, then renamed over
/// it, so a crash leaves the old checkpoint or the new one, never half of one.
pub fn save(path: &Path, files: &[Entry]) -> Result<(), CheckpointError> {
    let write_err = |source| CheckpointError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(write_err)?;
    }
    let layout = Layout {
        version: VERSION,
        files: files.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&layout).expect("a checkpoint always serializes");
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut file = fs::File::create(&temp).map_err(write_err)?;
    file.write_all(&json).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    fs::rename(&temp, path).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/offsets.json");
        assert_eq!(load(&path).unwrap(), []);
        let entries = [Entry {
            path: "/var/log/app.log".into(),
            id: FileId { dev: 1, inode: 2 },
            offset: 42,
            stream: Some("file:a".into()),
        }];
        save(&path, &entries).unwrap();
        assert_eq!(load(&path).unwrap(), entries);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"inode\": 2"), "{text}");
        assert!(!dir.path().join("sub/offsets.json.tmp").exists());
    }

    #[test]
    fn a_damaged_checkpoint_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        fs::write(&path, "{").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("delete it"), "{err}");
    }
}
