//! A file, read to its end and then followed as it grows (`tail -f`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often a file at its end is checked for new lines.
const POLL: Duration = Duration::from_millis(250);

/// A reader that, at the end of the file, waits for more instead of ending; it ends only when
/// `cancel` fires. A file that shrinks (truncated in place) is read again from its start.
#[derive(Debug)]
pub struct Follow {
    path: PathBuf,
    file: File,
    offset: u64,
    cancel: CancellationToken,
}

impl Follow {
    pub fn open(path: &Path, cancel: CancellationToken) -> io::Result<Self> {
        let file = File::open(path).map_err(|err| {
            io::Error::new(err.kind(), format!("cannot open {}: {err}", path.display()))
        })?;
        Ok(Self {
            path: path.to_owned(),
            file,
            offset: 0,
            cancel,
        })
    }

    fn truncated(&self) -> io::Result<bool> {
        Ok(self.file.metadata()?.len() < self.offset)
    }
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.offset += n as u64;
                return Ok(n);
            }
            if self.cancel.is_cancelled() {
                return Ok(0);
            }
            if self.truncated()? {
                tracing::info!(path = %self.path.display(), "File truncated; reading it from the start.");
                self.offset = self.file.seek(SeekFrom::Start(0))?;
                continue;
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn follows_appends_and_truncation_until_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "one\n").unwrap();
        let cancel = CancellationToken::new();
        let mut follow = Follow::open(&path, cancel.clone()).unwrap();
        let mut buf = [0u8; 64];
        let n = follow.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one\n");

        let mut writer = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writer.write_all(b"two\n").unwrap();
        let n = follow.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two\n");

        std::fs::write(&path, "3\n").unwrap();
        let n = follow.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"3\n");

        cancel.cancel();
        assert_eq!(follow.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err =
            Follow::open(Path::new("/nonexistent/x.log"), CancellationToken::new()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.log"), "{err}");
    }
}
