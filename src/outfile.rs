//! Creating trawl's output files: never through a symbolic link, never over a
//! file someone else planted, never readable by every user of the machine.
//!
//! An output directory may be shared (a fleet's volume, a directory under /tmp):
//! anyone who can write there could plant `stats.json.tmp -> ~/.bashrc` and wait for
//! trawl to overwrite the target. So every file trawl writes is opened here: new
//! files with create-new semantics (`O_CREAT|O_EXCL`, which refuses any existing
//! name, a dangling link included), existing ones with `O_NOFOLLOW`, and whole-file
//! replacements through a temporary file of an unpredictable name renamed over the
//! destination (a rename replaces a link, it never writes through it).
//!
//! Files are created with mode 0640 (before the umask): the owner writes, the
//! owner's group reads (a container's or a team's readers), others get nothing.
//! Records hold whatever the crawled pages held, and logs of a crawl behind a
//! login are nobody else's business.
//!
//! This module never decides *which* files exist or what goes in them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Permission bits of every file trawl creates (before the umask).
pub const MODE: u32 = 0o640;

/// How many unpredictable temporary names are tried before giving up.
const TEMP_TRIES: usize = 16;

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(MODE);
    }
    o
}

/// Refuses a symbolic link in the last component instead of following it.
fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o
}

/// Creates `path`, which must not exist in any form (file, directory, link).
/// Opened to append: after a failed write is cut off (`set_len`), the next write
/// lands at the new end, not at the old offset past a hole.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    options().append(true).create_new(true).open(path)
}

/// Opens `path` for writing, creating it if absent; a link there is an error.
/// With `append`, every write goes to the end (a resumed pages file).
pub fn open_or_create(path: &Path, append: bool) -> std::io::Result<File> {
    let mut o = options();
    o.write(true).create(true);
    if append {
        o.append(true);
    } else {
        o.truncate(false);
    }
    no_follow(&mut o).open(path)
}

/// Opens an existing file to read and rewrite in place (repairing a torn tail);
/// a link there is an error.
pub fn open_existing(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    no_follow(&mut o).open(path)
}

/// A file being written under a temporary name beside its destination, which
/// takes the destination's name only on [`Staged::commit`]. Dropped uncommitted, it
/// removes itself: a failed write never leaves a half file under the real name.
#[derive(Debug)]
pub struct Staged {
    file: Option<File>,
    temp: PathBuf,
    dest: PathBuf,
}

impl Staged {
    /// Creates `.NAME.RANDOM.tmp` beside `dest` with create-new semantics.
    pub fn new(dest: &Path) -> std::io::Result<Staged> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let mut last = None;
        for _ in 0..TEMP_TRIES {
            let temp = dir.join(format!(".{name}.{:016x}.tmp", fastrand::u64(..)));
            match create_new(&temp) {
                Ok(file) => {
                    return Ok(Staged {
                        file: Some(file),
                        temp,
                        dest: dest.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no temporary name")))
    }

    /// The open temporary file.
    pub fn file(&mut self) -> std::io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("staged file already committed"))
    }

    /// Syncs the data, then renames the temporary file to its destination.
    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        std::fs::rename(&self.temp, &self.dest)?;
        // Renamed: nothing left for Drop to remove.
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `dest` whole or not at all.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut staged = Staged::new(dest)?;
    staged.file()?.write_all(bytes)?;
    staged.commit()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn create_new_refuses_a_planted_link_and_leaves_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.path().join("x.tmp");
        symlink(&target, &link).unwrap();
        assert!(create_new(&link).is_err());
        assert!(open_or_create(&link, true).is_err());
        assert!(open_or_create(&link, false).is_err());
        assert!(open_existing(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        // A dangling link is not followed into a new file either.
        let dangling = dir.path().join("d.tmp");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(create_new(&dangling).is_err());
        assert!(open_or_create(&dangling, true).is_err());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn write_atomic_replaces_a_link_at_the_destination_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").unwrap();
        let dest = dir.path().join("stats.json");
        symlink(&target, &dest).unwrap();
        write_atomic(&dest, b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "{}\n");
        assert!(!std::fs::symlink_metadata(&dest)
            .unwrap()
            .file_type()
            .is_symlink());
        // Nothing else left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn files_are_not_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        create_new(&a).unwrap();
        let b = dir.path().join("b");
        write_atomic(&b, b"x").unwrap();
        let c = dir.path().join("c");
        open_or_create(&c, true).unwrap();
        for p in [a, b, c] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o007, 0, "{} is {mode:o}", p.display());
            assert_eq!(mode & 0o600, 0o600, "{} is {mode:o}", p.display());
        }
    }

    #[test]
    fn an_uncommitted_staged_file_removes_itself() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        {
            let mut s = Staged::new(&dest).unwrap();
            s.file().unwrap().write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
