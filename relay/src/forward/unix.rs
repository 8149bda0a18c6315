//! `--listen unix:/path/to.sock`: gRPC clients on a Unix domain socket
//! (`ctr --address`, `grpcurl -unix`), for services that only listen on
//! one.
//!
//! The socket is created with mode 0600 (only its owner may connect: it is
//! bound in a private folder beside it, made 0600, then moved into place),
//! never replaces a socket something still answers on (a stale one, left
//! by a process that died, is removed), never replaces a file that is not a
//! socket, and is removed when the listener is dropped.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::forward::listen::{Accepting, Listener, Peer, Unregistered};
use crate::forward::upstream::BoxIo;

/// Why the socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum UnixListenError {
    #[error(
        "cannot listen on unix:{0}: a server is already listening there (stop it, or choose another path)"
    )]
    Live(PathBuf),
    #[error("cannot listen on unix:{0}: the path exists and is not a socket")]
    NotASocket(PathBuf),
    #[error("cannot listen on unix:{path}: {cause}")]
    Io { path: PathBuf, cause: io::Error },
}

/// A Unix domain socket the relay made, and removes when dropped.
pub struct UnixSocketListener {
    listener: tokio::net::UnixListener,
    path: PathBuf,
}

impl UnixSocketListener {
    /// Makes the socket at `path` (see the module's rules). Needs a tokio
    /// runtime.
    pub fn bind(path: &Path) -> Result<Self, UnixListenError> {
        let io = |cause| UnixListenError::Io {
            path: path.to_owned(),
            cause,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(UnixListenError::NotASocket(path.to_owned()));
            }
            Ok(_) => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(UnixListenError::Live(path.to_owned()));
                }
                tracing::info!("removing a stale socket at {}", path.display());
                std::fs::remove_file(path).map_err(io)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Bound where no one else can reach it, made 0600, then moved into
        // place: there is no moment when it is open to others.
        let private = tempfile::Builder::new()
            .prefix(".loom-sock-")
            .tempdir_in(parent)
            .map_err(io)?;
        let staging = private.path().join("s");
        let std_listener = std::os::unix::net::UnixListener::bind(&staging).map_err(io)?;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        std::fs::rename(&staging, path).map_err(io)?;
        std_listener.set_nonblocking(true).map_err(io)?;
        let listener = tokio::net::UnixListener::from_std(std_listener).map_err(io)?;
        Ok(UnixSocketListener {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixSocketListener {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove the socket {}: {e}", self.path.display());
        }
    }
}

impl Listener for UnixSocketListener {
    fn accept(&mut self) -> Accepting<'_> {
        Box::pin(async move {
            let (stream, _) = self.listener.accept().await?;
            // Off this runtime's reactor, like TCP connections: the worker
            // that serves it registers it with its own.
            let stream = stream.into_std()?;
            Ok((Box::new(Unregistered::new(stream)) as BoxIo, Peer::Local))
        })
    }

    fn local_name(&self) -> io::Result<String> {
        Ok(format!("unix:{}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn made_private_refuses_live_replaces_stale_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loom.sock");
        let listener = UnixSocketListener::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            UnixSocketListener::bind(&path),
            Err(UnixListenError::Live(_))
        ));
        drop(listener);
        assert!(!path.exists(), "removed on drop");

        // A stale socket (its server gone without removing it) is replaced.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        assert!(path.exists());
        let again = UnixSocketListener::bind(&path).unwrap();
        drop(again);

        std::fs::write(&path, b"not a socket").unwrap();
        assert!(matches!(
            UnixSocketListener::bind(&path),
            Err(UnixListenError::NotASocket(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
        // Nothing left behind beside it.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }
}
